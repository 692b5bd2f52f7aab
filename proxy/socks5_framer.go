package proxy

// socksFramer follows the client's side of a SOCKS5 handshake (RFC 1928
// greeting, RFC 1929 username/password, CONNECT request) byte by byte so the
// connection handed to go-socks5 never returns more than the handshake still
// needs. go-socks5 reads through a bufio.Reader; without this bound, payload a
// client sends right behind its request (optimistic data) would be buffered
// inside the library and lost when the relay takes the connection over.
type socksFramer struct {
	state socksField
	need  int // bytes still missing in the current field
	pos   int // bytes of the current field seen so far
}

type socksField uint8

const (
	fieldGreeting   socksField = iota // VER NMETHODS
	fieldMethods                      // METHODS
	fieldAuthHeader                   // VER ULEN
	fieldUser                         // UNAME
	fieldPassLen                      // PLEN
	fieldPass                         // PASSWD
	fieldRequest                      // VER CMD RSV ATYP
	fieldNameLen                      // length of a domain name
	fieldAddrPort                     // address and port
	fieldDone                         // handshake complete (or unparseable)
)

func newSOCKSFramer() socksFramer { return socksFramer{state: fieldGreeting, need: 2} }

// want is how many bytes the next read may return (0 once done).
func (f *socksFramer) want() int {
	if f.state == fieldDone {
		return 0
	}
	return f.need
}

// done reports whether a whole handshake went through.
func (f *socksFramer) done() bool { return f.state == fieldDone }

// consume advances over b, which must not exceed want().
func (f *socksFramer) consume(b []byte) {
	for _, c := range b {
		if f.state == fieldDone {
			return
		}
		f.pos++
		f.need--
		if f.need > 0 {
			continue
		}
		// c is the last byte of the current field; it carries the length or
		// type that sizes the next one.
		f.advance(c)
	}
}

func (f *socksFramer) advance(last byte) {
	f.pos = 0
	switch f.state {
	case fieldGreeting:
		f.enter(fieldMethods, int(last), fieldAuthHeader, 2)
	case fieldMethods:
		f.enter(fieldAuthHeader, 2, 0, 0)
	case fieldAuthHeader:
		f.enter(fieldUser, int(last), fieldPassLen, 1)
	case fieldUser:
		f.enter(fieldPassLen, 1, 0, 0)
	case fieldPassLen:
		f.enter(fieldPass, int(last), fieldRequest, 4)
	case fieldPass:
		f.enter(fieldRequest, 4, 0, 0)
	case fieldRequest:
		switch last { // ATYP
		case 1:
			f.enter(fieldAddrPort, 4+2, 0, 0)
		case 3:
			f.enter(fieldNameLen, 1, 0, 0)
		case 4:
			f.enter(fieldAddrPort, 16+2, 0, 0)
		default:
			f.state = fieldDone // go-socks5 rejects the address type
		}
	case fieldNameLen:
		f.enter(fieldAddrPort, int(last)+2, 0, 0)
	case fieldAddrPort:
		f.state = fieldDone
	}
}

// enter moves to field next needing n bytes; an empty field (n == 0) is
// skipped to field skip needing skipN bytes.
func (f *socksFramer) enter(next socksField, n int, skip socksField, skipN int) {
	if n == 0 {
		next, n = skip, skipN
	}
	f.state, f.need = next, n
}
