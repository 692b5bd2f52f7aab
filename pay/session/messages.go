package session

import (
	"crypto/ed25519"
	"fmt"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
)

// maxField bounds each string of a Welcome.
const maxField = 1024

// hello is the buyer's first frame: the protocol version it speaks and the
// channel it pays on.
type hello struct {
	Version uint32
	Channel pay.ChannelID
}

func (hello) frameType() frameType { return typeHello }

func (h hello) encode(w *wire.Writer) { w.U32(h.Version).Fixed(h.Channel[:]) }

func decodeHello(r *wire.Reader) hello {
	var h hello
	h.Version = r.U32()
	r.Fixed(h.Channel[:])
	return h
}

// Welcome is the seller's admission of a buyer to a channel: the proxy
// credentials and addresses the buyer hands to its clients, and the terms
// the seller meters by.
type Welcome struct {
	User     string // proxy user name
	Password string // proxy password
	SOCKS5   string // SOCKS5 proxy address, host:port
	HTTP     string // HTTP/CONNECT proxy address, host:port

	Asset          pay.Asset  // the asset the channel pays in
	PricePerGiB    pay.Amount // price of 2^30 relayed bytes (up and down)
	CreditWindow   uint64     // bytes the seller relays beyond what vouchers cover
	StatementEvery uint64     // bytes between two statements
}

// welcomeFrame is the Welcome on the wire, with the protocol version and the
// session id that tick datagrams carry.
type welcomeFrame struct {
	Version uint32
	Session uint32
	Welcome
}

func (welcomeFrame) frameType() frameType { return typeWelcome }

func (f welcomeFrame) encode(w *wire.Writer) {
	w.U32(f.Version).U32(f.Session).
		String(f.User).String(f.Password).String(f.SOCKS5).String(f.HTTP).
		String(string(f.Asset)).U64(uint64(f.PricePerGiB)).U64(f.CreditWindow).U64(f.StatementEvery)
}

func decodeWelcome(r *wire.Reader) welcomeFrame {
	var f welcomeFrame
	f.Version = r.U32()
	f.Session = r.U32()
	f.User = r.String(maxField)
	f.Password = r.String(maxField)
	f.SOCKS5 = r.String(maxField)
	f.HTTP = r.String(maxField)
	f.Asset = pay.Asset(r.String(maxField))
	f.PricePerGiB = pay.Amount(r.U64())
	f.CreditWindow = r.U64()
	f.StatementEvery = r.U64()
	if r.Err() == nil && !f.Asset.Valid() {
		r.Fail(fmt.Errorf("unknown asset %q", f.Asset))
	}
	return f
}

// validate checks what a handler returned before it goes on the wire.
func (w Welcome) validate() error {
	if !w.Asset.Valid() {
		return fmt.Errorf("welcome: unknown asset %q", w.Asset)
	}
	for _, s := range []string{w.User, w.Password, w.SOCKS5, w.HTTP} {
		if len(s) > maxField {
			return fmt.Errorf("welcome: field of %d bytes exceeds %d", len(s), maxField)
		}
	}
	return nil
}

func (*Error) frameType() frameType { return typeError }

func (e *Error) encode(w *wire.Writer) { w.U32(uint32(e.Code)).String(e.Message) }

func decodeError(r *wire.Reader) *Error {
	e := &Error{Code: Code(r.U32())}
	e.Message = r.String(maxErrorMessage)
	return e
}

// voucherFrame carries one signed voucher from the buyer.
type voucherFrame struct{ pay.SignedVoucher }

func (voucherFrame) frameType() frameType { return typeVoucher }

func (f voucherFrame) encode(w *wire.Writer) { f.SignedVoucher.Encode(w) }

func decodeVoucherFrame(r *wire.Reader) voucherFrame {
	return voucherFrame{pay.DecodeVoucher(r)}
}

// VoucherAck is the seller's acceptance of voucher Seq: Accepted is what it
// now holds vouchers for on the channel.
type VoucherAck struct {
	Seq      uint64
	Accepted pay.Amount
}

func (VoucherAck) frameType() frameType { return typeVoucherAck }

func (a VoucherAck) encode(w *wire.Writer) { w.U64(a.Seq).U64(uint64(a.Accepted)) }

func decodeVoucherAck(r *wire.Reader) VoucherAck {
	return VoucherAck{Seq: r.U64(), Accepted: pay.Amount(r.U64())}
}

// closeFrame asks for (buyer) or confirms (seller) an orderly end.
type closeFrame struct{}

func (closeFrame) frameType() frameType { return typeClose }

func (closeFrame) encode(*wire.Writer) {}

// coopCloseRequest asks the seller to co-sign an immediate close of the
// channel on the ledger at the buyer's final voucher.
type coopCloseRequest struct{ Final pay.SignedVoucher }

func (coopCloseRequest) frameType() frameType { return typeCoopCloseRequest }

func (f coopCloseRequest) encode(w *wire.Writer) { f.Final.Encode(w) }

func decodeCoopCloseRequest(r *wire.Reader) coopCloseRequest {
	return coopCloseRequest{pay.DecodeVoucher(r)}
}

// coopCloseConsent is the seller's signature on the cooperative close the
// buyer asked for.
type coopCloseConsent struct{ SellerSig [ed25519.SignatureSize]byte }

func (coopCloseConsent) frameType() frameType { return typeCoopCloseConsent }

func (f coopCloseConsent) encode(w *wire.Writer) { w.Fixed(f.SellerSig[:]) }

func decodeCoopCloseConsent(r *wire.Reader) coopCloseConsent {
	var f coopCloseConsent
	r.Fixed(f.SellerSig[:])
	return f
}
