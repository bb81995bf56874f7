package probe

import (
	"net/netip"
	"slices"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// Candidate is one target as the election sees it.
type Candidate struct {
	Addr netip.AddrPort
	Up   bool
	Role v1beta1.TargetRole
}

// Election is the outcome of Elect.
type Election struct {
	// Primary is the target to publish as the only ready one; the zero
	// AddrPort when there is none.
	Primary netip.AddrPort
	// Claimants are the live targets that say they are writable, sorted.
	Claimants []netip.AddrPort
	// SplitBrain is true when more than one target claims to be writable.
	SplitBrain bool
}

// Elect chooses the primary under Primary routing from the current one (the
// zero AddrPort when none is published) and the candidates. It never returns
// more than one: the current primary stays while it is up and still claims
// to be writable, even when another target claims too (SplitBrain); a new
// primary is chosen only when exactly one target claims. With several
// claimants and no current primary nothing is published, because choosing
// one of two writable databases would send writes to a side that may be
// discarded; the SplitBrain condition asks a human.
func Elect(current netip.AddrPort, candidates []Candidate) Election {
	var e Election
	for _, c := range candidates {
		if c.Up && c.Role == v1beta1.RolePrimary && !slices.Contains(e.Claimants, c.Addr) {
			e.Claimants = append(e.Claimants, c.Addr)
		}
	}
	slices.SortFunc(e.Claimants, netip.AddrPort.Compare)
	e.SplitBrain = len(e.Claimants) > 1
	switch {
	case current.IsValid() && slices.Contains(e.Claimants, current):
		e.Primary = current
	case len(e.Claimants) == 1:
		e.Primary = e.Claimants[0]
	}
	return e
}
