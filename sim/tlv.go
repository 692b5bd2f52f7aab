package sim

import "fmt"

// tlv is one BER-TLV data object (ISO 7816-4 §5.2) with a one- or
// multi-byte tag.
type tlv struct {
	tag   uint32
	value []byte
}

// parseTLVs splits b into BER-TLV objects. Padding bytes 00 and FF between
// objects are skipped, as cards pad records with FF.
func parseTLVs(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		if b[0] == 0x00 || b[0] == 0xFF {
			b = b[1:]
			continue
		}
		tag := uint32(b[0])
		i := 1
		if b[0]&0x1F == 0x1F { // multi-byte tag
			for {
				if i >= len(b) || i > 3 {
					return out, fmt.Errorf("%w: TLV tag truncated", ErrMalformed)
				}
				tag = tag<<8 | uint32(b[i])
				i++
				if b[i-1]&0x80 == 0 {
					break
				}
			}
		}
		if i >= len(b) {
			return out, fmt.Errorf("%w: TLV %X has no length", ErrMalformed, tag)
		}
		n := int(b[i])
		i++
		switch {
		case n == 0x81:
			if i >= len(b) {
				return out, fmt.Errorf("%w: TLV %X length truncated", ErrMalformed, tag)
			}
			n = int(b[i])
			i++
		case n == 0x82:
			if i+1 >= len(b) {
				return out, fmt.Errorf("%w: TLV %X length truncated", ErrMalformed, tag)
			}
			n = int(b[i])<<8 | int(b[i+1])
			i += 2
		case n > 0x80:
			return out, fmt.Errorf("%w: TLV %X length form %02X unsupported", ErrMalformed, tag, n)
		}
		if len(b)-i < n {
			return out, fmt.Errorf("%w: TLV %X wants %d bytes, %d left", ErrMalformed, tag, n, len(b)-i)
		}
		out = append(out, tlv{tag: tag, value: b[i : i+n]})
		b = b[i+n:]
	}
	return out, nil
}

// findTLV returns the value of the first object with tag, and whether there
// was one.
func findTLV(objs []tlv, tag uint32) ([]byte, bool) {
	for _, o := range objs {
		if o.tag == tag {
			return o.value, true
		}
	}
	return nil, false
}
