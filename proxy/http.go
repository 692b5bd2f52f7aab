package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/x402/x402/meter"
	"github.com/x402/x402/proxy/egress"
)

// proxyRealm is announced in Proxy-Authenticate challenges.
const proxyRealm = `Basic realm="x402"`

// httpFront is the goproxy-based HTTP/CONNECT front end of a Proxy.
type httpFront struct {
	p         *Proxy
	gp        *goproxy.ProxyHttpServer
	transport *http.Transport

	mu      sync.Mutex
	servers []*http.Server
}

func newHTTPFront(p *Proxy) *httpFront {
	f := &httpFront{p: p}
	// One transport for all buyers: its pool is shared, so metering is per
	// request (heads and bodies), never per pooled connection. Proxy is nil,
	// so HTTP_PROXY/HTTPS_PROXY never leak into it.
	f.transport = &http.Transport{
		Proxy:                 nil,
		DialContext:           f.dialUpstream,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   p.lim.HandshakeTimeout,
		ResponseHeaderTimeout: p.lim.IdleTimeout,
		DisableCompression:    true, // relay bytes as the origin sent them
	}
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = log.New(io.Discard, "", 0)
	gp.Tr = f.transport
	gp.KeepAcceptEncoding = true
	// Every CONNECT is hijacked below; these never run, and must never
	// consult the environment's proxy settings if they did.
	gp.ConnectDial = func(string, string) (net.Conn, error) { return nil, errors.New("x402: CONNECT is hijacked") }
	gp.ConnectDialWithReq = nil
	gp.NonproxyHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "x402: this is a proxy; send absolute-URI requests or CONNECT", http.StatusBadRequest)
	})
	gp.OnRequest().HandleConnectFunc(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: f.serveConnect}, host
	})
	gp.OnRequest().DoFunc(f.onRequest)
	gp.OnResponse().DoFunc(f.onResponse)
	f.gp = gp
	return f
}

// ServeHTTPProxy accepts HTTP proxy clients on l until Shutdown.
func (p *Proxy) ServeHTTPProxy(l net.Listener) error {
	if !p.tracker.addListener(l) {
		return ErrClosed
	}
	srv := &http.Server{
		Handler:           p.http,
		ReadHeaderTimeout: p.lim.HandshakeTimeout,
		IdleTimeout:       p.lim.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, clientConnKey{}, &clientConn{conn: c})
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				p.slots.release() // a hijacked conn's slot is released by serveConnect
			}
		},
	}
	p.http.mu.Lock()
	p.http.servers = append(p.http.servers, srv)
	p.http.mu.Unlock()
	err := srv.Serve(&admittingListener{Listener: l, p: p})
	if errors.Is(err, http.ErrServerClosed) || p.ctx.Err() != nil {
		return nil
	}
	return err
}

// ServeHTTP lets the front end be mounted on an http.Server of the
// caller's; it records what the server buffered past a CONNECT request so
// that the tunnel forwards it.
func (f *httpFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		if hj, ok := w.(http.Hijacker); ok {
			early := &earlyBytes{}
			r = r.WithContext(context.WithValue(r.Context(), earlyBytesKey{}, early))
			w = &recordingHijacker{ResponseWriter: w, hj: hj, early: early}
		}
	}
	f.gp.ServeHTTP(w, r)
}

func (f *httpFront) shutdown(ctx context.Context) {
	f.mu.Lock()
	servers := f.servers
	f.mu.Unlock()
	for _, s := range servers {
		s.Shutdown(ctx)
	}
	f.transport.CloseIdleConnections()
}

// clientConn is the accepted connection behind a request.
type clientConn struct {
	conn          net.Conn
	mu            sync.Mutex
	authenticated bool
}

type clientConnKey struct{}

// authenticate checks the request's Proxy-Authorization and, on the
// connection's first success, refunds its source's attempt token.
func (f *httpFront) authenticate(r *http.Request) (string, bool) {
	user, pass, ok := parseProxyBasic(r.Header.Get("Proxy-Authorization"))
	if !ok {
		return "", false
	}
	buyer, ok := f.p.cfg.Auth.Authenticate(user, pass)
	cc, _ := r.Context().Value(clientConnKey{}).(*clientConn)
	if !ok {
		f.p.log.Warn("http proxy authentication failed", "src", r.RemoteAddr, "user", user)
		return "", false
	}
	if cc != nil {
		cc.mu.Lock()
		first := !cc.authenticated
		cc.authenticated = true
		cc.mu.Unlock()
		if first {
			f.p.authenticated(cc.conn)
		}
	}
	return buyer, true
}

// parseProxyBasic decodes a "Basic" Proxy-Authorization value.
func parseProxyBasic(h string) (user, pass string, ok bool) {
	scheme, enc, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

// requestState travels from onRequest to the transport and onResponse.
type requestState struct {
	buyerID string
	buyer   *meter.Buyer
	release sync.Once
}

func (s *requestState) done() { s.release.Do(s.buyer.Close) }

type requestStateKey struct{}

// onRequest authenticates a plain-HTTP proxy request, takes a slot of the
// buyer's connection cap and meters the request head and body.
func (f *httpFront) onRequest(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	buyerID, ok := f.authenticate(r)
	if !ok {
		resp := goproxy.NewResponse(r, goproxy.ContentTypeText, http.StatusProxyAuthRequired, "x402: proxy authentication required\n")
		resp.Header.Set("Proxy-Authenticate", proxyRealm)
		return r, resp
	}
	if r.Header.Get("Upgrade") != "" {
		// goproxy would relay an upgraded connection with its own unmetered
		// copy; tunnels go through CONNECT, which is metered.
		return r, goproxy.NewResponse(r, goproxy.ContentTypeText, http.StatusNotImplemented, "x402: protocol upgrades are not relayed over plain HTTP; use CONNECT\n")
	}
	b := f.p.cfg.Meter.Buyer(buyerID)
	if !b.TryOpen(f.p.lim.MaxConnsPerBuyer) {
		f.p.log.Warn("http request refused: buyer connection cap reached", "buyer", buyerID)
		return r, goproxy.NewResponse(r, goproxy.ContentTypeText, http.StatusTooManyRequests, "x402: too many concurrent connections for this buyer\n")
	}
	st := &requestState{buyerID: buyerID, buyer: b}
	ctx.UserData = st
	r.Header.Del("Proxy-Authorization")
	r = r.WithContext(context.WithValue(r.Context(), requestStateKey{}, st))
	b.AddUp(requestHeadSize(r))
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &meteredBody{rc: r.Body, ctx: r.Context(), buyer: b, gate: f.p.cfg.Gate, count: b.AddUp, left: max(r.ContentLength, -1)}
	}
	ctx.RoundTripper = goproxy.RoundTripperFunc(f.roundTrip)
	return r, nil
}

// roundTrip sends r upstream and meters the response head and body; the
// buyer's slot is released when goproxy closes the body.
func (f *httpFront) roundTrip(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Response, error) {
	st := ctx.UserData.(*requestState)
	resp, err := f.transport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	st.buyer.AddDown(responseHeadSize(resp))
	resp.Body = &meteredBody{rc: resp.Body, ctx: r.Context(), buyer: st.buyer, gate: f.p.cfg.Gate, count: st.buyer.AddDown,
		onClose: st.done, left: -1, abort: true}
	return resp, nil
}

// onResponse turns upstream failures into plain answers: 403 with the
// policy's reason for a denied destination, 502 for anything else.
func (f *httpFront) onResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	if resp != nil || ctx.Req == nil {
		return resp
	}
	if st, ok := ctx.UserData.(*requestState); ok {
		st.done()
	}
	var denied *egress.DeniedError
	if errors.As(ctx.Error, &denied) {
		return goproxy.NewResponse(ctx.Req, goproxy.ContentTypeText, http.StatusForbidden, "x402: "+denied.Error()+"\n")
	}
	msg := "x402: upstream failed"
	if ctx.Error != nil {
		msg += ": " + ctx.Error.Error()
	}
	return goproxy.NewResponse(ctx.Req, goproxy.ContentTypeText, http.StatusBadGateway, msg+"\n")
}

// dialUpstream is the shared transport's dialer: every connection it opens
// goes through the egress policy on the address actually dialed.
func (f *httpFront) dialUpstream(ctx context.Context, _, addr string) (net.Conn, error) {
	buyer := ""
	if st, ok := ctx.Value(requestStateKey{}).(*requestState); ok {
		buyer = st.buyerID
	}
	return f.p.dial(ctx, buyer, addr)
}

// serveConnect runs a CONNECT tunnel on the hijacked client connection:
// authentication, the buyer's cap, the egress policy, then the spliced relay.
func (f *httpFront) serveConnect(r *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
	p := f.p
	defer p.slots.release()
	if !p.tracker.add(client) {
		client.Close()
		return
	}
	defer p.tracker.done(client)
	defer client.Close()
	tc, ok := client.(*net.TCPConn)
	if !ok {
		writeConnectAnswer(client, http.StatusInternalServerError, "connection is not TCP")
		return
	}
	client.SetDeadline(time.Now().Add(p.lim.HandshakeTimeout))
	buyerID, ok := f.authenticate(r)
	if !ok {
		writeConnectAnswer(client, http.StatusProxyAuthRequired, "proxy authentication required")
		return
	}
	hostport := r.URL.Host
	if hostport == "" {
		hostport = r.Host
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		hostport = net.JoinHostPort(hostport, "443")
	}
	b := p.cfg.Meter.Buyer(buyerID)
	if !b.TryOpen(p.lim.MaxConnsPerBuyer) {
		p.log.Warn("http CONNECT refused: buyer connection cap reached", "buyer", buyerID)
		writeConnectAnswer(client, http.StatusTooManyRequests, "too many concurrent connections for this buyer")
		return
	}
	defer b.Close()
	dctx, cancel := context.WithTimeout(p.ctx, p.lim.HandshakeTimeout)
	target, err := p.dial(dctx, buyerID, hostport)
	cancel()
	if err != nil {
		var denied *egress.DeniedError
		if errors.As(err, &denied) {
			writeConnectAnswer(client, http.StatusForbidden, denied.Error())
		} else {
			writeConnectAnswer(client, http.StatusBadGateway, "dial "+hostport+": "+err.Error())
		}
		return
	}
	if !p.openTunnel(tc, target) {
		writeConnectAnswer(client, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		target.Close()
		return
	}
	if early, ok := r.Context().Value(earlyBytesKey{}).(*earlyBytes); ok {
		if err := writePrefix(target, early.b, b); err != nil {
			target.Close()
			return
		}
	}
	p.runRelay(tc, target, b)
}

// writeConnectAnswer answers a CONNECT that will not be tunnelled.
func writeConnectAnswer(w io.Writer, code int, reason string) {
	body := "x402: " + reason + "\n"
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n",
		code, http.StatusText(code), len(body))
	if code == http.StatusProxyAuthRequired {
		head += "Proxy-Authenticate: " + proxyRealm + "\r\n"
	}
	io.WriteString(w, head+"\r\n"+body)
}

// admittingListener applies Proxy.admit to every accepted connection and
// returns the bare *net.TCPConn, so a CONNECT tunnel can splice it.
type admittingListener struct {
	net.Listener
	p *Proxy
}

func (l *admittingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.p.admit(c) {
			return c, nil
		}
		c.Close()
	}
}

// earlyBytes holds what the HTTP server had read past a CONNECT request.
type earlyBytes struct{ b []byte }

type earlyBytesKey struct{}

// recordingHijacker copies the bytes buffered in the server's reader when
// goproxy hijacks a CONNECT, since goproxy does not pass them to a
// ConnectHijack handler.
type recordingHijacker struct {
	http.ResponseWriter
	hj    http.Hijacker
	early *earlyBytes
}

func (h *recordingHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := h.hj.Hijack()
	if err == nil && rw != nil && rw.Reader.Buffered() > 0 {
		buf, _ := rw.Reader.Peek(rw.Reader.Buffered())
		h.early.b = append([]byte(nil), buf...)
	}
	return c, rw, err
}
