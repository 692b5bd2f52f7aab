package proxy

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// socksResult is what a raw SOCKS5 client saw.
type socksResult struct {
	conn       *net.TCPConn
	authStatus byte // RFC 1929 status (0 ok), or 0xFF if no method was accepted
	reply      byte // RFC 1928 REP, valid when authStatus == 0
}

// socksHandshake builds the client's whole handshake: greeting offering
// username/password, RFC 1929 credentials, and a CONNECT to host:port
// (an IP literal is sent as such, anything else as a domain name).
func socksHandshake(user, pass, host string, port int) []byte {
	b := []byte{5, 1, 2, 1, byte(len(user))}
	b = append(b, user...)
	b = append(b, byte(len(pass)))
	b = append(b, pass...)
	b = append(b, 5, 1, 0)
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		b = append(b, 1)
		b = append(b, ip.AsSlice()...)
	} else if err == nil {
		b = append(b, 4)
		s := ip.As16()
		b = append(b, s[:]...)
	} else {
		b = append(b, 3, byte(len(host)))
		b = append(b, host...)
	}
	return binary.BigEndian.AppendUint16(b, uint16(port))
}

// socksConnect performs the handshake (plus any optimistic payload in the
// same write) and reads the server's answers.
func socksConnect(t testing.TB, proxyAddr, user, pass, hostport string, optimistic []byte) socksResult {
	t.Helper()
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*net.TCPConn)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := tc.Write(append(socksHandshake(user, pass, host, port), optimistic...)); err != nil {
		t.Fatal(err)
	}
	res := socksResult{conn: tc}
	var method [2]byte
	if _, err := io.ReadFull(tc, method[:]); err != nil {
		t.Fatalf("read method selection: %v", err)
	}
	if method[1] != 2 {
		res.authStatus = 0xFF
		return res
	}
	var auth [2]byte
	if _, err := io.ReadFull(tc, auth[:]); err != nil {
		t.Fatalf("read auth status: %v", err)
	}
	if res.authStatus = auth[1]; res.authStatus != 0 {
		return res
	}
	var hdr [4]byte
	if _, err := io.ReadFull(tc, hdr[:]); err != nil {
		t.Fatalf("read reply: %v", err)
	}
	res.reply = hdr[1]
	n := map[byte]int{1: 4, 4: 16}[hdr[3]]
	if _, err := io.ReadFull(tc, make([]byte, n+2)); err != nil {
		t.Fatalf("read reply address: %v", err)
	}
	tc.SetDeadline(time.Time{})
	return res
}

func (r socksResult) String() string {
	return fmt.Sprintf("auth=%#x reply=%#x", r.authStatus, r.reply)
}
