package vicc

import "bytes"

// Kind is the kind of card emulated.
type Kind int

// The card kinds.
const (
	// USIM is a UICC with a USIM application; it also answers the 2G
	// command set (CLA A0), as most UICCs do.
	USIM Kind = iota
	// SIM2G is a 2G SIM: CLA A0 only, CLA 00 answers 6E00.
	SIM2G
)

// USIMAID is the emulated USIM application's AID (A0000000871002 ...).
func USIMAID() []byte {
	return []byte{0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0x49, 0xFF, 0x05, 0x89}
}

// ISIMAID is an ISIM application's AID, used for EF_DIR without a USIM.
func ISIMAID() []byte {
	return []byte{0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x04, 0xFF, 0x49, 0xFF, 0x05, 0x89}
}

// Faults make the card misbehave.
type Faults struct {
	// ReadSW answers READ BINARY of these FIDs with the given status word.
	ReadSW map[uint16]uint16
	// Truncate returns only this many bytes (with 9000) on READ BINARY
	// of these FIDs.
	Truncate map[uint16]int
	// RemoveAfter removes the card (closes the connection without an
	// answer) when APDU number RemoveAfter+1 arrives; 0 never.
	RemoveAfter int
	// EndlessGetResponse answers every GET RESPONSE with 61 10.
	EndlessGetResponse bool
	// OmitFileSize leaves tag 80 (file size) out of EF FCPs, so a
	// reader must ask with Le=00 and follow 6Cxx.
	OmitFileSize bool
	// ShortResponse answers every APDU with a single byte.
	ShortResponse bool
}

// Config describes an emulated card.
type Config struct {
	Kind Kind
	// T1 makes the card offer T=1 in its ATR (else T=0 only).
	T1 bool
	// ICCID, IMSI and AD are the contents of EF_ICCID, EF_IMSI, EF_AD;
	// a nil AD leaves EF_AD out.
	ICCID, IMSI, AD []byte
	// NoUSIMApp lists only an ISIM in EF_DIR.
	NoUSIMApp bool
	// Faults is the misbehaviour.
	Faults Faults
}

// Card is one emulated card's state. It is not safe for concurrent use.
type Card struct {
	cfg     Config
	mf      *File
	cur     *File // current EF, or nil
	curDF   *File
	pending []byte // response data waiting for GET RESPONSE
	count   int    // APDUs received
}

// New builds a card from cfg.
func New(cfg Config) *Card {
	ef := func(fid uint16, data []byte) *File { return &File{FID: fid, Data: append([]byte(nil), data...)} }
	gsmFiles := []*File{ef(0x6F07, cfg.IMSI)}
	if cfg.AD != nil {
		gsmFiles = append(gsmFiles, ef(0x6FAD, cfg.AD))
	}
	mf := &File{FID: 0x3F00, DF: true, Children: []*File{
		ef(0x2FE2, cfg.ICCID),
		{FID: 0x7F20, DF: true, Children: gsmFiles},
	}}
	if cfg.Kind == USIM {
		aid := USIMAID()
		if cfg.NoUSIMApp {
			aid = ISIMAID()
		}
		mf.Children = append(mf.Children,
			&File{FID: 0x2F00, RecLen: 32, Records: [][]byte{dirRecord(aid, "USIM", 32)}})
		adfFiles := []*File{ef(0x6F07, cfg.IMSI)}
		if cfg.AD != nil {
			adfFiles = append(adfFiles, ef(0x6FAD, cfg.AD))
		}
		mf.Children = append(mf.Children, &File{FID: 0x7FFF, AID: aid, DF: true, Children: adfFiles})
	}
	mf.link()
	c := &Card{cfg: cfg, mf: mf}
	c.Reset()
	return c
}

// dirRecord builds an EF_DIR application template record padded with FF.
func dirRecord(aid []byte, label string, n int) []byte {
	body := append([]byte{0x4F, byte(len(aid))}, aid...)
	body = append(body, 0x50, byte(len(label)))
	body = append(body, label...)
	rec := append([]byte{0x61, byte(len(body))}, body...)
	for len(rec) < n {
		rec = append(rec, 0xFF)
	}
	return rec
}

// Reset returns the card to its state after power-on: MF selected.
func (c *Card) Reset() {
	c.cur, c.curDF, c.pending = nil, c.mf, nil
}

// ATR returns the card's answer to reset: T=0 only, or T=0 and T=1.
func (c *Card) ATR() []byte {
	if c.cfg.T1 {
		// TS, T0 (TD1 follows), TD1 (T=0, TD2 follows), TD2 (T=1), TCK.
		return []byte{0x3B, 0x80, 0x80, 0x01, 0x01}
	}
	return []byte{0x3B, 0x02, 0x14, 0x50}
}

// Removed reports whether the card has been removed (Faults.RemoveAfter).
func (c *Card) Removed() bool {
	return c.cfg.Faults.RemoveAfter > 0 && c.count > c.cfg.Faults.RemoveAfter
}

// lookup finds fid from the current DF: itself, its children, its parent
// and the parent's children, then the MF's children.
func (c *Card) lookup(fid uint16) *File {
	if fid == 0x3F00 {
		return c.mf
	}
	for df := c.curDF; df != nil; df = df.parent {
		if df.FID == fid && df.AID == nil {
			return df
		}
		if f := df.child(fid); f != nil {
			return f
		}
	}
	return nil
}

// lookupAID finds an ADF whose AID starts with aid.
func (c *Card) lookupAID(aid []byte) *File {
	for _, f := range c.mf.Children {
		if f.AID != nil && len(aid) >= 5 && bytes.HasPrefix(f.AID, aid) {
			return f
		}
	}
	return nil
}
