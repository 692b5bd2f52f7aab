package ledger

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
)

// KindClock is the kind of a replica's signature on its clock report, so
// no other signature of a replica key can be replayed as one.
const KindClock pay.Kind = "clock"

// ClockReportEvery is how often each replica of a shard reports its clock
// while the shard is in use. The shard's ledger time lags real time by
// about this much plus a commit's latency.
const ClockReportEvery = 200 * time.Millisecond

// An idle shard reports less: once nothing but clock reports has applied
// for ClockIdleAfter, each replica reports every ClockReportIdleEvery, and
// at the usual pace again from the first op that applies. Every report is
// a batch that each replica writes to disk, so this spares an idle
// appliance's flash about 20 batches a second. A transaction that comes
// after a quiet spell may find the ledger's time up to this much behind;
// one that needs the time waits for the next reports (see Submit).
const (
	ClockIdleAfter       = 10 * time.Second
	ClockReportIdleEvery = 5 * time.Second
)

// ClockReport is replica Replica's reading of its clock, in unix
// nanoseconds. A shard's ledger time is derived from its replicas'
// reports, never from a client's clock (see Replicated).
type ClockReport struct {
	Replica uint32
	Time    int64
}

// SignedClockReport is a ClockReport signed by the replica's key.
type SignedClockReport struct {
	ClockReport
	Sig [ed25519.SignatureSize]byte
}

// payload is what the replica signs.
func (c ClockReport) payload() []byte {
	return wire.NewWriter(12).U32(c.Replica).U64(uint64(c.Time)).Bytes()
}

// Sign signs c with the replica's key priv in domain d.
func (c ClockReport) Sign(d pay.Domain, priv ed25519.PrivateKey) SignedClockReport {
	return SignedClockReport{ClockReport: c, Sig: d.Sign(priv, KindClock, c.payload())}
}

// Verify checks the signature against the replica's key pub.
func (s SignedClockReport) Verify(d pay.Domain, pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && d.Verify(pay.Account(pub), KindClock, s.payload(), s.Sig)
}

// Marshal encodes s.
func (s SignedClockReport) Marshal() []byte {
	return wire.NewWriter(12 + len(s.Sig)).U32(s.Replica).U64(uint64(s.Time)).Fixed(s.Sig[:]).Bytes()
}

// UnmarshalClockReport decodes a SignedClockReport, strictly.
func UnmarshalClockReport(b []byte) (SignedClockReport, error) {
	r := wire.NewReader(b)
	var s SignedClockReport
	s.Replica = r.U32()
	s.Time = int64(r.U64())
	r.Fixed(s.Sig[:])
	if err := r.Done(); err != nil {
		return SignedClockReport{}, fmt.Errorf("decode clock report: %w", err)
	}
	if s.Time <= 0 {
		return SignedClockReport{}, fmt.Errorf("decode clock report: time %d is not positive", s.Time)
	}
	return s, nil
}

// ClockOp returns the unsigned request that carries replica's clock report
// at t to the shard (see pbft.UnsignedRequest): its client is the
// replica's key and its timestamp the report's time, so the consensus
// layer executes each report at most once and a replica's reports in
// order; Replicated.AuthenticateRequest vouches for it.
func ClockOp(d pay.Domain, priv ed25519.PrivateKey, replica uint32, t time.Time) (client [32]byte, timestamp uint64, op []byte) {
	rep := ClockReport{Replica: replica, Time: t.UnixNano()}.Sign(d, priv)
	copy(client[:], priv.Public().(ed25519.PublicKey))
	return client, uint64(rep.Time), encodeOp(opClock, t, rep.Marshal())
}

// metaClock prefixes the meta keys holding each replica's newest reported
// time (metaClock || replica id, big-endian u32 -> u64 unix nanoseconds).
var metaClock = []byte("clock/")

func clockKey(replica uint32) []byte {
	return binary.BigEndian.AppendUint32(slices.Clone(metaClock), replica)
}

// errNoClock rejects a transaction that needs the ledger's time before the
// shard has established it.
var errNoClock = errors.New("the ledger's clock is not established yet (its replicas have not reported their clocks); retry shortly")

// clockTime is the shard's ledger time given its replicas' newest reports
// (0: never reported): the (f+1)-th latest, where f = (n-1)/3. Up to f
// Byzantine replicas can neither push it past every correct replica's
// clock (at least one correct replica reported a time at or after it) nor
// hold it back while f+1 correct replicas report. It is 0 until f+1
// replicas have reported.
func clockTime(reports []int64) int64 {
	if len(reports) == 0 {
		return 0
	}
	f := (len(reports) - 1) / 3
	sorted := slices.Clone(reports)
	slices.Sort(sorted)
	slices.Reverse(sorted)
	return sorted[f]
}

// applyClock records reports (already verified) and returns the ledger
// time after them, for a shard of n replicas. Reports never move a
// replica's time backwards.
func (l *Ledger) applyClock(reports []ClockReport, n int) (int64, error) {
	times := make([]int64, n)
	run := l.update
	if len(reports) == 0 {
		run = l.read // most batches: read the times only
	}
	err := run(func(v *view) error {
		for _, rep := range reports {
			if int(rep.Replica) >= n {
				continue
			}
			old, err := readU64(v.get(bucketMeta, clockKey(rep.Replica)), "clock")
			if err != nil {
				return err
			}
			if uint64(rep.Time) > old {
				v.put(bucketMeta, clockKey(rep.Replica), u64Bytes(uint64(rep.Time)))
			}
		}
		for i := range times {
			t, err := readU64(v.get(bucketMeta, clockKey(uint32(i))), "clock")
			if err != nil {
				return err
			}
			times[i] = int64(t)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger clock: %w", err)
	}
	return clockTime(times), nil
}
