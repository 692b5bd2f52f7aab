package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/sim"
)

// propChain is the hash chain every chained voucher of a property run
// commits to (its root is per channel through the seed).
const propChainLen = 16

type propChannel struct {
	id            pay.ChannelID
	buyer, seller party
	chain         [][32]byte
}

// propRun drives two ledgers with the same random transactions, one by
// one, and a third with the same transactions in batches, deferring their
// writes as a replica's ledger does.
type propRun struct {
	rt       *rapid.T
	a, b     *Ledger
	batched  *Ledger
	batch    []SignedTx // for batched, applied by a and b already
	want     []Receipt  // a's receipts of batch
	batchAt  int64      // the time of batch
	parties  []party
	channels []propChannel
	now      int64
	prev     map[pay.ChannelID]ChannelState
	nonces   map[pay.Account]uint64
	stats    map[string]*[2]int // body type -> applied, rejected
}

func TestPropertyRandomTransactions(t *testing.T) {
	dir := t.TempDir()
	run := 0
	stats := map[string]*[2]int{}
	rapid.Check(t, func(rt *rapid.T) {
		run++
		g := testGenesis()
		open2 := func(name string) *Ledger {
			l, err := open(filepath.Join(dir, strconv.Itoa(run), name), g, openOptions{noSync: true})
			if err != nil {
				rt.Fatal(err)
			}
			return l
		}
		batched := open2("batched") // as a replica's: batches wait in memory
		batched.deferWrites(rapid.IntRange(1, 64).Draw(rt, "deferred writes"))
		p := &propRun{rt: rt, a: open2("a"), b: open2("b"), batched: batched, now: 1_000_000_000,
			parties: []party{issuerP, buyerP, sellerP, otherP, feeP},
			prev:    map[pay.ChannelID]ChannelState{},
			nonces:  map[pay.Account]uint64{},
			stats:   stats,
		}
		defer p.a.Close()
		defer p.b.Close()
		defer p.batched.Close()
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for range steps {
			p.step()
		}
		p.applyBatch()
		p.compareBatched()
	})
	for name, n := range stats {
		t.Logf("%-22s applied %4d, rejected %4d", name, n[0], n[1])
	}
	for _, name := range []string{"ledger.Transfer", "ledger.OpenChannel", "ledger.Claim", "ledger.Finalize", "ledger.CoopClose", "ledger.RegisterIdentity", "ledger.TransferBinding"} {
		if stats[name] == nil || stats[name][0] == 0 {
			t.Errorf("no %s was ever applied: the generator does not reach it", name)
		}
	}
}

func (p *propRun) party(label string) party {
	return rapid.SampledFrom(p.parties).Draw(p.rt, label)
}

// amount draws an amount; a sane one is small enough to be usually
// affordable and non-zero.
func (p *propRun) amount(sane bool, label string) pay.Amount {
	if sane {
		return pay.Amount(rapid.SampledFrom([]uint64{1, 100_000, 1_000_000, 100_000_000}).Draw(p.rt, label))
	}
	return pay.Amount(rapid.SampledFrom([]uint64{0, 1, 99, 100_000, pay.Nano, 3 * pay.Nano, 20 * pay.Nano}).Draw(p.rt, label))
}

func (p *propRun) asset(sane bool, label string) pay.Asset {
	if sane {
		return usd
	}
	return rapid.SampledFrom([]pay.Asset{usd, pay.X402, "EUR"}).Draw(p.rt, label)
}

// channel picks a known channel, or sometimes an unknown id.
func (p *propRun) channel(sane bool) propChannel {
	if len(p.channels) == 0 || !sane && rapid.IntRange(0, 4).Draw(p.rt, "unknown channel") == 0 {
		return propChannel{id: pay.ChannelID{0xee}, buyer: buyerP, seller: sellerP, chain: testChain(0xee, propChainLen)}
	}
	return rapid.SampledFrom(p.channels).Draw(p.rt, "channel")
}

// voucher draws a voucher for c. A sane one is the buyer's, a little above
// what was claimed, with correct ticks; otherwise anything goes.
func (p *propRun) voucher(sane bool, c propChannel) (pay.SignedVoucher, uint32, [32]byte) {
	st, _ := p.a.Channel(c.id) // zero for an unknown channel
	v := pay.Voucher{Channel: c.id}
	if sane {
		v.Cumulative = st.Claimed + pay.Amount(rapid.SampledFrom([]uint64{0, 1, 100_000, 1_000_000}).Draw(p.rt, "increase"))
		v.Cumulative = min(v.Cumulative, st.Deposit)
		v.Seq = st.BestSeq + rapid.Uint64Range(0, 1).Draw(p.rt, "seq step")
	} else {
		v.Cumulative = pay.Amount(rapid.Uint64Range(0, 2*pay.Nano).Draw(p.rt, "cumulative"))
		v.Seq = rapid.Uint64Range(0, 20).Draw(p.rt, "seq")
	}
	if rapid.Bool().Draw(p.rt, "chained") {
		v.Chain = &pay.ChainCommit{Root: c.chain[0], TickValue: pay.Amount(rapid.SampledFrom([]uint64{1, 100, 100_000}).Draw(p.rt, "tick value")), Length: propChainLen}
	}
	signer := c.buyer
	if !sane && rapid.IntRange(0, 4).Draw(p.rt, "wrong voucher signer") == 0 {
		signer = p.party("voucher signer")
	}
	sv := v.Sign(p.a.Domain(), signer.priv)
	if v.Chain == nil && sane {
		return sv, 0, [32]byte{}
	}
	ticks := rapid.Uint32Range(0, propChainLen+1).Draw(p.rt, "ticks")
	if sane {
		ticks = min(ticks, propChainLen)
	}
	var pre [32]byte
	if ticks > 0 {
		k := min(int(ticks), propChainLen)
		if !sane && rapid.IntRange(0, 3).Draw(p.rt, "wrong preimage") == 0 {
			k--
		}
		pre = c.chain[k]
	}
	return sv, ticks, pre
}

// openChannel draws an OpenChannel body and its buyer.
func (p *propRun) openChannel(sane bool, anyone party) (Body, party) {
	buyer, seller := anyone, p.party("seller")
	ch := rapid.SampledFrom([]time.Duration{0, time.Second, 30 * time.Second, 2 * time.Minute, 2 * time.Hour}).Draw(p.rt, "challenge")
	if sane {
		buyer = rapid.SampledFrom([]party{buyerP, otherP}).Draw(p.rt, "buyer")
		seller = rapid.SampledFrom([]party{sellerP, issuerP}).Draw(p.rt, "seller")
		ch = rapid.SampledFrom([]time.Duration{time.Second, 30 * time.Second, 2 * time.Minute}).Draw(p.rt, "challenge")
	}
	return OpenChannel{Seller: seller.acct, Asset: p.asset(sane, "asset"), Deposit: p.amount(sane, "deposit"), Challenge: ch}, buyer
}

// body draws a transaction body and the party that would rightly send it.
func (p *propRun) body(sane bool) (Body, party) {
	anyone := p.party("from")
	switch rapid.IntRange(0, 15).Draw(p.rt, "identity") { // rarely, so the money paths keep their share
	case 0:
		return p.registerIdentity(sane, anyone), anyone
	case 1:
		return p.transferBinding(sane, anyone)
	}
	switch rapid.IntRange(0, 10).Draw(p.rt, "kind") {
	case 0:
		from := anyone
		if sane {
			from = rapid.SampledFrom([]party{buyerP, otherP}).Draw(p.rt, "payer")
		}
		return Transfer{To: p.party("to").acct, Asset: p.asset(sane, "asset"), Amount: p.amount(sane, "amount")}, from
	case 1:
		return Mint{To: p.party("to").acct, Asset: p.asset(sane, "asset"), Amount: p.amount(sane, "amount")}, issuerP
	case 2:
		return Burn{Asset: p.asset(sane, "asset"), Amount: p.amount(sane, "amount")}, issuerP
	case 3:
		return Faucet{Asset: p.asset(sane, "asset")}, anyone
	case 4, 5:
		return p.openChannel(sane, anyone)
	case 6:
		c := p.channel(sane)
		return TopUp{Channel: c.id, Amount: p.amount(sane, "amount")}, c.buyer
	case 7, 8:
		c := p.channel(sane)
		v, ticks, pre := p.voucher(sane, c)
		return Claim{Voucher: v, Ticks: ticks, Preimage: pre}, c.seller
	case 9:
		c := p.channel(sane)
		if rapid.Bool().Draw(p.rt, "finalize") {
			if !sane {
				return Finalize{Channel: c.id}, anyone
			}
			// A sane finalize needs a closing channel: finalize one after
			// its challenge period, or else start closing an open one, so
			// that every run that opens channels can reach Finalize.
			var open *propChannel
			for i, k := range p.channels {
				switch st, _ := p.a.Channel(k.id); st.Status {
				case StatusClosing:
					p.now = max(p.now, st.CloseAt) // wait out the challenge period
					return Finalize{Channel: k.id}, k.buyer
				case StatusOpen:
					open = &p.channels[i]
				}
			}
			if open != nil {
				return StartClose{Channel: open.id}, open.buyer
			}
			return p.openChannel(sane, anyone)
		}
		if rapid.IntRange(0, 3).Draw(p.rt, "seller closes") == 0 {
			return StartClose{Channel: c.id}, c.seller
		}
		return StartClose{Channel: c.id}, c.buyer
	default:
		c := p.channel(sane)
		v, ticks, pre := p.voucher(sane, c)
		signer := c.seller
		if !sane && rapid.IntRange(0, 2).Draw(p.rt, "wrong seller signer") == 0 {
			signer = p.party("close signer")
		}
		return CoopClose{Voucher: v, Ticks: ticks, Preimage: pre}.SignSeller(p.a.Domain(), signer.priv), c.buyer
	}
}

// propSIMs are the SIMs of property runs: the test SIMs and a configured
// identity.
var propSIMs = append(append([]sim.Identity(nil), testSIMs...),
	sim.Identity{IMSI: "001010000000001", ICCID: "8900101000000000001", MCC: "001", MNC: "01", Source: sim.Source{Kind: sim.SourceConfig}})

// simClaim draws a claim that account holds a SIM, signed by signer; an
// insane one may be for another account, by another key, for another chain
// or altered after signing.
func (p *propRun) simClaim(sane bool, id sim.Identity, account, signer party) []byte {
	d := p.a.Domain()
	if !sane {
		switch rapid.IntRange(0, 5).Draw(p.rt, "claim fault") {
		case 0:
			account = p.party("claim account")
		case 1:
			signer = p.party("claim signer")
		case 2:
			d.Chain = "x402-other"
		}
	}
	c, err := sim.NewClaim(simDomain(d), account.acct[:], id, simKey, signer.priv)
	if err != nil {
		p.rt.Fatal(err)
	}
	if !sane && rapid.IntRange(0, 5).Draw(p.rt, "alter claim") == 0 {
		c.ICCIDHash[0] ^= 1
	}
	b, err := c.MarshalBinary()
	if err != nil {
		p.rt.Fatal(err)
	}
	return b
}

// bound reads a's binding on replica a.
func (p *propRun) bound(a pay.Account) (Binding, bool) {
	b, ok, err := p.a.Binding(context.Background(), a)
	if err != nil {
		p.rt.Fatal(err)
	}
	return b, ok
}

func (p *propRun) registerIdentity(sane bool, from party) RegisterIdentity {
	id := rapid.SampledFrom(propSIMs).Draw(p.rt, "sim")
	return RegisterIdentity{Claim: p.simClaim(sane, id, from, from)}
}

// transferBinding draws a binding transfer; a sane one is sent by a bound
// party, for its SIM, to an unbound one when there are such.
func (p *propRun) transferBinding(sane bool, from party) (Body, party) {
	to := p.party("to")
	id := rapid.SampledFrom(propSIMs).Draw(p.rt, "sim")
	if sane {
		var bound, free []party
		for _, q := range p.parties {
			if _, ok := p.bound(q.acct); ok {
				bound = append(bound, q)
			} else {
				free = append(free, q)
			}
		}
		if len(bound) > 0 && len(free) > 0 {
			from = rapid.SampledFrom(bound).Draw(p.rt, "bound from")
			to = rapid.SampledFrom(free).Draw(p.rt, "free to")
			b, _ := p.bound(from.acct)
			for _, s := range propSIMs {
				if c, _ := sim.CommitIMSI(simKey, s.IMSI); c == b.IMSICommitment {
					id = s
				}
			}
		}
	}
	return TransferBinding{To: to.acct, NewClaim: p.simClaim(sane, id, to, to)}, from
}

// applyBatch applies the transactions a applied since the last batch to
// the batched ledger in one batch: each must get a's receipt, and the
// ledger a's state.
func (p *propRun) applyBatch() {
	if len(p.batch) == 0 {
		return
	}
	got := p.batched.ApplyBatch(p.batch, p.batchAt)
	for i, r := range got {
		if r != p.want[i] {
			p.rt.Fatalf("transaction %d of a batch of %d (%T): receipt %+v, one by one %+v", i, len(got), p.batch[i].Body, r, p.want[i])
		}
	}
	p.batch, p.want = p.batch[:0], p.want[:0]
	// Reading the digest writes the deferred writes to the file: the
	// batches between two readings are applied over writes in memory.
	if rapid.IntRange(0, 3).Draw(p.rt, "compare states") == 0 {
		p.compareBatched()
	}
}

func (p *propRun) compareBatched() {
	if p.batched.Digest() != p.a.Digest() {
		p.rt.Fatalf("batches left another state than their transactions one by one")
	}
}

func (p *propRun) step() {
	rt := p.rt
	p.now += int64(rapid.SampledFrom([]time.Duration{0, time.Millisecond, 10 * time.Second, 40 * time.Second, 3 * time.Minute}).Draw(rt, "elapsed"))
	sane := rapid.IntRange(0, 3).Draw(rt, "sane") > 0
	body, from := p.body(sane)
	if !sane && rapid.Bool().Draw(rt, "any sender") {
		from = p.party("sender")
	}
	nonce := p.nonces[from.acct] + 1
	if !sane {
		switch rapid.IntRange(0, 5).Draw(rt, "nonce fault") {
		case 0:
			nonce--
		case 1:
			nonce += 2
		}
	}
	tx := Tx{From: from.acct, Nonce: nonce, Body: body}.Sign(p.a.Domain(), from.priv)
	if !sane && rapid.IntRange(0, 5).Draw(rt, "forge") == 0 {
		tx.Sig[5] ^= 0x40
	}

	if p.now != p.batchAt {
		p.applyBatch() // a batch applies at one time
		p.batchAt = p.now
	}
	before := p.a.Digest()
	ra, rb := p.a.Apply(tx, p.now), p.b.Apply(tx, p.now)
	if ra != rb {
		rt.Fatalf("replicas disagree on %T: %+v vs %+v", body, ra, rb)
	}
	p.batch, p.want = append(p.batch, tx), append(p.want, ra)
	if rapid.IntRange(0, 3).Draw(rt, "end batch") == 0 {
		p.applyBatch()
	}
	after := p.a.Digest()
	if after != p.b.Digest() {
		rt.Fatalf("digests diverge after %T", body)
	}
	if err := p.a.CheckInvariants(); err != nil {
		rt.Fatalf("after %T (%q): %v", body, ra.Err, err)
	}
	name := fmt.Sprintf("%T", body)
	if p.stats[name] == nil {
		p.stats[name] = &[2]int{}
	}
	if ra.Err != "" {
		p.stats[name][1]++
		if after != before {
			rt.Fatalf("rejected %T (%s) changed the state", body, ra.Err)
		}
		return
	}
	p.stats[name][0]++
	p.nonces[from.acct] = nonce
	if st, err := p.a.Account(from.acct); err != nil || st.Nonce != nonce {
		rt.Fatalf("nonce after applying: %d, %v; want %d", st.Nonce, err, nonce)
	}
	if o, ok := body.(OpenChannel); ok {
		seller := p.parties[0]
		for _, q := range p.parties {
			if q.acct == o.Seller {
				seller = q
			}
		}
		p.channels = append(p.channels, propChannel{id: ra.Channel, buyer: from, seller: seller, chain: testChain(byte(len(p.channels)), propChainLen)})
	}
	if tb, ok := body.(TransferBinding); ok {
		_, fromBound := p.bound(from.acct)
		_, toBound := p.bound(tb.To)
		if fromBound || !toBound {
			rt.Fatalf("after a binding transfer: sender bound %v, recipient bound %v", fromBound, toBound)
		}
	}
	p.checkTransitions()
}

// checkTransitions checks that claims only grow, deposits only grow, and a
// settled channel never changes again.
func (p *propRun) checkTransitions() {
	for _, c := range p.channels {
		cur, err := p.a.Channel(c.id)
		if err != nil {
			p.rt.Fatal(err)
		}
		old, seen := p.prev[c.id]
		p.prev[c.id] = cur
		if !seen {
			continue
		}
		switch {
		case cur.Claimed < old.Claimed:
			p.rt.Fatalf("channel %s: claimed went from %d down to %d", c.id, old.Claimed, cur.Claimed)
		case cur.Deposit < old.Deposit:
			p.rt.Fatalf("channel %s: deposit went from %d down to %d", c.id, old.Deposit, cur.Deposit)
		case old.Status == StatusSettled && cur != old:
			p.rt.Fatalf("channel %s changed after settling: %+v -> %+v", c.id, old, cur)
		case cur.BestSeq < old.BestSeq:
			p.rt.Fatalf("channel %s: best seq went down", c.id)
		}
	}
}
