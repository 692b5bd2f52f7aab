package pbftsim

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/x402/x402/consensus/pbft"
)

// Byzantine selects the faulty replica's behaviour.
type Byzantine int

// The Byzantine behaviours.
const (
	ByzNone       Byzantine = iota
	ByzEquivocate           // the view-0 primary sends different pre-prepares to different backups
	ByzGarbage              // a replica also sends forged, stale, garbage and lying messages
	ByzTwin                 // two instances share one replica's key and id
	ByzSilent               // a replica never runs
)

var byzNames = [...]string{"none", "equivocate", "garbage", "twin", "silent"}

func (b Byzantine) String() string { return byzNames[b] }

// Options configure one simulation run.
type Options struct {
	Seed       uint64
	Replicas   int
	Clients    int
	Requests   int // per client, one outstanding at a time
	FaultTicks int // ticks of the fault phase; afterwards the network heals
	MaxTicks   int // deadline for everything to complete
	Drop       float64
	Duplicate  float64
	MaxDelay   int // ticks; deliveries take 1..MaxDelay ticks
	Partitions bool
	Crashes    bool
	Byzantine  Byzantine
	ByzID      int

	CheckpointInterval uint64
	MaxBatch           int
	ViewChangeTimeout  int
	// PlainVerify makes every replica verify every signature itself
	// (benchmarks); otherwise verification results are shared.
	PlainVerify bool
}

// Scenario derives a run's options from its seed: the fault mix varies
// with the seed so that many seeds cover all of them.
func Scenario(seed uint64) Options {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	o := Options{Seed: seed, Replicas: 4, Clients: 1 + r.IntN(4), Requests: 4 + r.IntN(12),
		FaultTicks: 150 + r.IntN(250), MaxDelay: 1 + r.IntN(4),
		CheckpointInterval: uint64(2 + r.IntN(4)), MaxBatch: 1 + r.IntN(4), ViewChangeTimeout: 20 + r.IntN(20)}
	if r.IntN(8) == 0 {
		o.Replicas = 7
	}
	if r.IntN(4) != 0 {
		o.Drop = r.Float64() * 0.2
	}
	if r.IntN(3) == 0 {
		o.Duplicate = r.Float64() * 0.2
	}
	o.Partitions = r.IntN(3) == 0
	o.Crashes = r.IntN(3) == 0
	o.Byzantine = Byzantine(r.IntN(5))
	o.ByzID = r.IntN(o.Replicas)
	if o.Byzantine == ByzEquivocate {
		o.ByzID = 0
	}
	o.MaxTicks = o.FaultTicks + 6000
	return o
}

// Report summarizes a run.
type Report struct {
	Ticks          uint64
	Completed      int    // requests that got f+1 matching replies
	Executed       uint64 // highest sequence executed by a correct replica
	ViewChanges    uint64
	NewViews       uint64
	StateTransfers uint64
	Delivered      uint64
	Dropped        uint64
	Rejected       uint64 // messages a correct replica rejected (bad signature, not member, invalid)
	Malformed      uint64 // deliveries that did not decode
}

type instance struct {
	node  *pbft.Node
	app   *App
	store *storage
	up    bool
}

type replica struct {
	id        int
	insts     []*instance
	byz       Byzantine
	downUntil uint64
}

func (r *replica) correct() bool { return r.byz == ByzNone }

type simClient struct {
	c      *pbft.Client
	next   int
	ops    map[uint64]string
	done   map[string][]byte
	idleAt uint64
	// unsigned clients send their ops as unsigned requests: each op
	// carries the client's signature over itself and its timestamp (as a
	// ledger transaction does over its nonce), and the replicas'
	// Authenticate checks it (see selfSigned).
	unsigned bool
	key      ed25519.PrivateKey
	last     *pbft.Request // the latest unsigned request, for forgeries
	// known is nil until an unsigned client's first request went to every
	// replica; later ones go to the primary alone (as the runtime sends
	// them once each replica knows their reply route), and reach the
	// others through the pre-prepare or the client's retransmission.
	known []bool
}

type sim struct {
	o        Options
	f        int
	rng      *rand.Rand
	dom      pbft.Domain
	keys     []ed25519.PrivateKey
	pubs     []ed25519.PublicKey
	verify   pbft.VerifyFunc
	reps     []*replica
	clients  []*simClient
	clientAt map[pbft.ClientID]int
	q        queue
	order    uint64
	now      uint64
	faults   bool
	side     []int // partition side per replica, nil when healed
	recorded [][]byte
	submits  map[string]bool

	executed    map[uint64]pbft.Digest
	checkpoints map[uint64]pbft.Digest
	err         error
	rep         Report
	traceFn     func(replica int, m pbft.Message) // debugging hook: every message a replica sends
}

// Run simulates opts and returns an error describing the first violated
// invariant (safety, checkpoint agreement, exactly-once or liveness).
func Run(opts Options) (Report, error) {
	s := newSim(opts)
	if s.err != nil {
		return s.rep, s.err
	}
	s.run()
	return s.rep, s.err
}

func keyFor(seed uint64, kind string, i int) ed25519.PrivateKey {
	b := sha256.Sum256(fmt.Appendf(nil, "pbftsim/%s/%d/%d", kind, seed, i))
	return ed25519.NewKeyFromSeed(b[:])
}

func newSim(o Options) *sim {
	s := &sim{o: o, f: (o.Replicas - 1) / 3, rng: rand.New(rand.NewPCG(o.Seed, 1)),
		dom: pbft.Domain{ChainID: "sim", Shard: 1}, clientAt: map[pbft.ClientID]int{}, faults: true,
		executed: map[uint64]pbft.Digest{}, checkpoints: map[uint64]pbft.Digest{}, submits: map[string]bool{}}
	s.verify = memoVerify()
	if o.PlainVerify {
		s.verify = ed25519.Verify
	}
	for i := range o.Replicas {
		k := keyFor(o.Seed, "replica", i)
		s.keys = append(s.keys, k)
		s.pubs = append(s.pubs, k.Public().(ed25519.PublicKey))
	}
	for i := range o.Replicas {
		r := &replica{id: i}
		if i == o.ByzID {
			r.byz = o.Byzantine
		}
		s.reps = append(s.reps, r)
		copies := 1
		if r.byz == ByzTwin {
			copies = 2
		}
		for range copies {
			in := &instance{store: newStorage()}
			r.insts = append(r.insts, in)
			if r.byz != ByzSilent {
				s.start(r, in)
			}
		}
	}
	for i := range o.Clients {
		c, err := pbft.NewClient(pbft.ClientConfig{Domain: s.dom, Key: keyFor(o.Seed, "client", i), Replicas: s.pubs,
			RetransmitTimeout: 2 * o.ViewChangeTimeout / 3, Verify: s.verify}, 1)
		if err != nil {
			s.err = err
			return s
		}
		s.clients = append(s.clients, &simClient{c: c, ops: map[uint64]string{}, done: map[string][]byte{},
			unsigned: i%2 == 1, key: keyFor(o.Seed, "client", i)})
		s.clientAt[c.ID()] = i
	}
	return s
}

func (s *sim) config(id int, app *App) pbft.Config {
	return pbft.Config{Domain: s.dom, ID: uint32(id), Key: s.keys[id], Replicas: s.pubs, App: app,
		CheckpointInterval: s.o.CheckpointInterval, MaxBatch: s.o.MaxBatch, ViewChangeTimeout: s.o.ViewChangeTimeout,
		StatusInterval: 6, Verify: s.verify, Authenticate: s.authenticate}
}

// selfSigned is the op an unsigned client sends as name at timestamp ts:
// name, then the client's signature over name and ts in hex.
func selfSigned(key ed25519.PrivateKey, ts uint64, name string) []byte {
	sig := ed25519.Sign(key, selfSignedMsg(ts, name))
	return []byte(name + "|" + hex.EncodeToString(sig))
}

func selfSignedMsg(ts uint64, name string) []byte {
	return fmt.Appendf(nil, "pbftsim/self-signed-op/v1|%d|%s", ts, name)
}

// authenticate is the replicas' pbft.AuthenticateFunc: an unsigned request
// is authentic when its op is self-signed by its client for its timestamp.
func (s *sim) authenticate(client [32]byte, ts uint64, op []byte) bool {
	name, sigHex, ok := strings.Cut(string(op), "|")
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return s.verify(ed25519.PublicKey(client[:]), selfSignedMsg(ts, name), sig)
}

// start (re)starts an instance from its storage with a fresh application.
func (s *sim) start(r *replica, in *instance) {
	in.app = NewApp()
	n, err := pbft.Restart(s.config(r.id, in.app), in.store.load())
	if err != nil {
		s.fail("restart replica %d: %v", r.id, err)
		return
	}
	in.node, in.up = n, true
	s.drain(r, in)
}

func (s *sim) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("seed %d tick %d: %s", s.o.Seed, s.now, fmt.Sprintf(format, args...))
	}
}

func (s *sim) run() {
	for s.now = 0; s.now < uint64(s.o.MaxTicks) && s.err == nil; s.now++ {
		if s.faults && s.now >= uint64(s.o.FaultTicks) {
			s.heal()
		}
		if s.faults {
			s.injectFaults()
		}
		for d := s.q.popDue(s.now); d != nil && s.err == nil; d = s.q.popDue(s.now) {
			s.deliver(d)
		}
		for _, r := range s.reps {
			for _, in := range r.insts {
				if in.up {
					in.node.Tick()
					s.drain(r, in)
				}
			}
			if r.byz == ByzGarbage && s.rng.IntN(3) == 0 {
				s.garbage(r)
			}
		}
		s.tickClients()
		if !s.faults && s.finished() {
			break
		}
	}
	s.rep.Ticks = s.now
	if s.err == nil {
		s.finalChecks()
	}
	for _, r := range s.reps {
		for _, in := range r.insts {
			if r.correct() && in.node != nil {
				m := in.node.Metrics()
				s.rep.ViewChanges += m.ViewChanges
				s.rep.NewViews += m.NewViews
				s.rep.StateTransfers += m.StateTransfers
				s.rep.Rejected += m.BadSignature + m.NotMember + m.Invalid
				s.rep.Executed = max(s.rep.Executed, in.node.LastExecuted())
			}
		}
	}
}

// heal ends the fault phase: the network heals and every crashed replica
// restarts from its storage.
func (s *sim) heal() {
	s.faults, s.side = false, nil
	for _, r := range s.reps {
		for _, in := range r.insts {
			if !in.up && r.byz != ByzSilent {
				s.start(r, in)
			}
		}
	}
}

func (s *sim) injectFaults() {
	if s.o.Partitions {
		if s.side == nil && s.rng.IntN(60) == 0 {
			s.side = make([]int, len(s.reps))
			for i := range s.side {
				s.side[i] = s.rng.IntN(2)
			}
		} else if s.side != nil && s.rng.IntN(40) == 0 {
			s.side = nil
		}
	}
	if s.o.Crashes {
		for _, r := range s.reps {
			if !r.correct() {
				continue
			}
			in := r.insts[0]
			if in.up && s.rng.IntN(150) == 0 {
				in.up, in.node = false, nil
				r.downUntil = s.now + uint64(5+s.rng.IntN(80))
			} else if !in.up && s.now >= r.downUntil {
				s.start(r, in)
			}
		}
	}
}

func (s *sim) tickClients() {
	for i, c := range s.clients {
		if c.c.Outstanding() == nil && c.next < s.o.Requests && s.now >= c.idleAt {
			op := fmt.Sprintf("c%d-r%d", i, c.next)
			var (
				q   *pbft.Request
				out []pbft.Outbound
				err error
			)
			if c.unsigned {
				ts := uint64(c.next + 1)
				op = string(selfSigned(c.key, ts, op))
				q = pbft.UnsignedRequest(c.c.ID(), ts, []byte(op))
				out, err = c.c.SubmitUnsigned(q, c.known)
				c.last = q
				if c.known == nil {
					c.known = slices.Repeat([]bool{true}, len(s.reps))
				}
			} else {
				q, out, err = c.c.Submit([]byte(op))
			}
			if err != nil {
				s.fail("client %d submit: %v", i, err)
				return
			}
			c.next++
			c.ops[q.Timestamp] = op
			s.submits[op] = true
			for _, ob := range out {
				s.transmit(clientEndpoint(i), endpoint(ob.To.Replica), pbft.Encode(ob.Msg))
			}
		}
		for _, ob := range c.c.Tick() {
			s.transmit(clientEndpoint(i), endpoint(ob.To.Replica), pbft.Encode(ob.Msg))
		}
	}
}

func (s *sim) deliver(d *delivery) {
	m, err := pbft.Decode(d.data)
	if err != nil {
		s.rep.Malformed++
		return
	}
	s.rep.Delivered++
	if ci, ok := d.to.client(); ok {
		c := s.clients[ci]
		res, _ := c.c.Step(m)
		if res != nil && len(res.Value) == 0 {
			s.fail("client %d: f+1 replicas said request %d will never execute", ci, res.Timestamp)
			return
		}
		if res != nil {
			op := c.ops[res.Timestamp]
			c.done[op] = res.Value
			s.rep.Completed++
			c.idleAt = s.now + uint64(s.rng.IntN(3))
		}
		return
	}
	r := s.reps[d.to]
	for k, in := range r.insts {
		if !in.up {
			continue
		}
		if len(r.insts) > 1 && s.rng.IntN(4) == 0 && k == 0 {
			continue // twins see different subsets of the traffic
		}
		_ = in.node.Step(m) // rejections are counted in the replica's metrics
		s.drain(r, in)
	}
}

// drain sends what an instance may send at once (Ahead), then handles its
// Ready: persist, check, send, advance. Now and then the persist is left
// for a later drain, as if the disk were slow, so a crash can catch a
// replica that announced early what it had not persisted yet.
func (s *sim) drain(r *replica, in *instance) {
	for _, ob := range in.node.Ahead() {
		s.send(r, ob)
	}
	if s.faults && s.rng.IntN(4) == 0 {
		return
	}
	for in.node.HasReady() {
		rd := in.node.Ready()
		in.store.apply(&rd.Persist)
		if r.correct() {
			for _, b := range rd.Executed {
				if d, ok := s.executed[b.Seq]; ok && d != b.Digest {
					s.fail("safety: replica %d executed batch %x at sequence %d, another correct replica %x",
						r.id, b.Digest[:6], b.Seq, d[:6])
				}
				s.executed[b.Seq] = b.Digest
			}
		}
		for _, ob := range rd.Messages {
			s.send(r, ob)
		}
		in.node.Advance()
		for _, ob := range in.node.Ahead() {
			s.send(r, ob)
		}
	}
}

func (s *sim) send(r *replica, ob pbft.Outbound) {
	if s.traceFn != nil {
		s.traceFn(r.id, ob.Msg)
	}
	if c, ok := ob.Msg.(*pbft.Checkpoint); ok && r.correct() {
		if d, ok := s.checkpoints[c.Seq]; ok && d != c.Digest {
			s.fail("checkpoint disagreement at %d: replica %d has %x, another %x", c.Seq, r.id, c.Digest[:6], d[:6])
		}
		s.checkpoints[c.Seq] = c.Digest
	}
	from := endpoint(r.id)
	if ob.To.ToClient {
		if ci, ok := s.clientAt[ob.To.Client]; ok {
			s.transmit(from, clientEndpoint(ci), pbft.Encode(ob.Msg))
		}
		return
	}
	data := pbft.Encode(ob.Msg)
	if len(s.recorded) < 256 || s.rng.IntN(16) == 0 {
		if len(s.recorded) >= 256 {
			s.recorded[s.rng.IntN(len(s.recorded))] = data
		} else {
			s.recorded = append(s.recorded, data)
		}
	}
	if !ob.To.Broadcast {
		s.transmit(from, endpoint(ob.To.Replica), s.equivocate(r, ob.Msg, data))
		return
	}
	for to := range s.reps {
		if to != r.id {
			s.transmit(from, endpoint(to), s.equivocate(r, ob.Msg, data))
		}
	}
}

// equivocate lets the equivocating primary send each backup its own
// version of a pre-prepare: the batch reversed, or the null batch.
func (s *sim) equivocate(r *replica, m pbft.Message, data []byte) []byte {
	pp, ok := m.(*pbft.PrePrepare)
	if r.byz != ByzEquivocate || !ok || s.rng.IntN(2) == 0 {
		return data
	}
	alt := &pbft.PrePrepare{View: pp.View, Seq: pp.Seq, Replica: pp.Replica}
	if len(pp.Batch) > 1 {
		for i := len(pp.Batch) - 1; i >= 0; i-- {
			alt.Batch = append(alt.Batch, pp.Batch[i])
		}
	}
	alt.Digest = s.dom.BatchDigest(alt.Batch)
	pbft.Sign(s.dom, s.keys[r.id], alt)
	return pbft.Encode(alt)
}

// garbage injects one bad message from the garbage replica.
func (s *sim) garbage(r *replica) {
	to := endpoint(s.rng.IntN(len(s.reps)))
	from := endpoint(r.id)
	key := s.keys[r.id]
	other := uint32(s.rng.IntN(len(s.reps)))
	seq := s.executedMax() + uint64(s.rng.IntN(8))
	var rnd pbft.Digest
	binary.BigEndian.PutUint64(rnd[:], s.rng.Uint64())
	switch s.rng.IntN(9) {
	case 8: // a client's latest unsigned request at a later timestamp it did not sign
		for _, c := range s.clients {
			if q := c.last; q != nil {
				forged := pbft.UnsignedRequest(q.Client, q.Timestamp+1+uint64(s.rng.IntN(1000)), q.Op)
				s.transmit(from, to, pbft.Encode(forged))
				break
			}
		}
	case 0: // random bytes
		b := make([]byte, s.rng.IntN(200))
		for i := range b {
			b[i] = byte(s.rng.Uint32())
		}
		if len(b) > 0 {
			b[0] = byte(1 + s.rng.IntN(11))
		}
		s.transmit(from, to, b)
	case 1: // a recorded message with a flipped bit
		if len(s.recorded) > 0 {
			b := append([]byte(nil), s.recorded[s.rng.IntN(len(s.recorded))]...)
			b[s.rng.IntN(len(b))] ^= 1 << s.rng.IntN(8)
			s.transmit(from, to, b)
		}
	case 2: // a stale replay
		if len(s.recorded) > 0 {
			s.transmit(from, to, s.recorded[s.rng.IntN(len(s.recorded))])
		}
	case 3: // claims to be another replica, signed with its own key
		p := &pbft.Prepare{View: 0, Seq: seq, Digest: rnd, Replica: other}
		pbft.Sign(s.dom, key, p)
		s.transmit(from, to, pbft.Encode(p))
	case 4: // a non-member
		c := &pbft.Commit{Seq: seq, Digest: rnd, Replica: uint32(len(s.reps) + s.rng.IntN(5))}
		pbft.Sign(s.dom, key, c)
		s.transmit(from, to, pbft.Encode(c))
	case 5: // a well-signed lie about a checkpoint
		k := s.o.CheckpointInterval
		c := &pbft.Checkpoint{Seq: (seq/k + 1) * k, Digest: rnd, Replica: uint32(r.id)}
		pbft.Sign(s.dom, key, c)
		s.transmit(from, to, pbft.Encode(c))
	case 6: // a well-signed commit and prepare for a made-up batch
		c := &pbft.Commit{View: 0, Seq: seq, Digest: rnd, Replica: uint32(r.id)}
		pbft.Sign(s.dom, key, c)
		s.transmit(from, to, pbft.Encode(c))
	case 7: // a view change to a far view
		vc := &pbft.ViewChange{View: 1000 + s.rng.Uint64N(1000), Replica: uint32(r.id)}
		pbft.Sign(s.dom, key, vc)
		s.transmit(from, to, pbft.Encode(vc))
	}
}

func (s *sim) executedMax() uint64 {
	var m uint64
	for seq := range s.executed {
		m = max(m, seq)
	}
	return m
}

// transmit puts data on the simulated network.
func (s *sim) transmit(from, to endpoint, data []byte) {
	if from == to {
		return
	}
	copies := 1
	if s.faults {
		if s.rng.Float64() < s.o.Drop {
			s.rep.Dropped++
			return
		}
		_, fc := from.client()
		_, tc := to.client()
		if s.side != nil && !fc && !tc && s.side[from] != s.side[to] {
			s.rep.Dropped++
			return
		}
		if s.rng.Float64() < s.o.Duplicate {
			copies = 2
		}
	}
	for range copies {
		s.order++
		s.q.push(&delivery{at: s.now + 1 + uint64(s.rng.IntN(s.o.MaxDelay)), order: s.rng.Uint64(), from: from, to: to, data: data})
	}
}

// finished reports whether, after the faults, every request completed and
// every correct replica executed as far as the others.
func (s *sim) finished() bool {
	for _, c := range s.clients {
		if c.next < s.o.Requests || c.c.Outstanding() != nil {
			return false
		}
	}
	var hi, lo uint64
	first := true
	for _, r := range s.reps {
		if !r.correct() {
			continue
		}
		st := r.insts[0].node.Status()
		if st.Applied != st.LastExecuted {
			return false // a batch ran ahead and has not committed yet
		}
		// A result from tentative replies may come before a view change
		// rolls its batch back; the new view executes it again.
		for _, c := range s.clients {
			for op := range c.done {
				if r.insts[0].app.Count(op) == 0 {
					return false
				}
			}
		}
		e := st.LastExecuted
		if first {
			hi, lo, first = e, e, false
		}
		hi, lo = max(hi, e), min(lo, e)
	}
	return hi == lo
}

func (s *sim) finalChecks() {
	if !s.finished() {
		var b strings.Builder
		for i, c := range s.clients {
			fmt.Fprintf(&b, " client%d=%d/%d(out=%v)", i, len(c.done), s.o.Requests, c.c.Outstanding() != nil)
		}
		for _, r := range s.reps {
			for _, in := range r.insts {
				if in.node != nil {
					st := in.node.Status()
					fmt.Fprintf(&b, " r%d(%s):view=%d active=%v exec=%d stable=%d transferring=%v target=%d",
						r.id, r.byz, st.View, st.Active, st.LastExecuted, st.Stable, st.Transferring, st.Target)
				}
			}
		}
		s.fail("liveness: not finished after the faults stopped:%s", b.String())
		return
	}
	for _, r := range s.reps {
		if !r.correct() {
			continue
		}
		app := r.insts[0].app
		for _, c := range s.clients {
			for op := range c.done {
				if n := app.Count(op); n != 1 {
					s.fail("exactly-once: replica %d applied completed %s %d times", r.id, op, n)
				}
			}
		}
		for op := range s.submits {
			if n := app.Count(op); n > 1 {
				s.fail("exactly-once: replica %d applied %s %d times", r.id, op, n)
			}
		}
	}
}

// memoVerify returns ed25519.Verify with a cache: verification is a pure
// function, so sharing results among simulated replicas changes nothing
// but the run time.
func memoVerify() pbft.VerifyFunc {
	cache := map[[32]byte]bool{}
	return func(pub ed25519.PublicKey, msg, sig []byte) bool {
		h := sha256.New()
		h.Write(pub)
		h.Write(sig)
		h.Write(msg)
		var k [32]byte
		h.Sum(k[:0])
		if v, ok := cache[k]; ok {
			return v
		}
		v := ed25519.Verify(pub, msg, sig)
		cache[k] = v
		return v
	}
}
