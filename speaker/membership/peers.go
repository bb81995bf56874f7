package membership

import (
	"context"
	"time"
)

// peerSource is where speakers publish themselves and find each other. In
// production it is the Lease store (leaseSource); tests use a fixed list so
// the memberlist part runs without an API server.
type peerSource interface {
	// publish creates or renews this speaker's own record.
	publish(ctx context.Context, self peer) error
	// peers lists every speaker's record, this one's included.
	peers(ctx context.Context) ([]peer, error)
	// withdraw removes this speaker's record, so speakers that judge it by
	// the record drop it at once.
	withdraw(ctx context.Context, name string) error
}

// freshness decides which records are fresh, that is renewed within ttl.
//
// A record's renewal time is written by another node's clock, so comparing
// it with ours would make skew look like death (or life). Like client-go's
// leader election, freshness therefore times records by our own clock: a
// record is fresh until ttl after we last saw its renewal time change. Only
// a record seen for the first time is judged by its written time, since we
// have nothing better (it is clamped to now, so a clock ahead of ours
// cannot make it fresher than a record renewed just now).
type freshness struct {
	ttl  time.Duration
	seen map[string]sighting
}

type sighting struct {
	renewed time.Time // as written in the record
	at      time.Time // by our clock, when renewed last changed
}

func newFreshness(ttl time.Duration) *freshness {
	return &freshness{ttl: ttl, seen: map[string]sighting{}}
}

// observe records a complete listing taken at now and returns the fresh
// records, in the order given. Records missing from the listing are
// forgotten: a withdrawn record means a speaker that left.
func (f *freshness) observe(ps []peer, now time.Time) []peer {
	next := make(map[string]sighting, len(ps))
	var fresh []peer
	for _, p := range ps {
		if p.Renewed.IsZero() {
			fresh = append(fresh, p)
			continue
		}
		s, ok := f.seen[p.Name]
		switch {
		case !ok:
			s = sighting{renewed: p.Renewed, at: p.Renewed}
			if s.at.After(now) {
				s.at = now
			}
		case !s.renewed.Equal(p.Renewed):
			s = sighting{renewed: p.Renewed, at: now}
		}
		next[p.Name] = s
		if now.Sub(s.at) < f.ttl {
			fresh = append(fresh, p)
		}
	}
	f.seen = next
	return fresh
}
