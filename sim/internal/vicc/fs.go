package vicc

// File is a node of the card's file system.
type File struct {
	// FID is the file identifier.
	FID uint16
	// AID names an ADF (selected by AID, not FID).
	AID []byte
	// DF marks a dedicated file (MF, DF or ADF).
	DF bool
	// Data is a transparent EF's content.
	Data []byte
	// Records are a linear fixed EF's records, all RecLen bytes long.
	Records [][]byte
	// RecLen is the record length of a linear fixed EF.
	RecLen int
	// Children are the files under a DF.
	Children []*File

	parent *File
}

// linear reports whether f is a linear fixed EF.
func (f *File) linear() bool { return !f.DF && f.Records != nil }

// size returns the EF's size in bytes.
func (f *File) size() int {
	if f.linear() {
		return f.RecLen * len(f.Records)
	}
	return len(f.Data)
}

// link sets the parent pointers below f.
func (f *File) link() {
	for _, c := range f.Children {
		c.parent = f
		c.link()
	}
}

// child returns f's child with fid, or nil.
func (f *File) child(fid uint16) *File {
	for _, c := range f.Children {
		if c.FID == fid && c.AID == nil {
			return c
		}
	}
	return nil
}

// fcp builds the UICC FCP template (TS 102 221 §11.1.1.3) for f.
func (f *File) fcp(omitSize bool) []byte {
	var body []byte
	switch {
	case f.DF:
		body = append(body, 0x82, 0x02, 0x78, 0x21)
	case f.linear():
		body = append(body, 0x82, 0x05, 0x42, 0x21, byte(f.RecLen>>8), byte(f.RecLen), byte(len(f.Records)))
	default:
		body = append(body, 0x82, 0x02, 0x41, 0x21)
	}
	body = append(body, 0x83, 0x02, byte(f.FID>>8), byte(f.FID))
	if f.AID != nil {
		body = append(body, 0x84, byte(len(f.AID)))
		body = append(body, f.AID...)
	}
	if !f.DF && !omitSize {
		body = append(body, 0x80, 0x02, byte(f.size()>>8), byte(f.size()))
	}
	body = append(body, 0x8A, 0x01, 0x05) // life cycle: operational, activated
	return append([]byte{0x62, byte(len(body))}, body...)
}

// gsmResponse builds the 2G SELECT response (TS 51.011 §9.2.1) for f.
func (f *File) gsmResponse() []byte {
	r := make([]byte, 15)
	r[4], r[5] = byte(f.FID>>8), byte(f.FID)
	switch {
	case f.DF && f.parent == nil:
		r[6] = 0x01
	case f.DF:
		r[6] = 0x02
	default:
		r[6] = 0x04
		size := f.size()
		r[2], r[3] = byte(size>>8), byte(size)
		r[11] = 0x01 // not invalidated
		r[12] = 0x02
		if f.linear() {
			r[13], r[14] = 0x01, byte(f.RecLen)
		}
	}
	return r
}
