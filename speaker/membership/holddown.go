package membership

import "time"

// holdDown decides which alive members are Stable. It is a pure state
// machine: the caller reports transitions and passes the time in.
//
// The rules:
//
//   - A member is Stable once it has been continuously alive, as this node
//     observed it, for the hold-down period. Every (re)join restarts its
//     clock, so a node that flaps stays out of elections until it has been
//     steady for a whole period, and addresses do not follow it back and
//     forth.
//   - Self is no exception: its clock starts when this speaker starts. A
//     restarted speaker therefore does not claim addresses before the
//     others count it Stable (they start its clock when it joins, a moment
//     later).
//   - Peers first seen while self is still in that start-up period are
//     established: they were there before us, and the others already count
//     them Stable. Treating them as new instead would leave self, whose
//     clock started first, as the only Stable member for the moment between
//     its clock and theirs running out, and it would claim every address
//     (the lab saw exactly that). A peer that leaves and comes back later
//     gets a hold-down like any other.
//   - Except: self is Stable while no other member is alive, once discovery
//     has settled (found every node it was told about, or found nobody).
//     Waiting then protects no one and only delays service, for example in
//     a one-node cluster or for the last survivor. Before discovery settles
//     a speaker has not yet joined the others, and "alone" would only mean
//     "not connected yet", so it must not claim everything.
//
// A consequence worth knowing: after a partition heals, each side sees the
// other side as new for one period, so both keep announcing what they
// announced during the partition until the period ends.
type holdDown struct {
	hold    time.Duration // <= 0: every alive member is Stable
	self    string
	settled bool
	since   map[string]time.Time // alive members → when they last became alive
	// started is when self was first seen alive; established holds peers
	// first seen before self's own hold-down ran out.
	started     time.Time
	established map[string]bool
}

func newHoldDown(self string, hold time.Duration) *holdDown {
	return &holdDown{hold: hold, self: self, since: map[string]time.Time{}, established: map[string]bool{}}
}

// up records that name is alive at now. It reports whether name was not
// alive before; a member already alive keeps its clock.
func (h *holdDown) up(name string, now time.Time) bool {
	if _, ok := h.since[name]; ok {
		return false
	}
	h.since[name] = now
	if name == h.self && h.started.IsZero() {
		h.started = now
	}
	if name != h.self && (h.started.IsZero() || now.Sub(h.started) < h.hold) {
		h.established[name] = true
	}
	return true
}

// down records that name is no longer alive, and reports whether it was.
func (h *holdDown) down(name string) bool {
	if _, ok := h.since[name]; !ok {
		return false
	}
	delete(h.since, name)
	delete(h.established, name)
	return true
}

// settle records that discovery has settled. It reports whether that is
// news.
func (h *holdDown) settle() bool {
	if h.settled {
		return false
	}
	h.settled = true
	return true
}

// alive reports whether name is alive.
func (h *holdDown) alive(name string) bool {
	_, ok := h.since[name]
	return ok
}

// stable reports whether name counts for elections at now.
func (h *holdDown) stable(name string, now time.Time) bool {
	since, ok := h.since[name]
	switch {
	case !ok:
		return false
	case h.hold <= 0 || now.Sub(since) >= h.hold || h.established[name]:
		return true
	default:
		return name == h.self && h.settled && len(h.since) == 1
	}
}

// next returns how long after now the next alive member becomes Stable by
// the passing of time, and false if none is waiting. (Becoming Stable by
// being alone happens on a transition, which the caller sees anyway.)
func (h *holdDown) next(now time.Time) (time.Duration, bool) {
	var wait time.Duration
	found := false
	for name, since := range h.since {
		if h.stable(name, now) {
			continue
		}
		d := h.hold - now.Sub(since)
		if !found || d < wait {
			wait, found = d, true
		}
	}
	return wait, found
}
