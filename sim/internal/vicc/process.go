package vicc

// command is a parsed short command APDU; le < 0 means no Le.
type command struct {
	cla, ins, p1, p2 byte
	data             []byte
	le               int
}

// parse splits a short APDU into its fields (ISO 7816-4 §5.1 cases 1-4).
func parse(b []byte) (command, bool) {
	if len(b) < 4 {
		return command{}, false
	}
	c := command{cla: b[0], ins: b[1], p1: b[2], p2: b[3], le: -1}
	switch {
	case len(b) == 4:
	case len(b) == 5:
		c.le = ne(b[4])
	default:
		lc := int(b[4])
		switch len(b) {
		case 5 + lc:
			c.data = b[5:]
		case 6 + lc:
			c.data, c.le = b[5:5+lc], ne(b[5+lc])
		default:
			return command{}, false
		}
	}
	return c, true
}

// ne maps a short Le byte to the expected length (00 means 256).
func ne(b byte) int {
	if b == 0 {
		return 256
	}
	return int(b)
}

// sw returns a status-word-only response.
func sw(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

// withSW appends a status word to data.
func withSW(data []byte, v uint16) []byte {
	return append(append([]byte(nil), data...), byte(v>>8), byte(v))
}

// Process answers one command APDU with response data and status word. It
// returns nil once the card is removed (see Faults.RemoveAfter).
func (c *Card) Process(apdu []byte) []byte {
	c.count++
	if c.Removed() {
		return nil
	}
	f := c.cfg.Faults
	if f.ShortResponse {
		return []byte{0x90}
	}
	cmd, ok := parse(apdu)
	if !ok {
		return sw(0x6700)
	}
	gsm := cmd.cla == 0xA0
	if !gsm && cmd.cla != 0x00 {
		return sw(0x6E00)
	}
	if !gsm && c.cfg.Kind == SIM2G {
		return sw(0x6E00)
	}
	if cmd.ins == 0xC0 {
		return c.getResponse(cmd)
	}
	c.pending = nil
	switch cmd.ins {
	case 0xA4:
		return c.selectFile(cmd, gsm)
	case 0xB0:
		return c.readBinary(cmd)
	case 0xB2:
		return c.readRecord(cmd, gsm)
	}
	return sw(0x6D00)
}

// getResponse hands out pending response data.
func (c *Card) getResponse(cmd command) []byte {
	if c.cfg.Faults.EndlessGetResponse {
		return sw(0x6110)
	}
	if len(c.pending) == 0 {
		return sw(0x6985)
	}
	n := cmd.le
	if n < 0 || n > len(c.pending) {
		return sw(0x6C00 | uint16(len(c.pending)))
	}
	out := c.pending[:n]
	c.pending = c.pending[n:]
	if len(c.pending) > 0 {
		return withSW(out, 0x6100|uint16(min(len(c.pending), 255)))
	}
	c.pending = nil
	return withSW(out, 0x9000)
}

// respond returns response data directly (T=1 with Le) or announces it with
// 61xx (T=0, or no Le).
func (c *Card) respond(cmd command, data []byte) []byte {
	if c.cfg.T1 && cmd.le >= 0 {
		return withSW(data[:min(len(data), cmd.le)], 0x9000)
	}
	c.pending = append([]byte(nil), data...)
	return sw(0x6100 | uint16(len(data)))
}

// selectFile implements SELECT by FID (both command sets) and by AID.
func (c *Card) selectFile(cmd command, gsm bool) []byte {
	notFound := uint16(0x6A82)
	if gsm {
		notFound = 0x9404
	}
	var f *File
	switch {
	case gsm && cmd.p1 == 0x00 && len(cmd.data) == 2,
		!gsm && cmd.p1 == 0x00 && len(cmd.data) == 2:
		f = c.lookup(uint16(cmd.data[0])<<8 | uint16(cmd.data[1]))
	case !gsm && cmd.p1 == 0x04:
		f = c.lookupAID(cmd.data)
	default:
		if gsm {
			return sw(0x6B00)
		}
		return sw(0x6A86)
	}
	if f == nil {
		return sw(notFound)
	}
	if f.DF {
		c.curDF, c.cur = f, nil
	} else {
		c.curDF, c.cur = f.parent, f
	}
	if gsm {
		c.pending = f.gsmResponse()
		return sw(0x9F00 | uint16(len(c.pending)))
	}
	switch cmd.p2 {
	case 0x0C:
		return sw(0x9000)
	case 0x04:
		return c.respond(cmd, f.fcp(c.cfg.Faults.OmitFileSize))
	}
	return sw(0x6A86)
}

// readBinary reads the current transparent EF. Under T=0 a wrong Le gets
// 6Cxx; under T=1 a short file gets its bytes and 6282.
func (c *Card) readBinary(cmd command) []byte {
	ef := c.cur
	if ef == nil {
		return sw(0x6986)
	}
	if ef.linear() {
		return sw(0x6981)
	}
	if v, ok := c.cfg.Faults.ReadSW[ef.FID]; ok {
		return sw(v)
	}
	off := int(cmd.p1&0x7F)<<8 | int(cmd.p2)
	if off > len(ef.Data) {
		return sw(0x6B00)
	}
	data := ef.Data[off:]
	if n, ok := c.cfg.Faults.Truncate[ef.FID]; ok {
		return withSW(data[:min(n, len(data))], 0x9000)
	}
	le := cmd.le
	if le < 0 {
		le = 256
	}
	switch {
	case le <= len(data):
		return withSW(data[:le], 0x9000)
	case c.cfg.T1:
		return withSW(data, 0x6282)
	default:
		return sw(0x6C00 | uint16(len(data)))
	}
}

// readRecord reads a record of the current linear fixed EF (absolute mode).
func (c *Card) readRecord(cmd command, gsm bool) []byte {
	ef := c.cur
	if ef == nil {
		return sw(0x6986)
	}
	if !ef.linear() {
		return sw(0x6981)
	}
	if cmd.p2 != 0x04 {
		return sw(0x6A86)
	}
	n := int(cmd.p1)
	if n < 1 || n > len(ef.Records) {
		if gsm {
			return sw(0x9402)
		}
		return sw(0x6A83)
	}
	rec := ef.Records[n-1]
	if cmd.le != len(rec) && !(c.cfg.T1 && cmd.le == 256) {
		return sw(0x6C00 | uint16(len(rec)))
	}
	return withSW(rec, 0x9000)
}
