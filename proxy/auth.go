package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// Authenticator maps proxy credentials to a buyer id. The node's static buyer
// table implements it; the payment layer binds credentials to payment
// channels by implementing it too.
type Authenticator interface {
	// Authenticate returns the buyer that user and pass belong to, or false.
	Authenticate(user, pass string) (buyer string, ok bool)
}

// StaticBuyer is one entry of a static credential table.
type StaticBuyer struct {
	Buyer    string
	User     string
	Password string
}

// StaticAuth is an Authenticator over a fixed table of credentials.
type StaticAuth struct {
	byUser map[string]staticEntry
}

type staticEntry struct {
	buyer string
	hash  [sha256.Size]byte
}

// NewStaticAuth builds the table, refusing empty or duplicate user names.
func NewStaticAuth(buyers []StaticBuyer) (*StaticAuth, error) {
	a := &StaticAuth{byUser: make(map[string]staticEntry, len(buyers))}
	for i, b := range buyers {
		switch {
		case b.Buyer == "" || b.User == "" || b.Password == "":
			return nil, fmt.Errorf("buyer %d: id, user and password are all required", i+1)
		case len(b.User) > 255 || len(b.Password) > 255:
			return nil, fmt.Errorf("buyer %q: user and password must be at most 255 bytes (RFC 1929)", b.Buyer)
		}
		if _, dup := a.byUser[b.User]; dup {
			return nil, fmt.Errorf("buyer %q: user %q is already taken", b.Buyer, b.User)
		}
		a.byUser[b.User] = staticEntry{buyer: b.Buyer, hash: sha256.Sum256([]byte(b.Password))}
	}
	return a, nil
}

// Authenticate compares the password in constant time.
func (a *StaticAuth) Authenticate(user, pass string) (string, bool) {
	e, ok := a.byUser[user]
	got := sha256.Sum256([]byte(pass))
	if subtle.ConstantTimeCompare(got[:], e.hash[:]) != 1 || !ok {
		return "", false
	}
	return e.buyer, true
}
