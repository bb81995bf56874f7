package membership

import (
	"maps"
	"net/netip"
	"slices"
	"time"
)

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
//   - Self's clock restarts when it first sees a peer: that is when the
//     others start theirs for it.
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
//   - After a partition heals, the smaller side starts over. When a peer
//     comes back whose verdict counts self out, and whose side outranks
//     self's (see verdict), self starts over as if it had restarted: its
//     own clock restarts and the peers it sees count as established. That
//     is how the other side sees it (members that died and came back), so
//     both sides agree that the addresses stay with the larger side for
//     one hold-down period. Without this rule a node whose link came back
//     counted the returning majority as new, stayed the only Stable member
//     it knew of, and answered for every address together with their
//     rightful owners. A peer whose verdict does not name self (it never
//     saw self die, or it has just started) never makes self start over:
//     that peer still counts self Stable, and self stepping back would
//     leave self's addresses to nobody.
type holdDown struct {
	hold    time.Duration // <= 0: every alive member is Stable
	self    string
	settled bool
	since   map[string]time.Time // alive members → when they last became alive
	// started is when self's current start-up period began: its first
	// sighting, or its last rejoin; established holds peers first seen
	// before that period ran out.
	started     time.Time
	established map[string]bool
	// contacted: self has seen a peer since it started.
	contacted bool
	// startedOver counts the times self started over after a partition.
	startedOver int
	// lost holds peers that died (rather than left) and have not come back
	// or been forgotten, with their last memberlist address for rejoining.
	lost map[string]netip.AddrPort
}

func newHoldDown(self string, hold time.Duration) *holdDown {
	return &holdDown{
		hold: hold, self: self,
		since: map[string]time.Time{}, established: map[string]bool{}, lost: map[string]netip.AddrPort{},
	}
}

// up records that name is alive at now, and what name published about the
// others (ignored for self). It reports whether name was not alive before;
// a member already alive keeps its clock.
func (h *holdDown) up(name string, theirs verdict, now time.Time) bool {
	if _, ok := h.since[name]; ok {
		return false
	}
	if name == h.self {
		h.since[name] = now
		if h.started.IsZero() {
			h.started = now
		}
		return true
	}
	switch {
	case h.starting(now):
		if !h.contacted {
			// The first peer: the others start self's clock when they see
			// it join, about now, not when this speaker started. Restarting
			// it here makes both ends of the move-back agree to within
			// milliseconds; the lab measured 100 ms of two nodes answering
			// without it.
			h.restart(now)
		}
		h.established[name] = true
	case theirs.countsOut(h.self) && theirs.outranks(h.verdict(now)):
		h.restart(now)
		h.startedOver++
		h.established[name] = true
	}
	h.since[name] = now
	delete(h.lost, name)
	return true
}

// observe applies what an alive peer now publishes, and reports whether
// self started over because of it.
//
// It covers the one-sided loss: a node that froze (a stopped VM, a long
// pause) for longer than failure detection was declared dead by the others
// without seeing anyone die itself. When it runs again it counts everyone
// in, while they hold it down as a member that came back: it would answer
// beside them for a whole hold-down. A peer whose verdict says self died is
// proof of that, so self starts over and agrees with them. Only "died"
// counts: a peer still holding self down after a join is normal for a few
// milliseconds at the end of self's own start-up, and must not restart it.
func (h *holdDown) observe(name string, theirs verdict, now time.Time) bool {
	if name == h.self || !h.alive(name) || h.starting(now) || theirs.starting || !theirs.countsDead(h.self) {
		return false
	}
	h.restart(now)
	h.startedOver++
	return true
}

// restart begins a new start-up period for self at now, with every alive
// peer established.
func (h *holdDown) restart(now time.Time) {
	h.started, h.contacted = now, true
	if _, ok := h.since[h.self]; ok {
		h.since[h.self] = now
	}
	for name := range h.since {
		if name != h.self {
			h.established[name] = true
		}
	}
}

// down records that name is no longer alive because it left or was
// forgotten. It reports whether name was alive.
func (h *holdDown) down(name string) bool {
	if _, ok := h.since[name]; !ok {
		return false
	}
	delete(h.since, name)
	delete(h.established, name)
	return true
}

// keepOnly records that the alive members alive does not report are no
// longer alive, as if each left (see down), and returns how many there were.
func (h *holdDown) keepOnly(alive func(name string) bool) (gone int) {
	for name := range h.since {
		if !alive(name) && h.down(name) {
			gone++
		}
	}
	return gone
}

// died records that name is no longer alive because it died, last seen at
// memberlist address at (invalid if unknown): it is lost until it comes
// back or is forgotten. It reports whether name was alive.
func (h *holdDown) died(name string, at netip.AddrPort) bool {
	if !h.down(name) {
		return false
	}
	if name != h.self {
		h.lost[name] = at
	}
	return true
}

// forgetLost drops the lost peers keep does not report as still part of
// the cluster, and reports whether it dropped any.
func (h *holdDown) forgetLost(keep func(name string) bool) bool {
	n := len(h.lost)
	maps.DeleteFunc(h.lost, func(name string, _ netip.AddrPort) bool { return !keep(name) })
	return len(h.lost) != n
}

// lostAddrs returns the known memberlist addresses of the lost peers,
// sorted.
func (h *holdDown) lostAddrs() []string {
	var out []string
	for _, at := range h.lost {
		if at.IsValid() {
			out = append(out, at.String())
		}
	}
	slices.Sort(out)
	return out
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

// members returns the alive members' names, sorted.
func (h *holdDown) members() []string {
	return slices.Sorted(maps.Keys(h.since))
}

// others reports whether any member besides self is alive.
func (h *holdDown) others() bool {
	n := len(h.since)
	if h.alive(h.self) {
		n--
	}
	return n > 0
}

// counts returns how many alive members are Stable at now, and how many
// are held down.
func (h *holdDown) counts(now time.Time) (stable, held int) {
	for name := range h.since {
		if h.stable(name, now) {
			stable++
		}
	}
	return stable, len(h.since) - stable
}

// startOvers returns how many times self has started over after a
// partition.
func (h *holdDown) startOvers() int { return h.startedOver }

// starting reports whether self is in its start-up period at now.
func (h *holdDown) starting(now time.Time) bool {
	return !h.started.IsZero() && h.hold > 0 && now.Sub(h.started) < h.hold
}

// cutOff reports whether self has lost touch with half of the cluster or
// more: the alive members (self included) are no majority of the alive
// and lost ones. A cut-off node cannot tell "the others died" from "I was
// cut off", so it announces for everyone and keeps trying to rejoin the
// lost peers.
func (h *holdDown) cutOff() bool {
	return len(h.lost) > 0 && 2*len(h.since) <= len(h.since)+len(h.lost)
}

// verdict returns self's verdict at now: the lost peers, and the alive
// peers that are not Stable.
func (h *holdDown) verdict(now time.Time) verdict {
	var hashes, lost []uint32
	for name := range h.lost {
		hashes = append(hashes, nameHash(name))
		lost = append(lost, nameHash(name))
	}
	for name := range h.since {
		if name != h.self && !h.stable(name, now) {
			hashes = append(hashes, nameHash(name))
		}
	}
	v := verdict{starting: h.starting(now)}
	if len(hashes) > 0 {
		slices.Sort(hashes)
		slices.Sort(lost)
		v.outCount, v.outMin, v.outHashes, v.deadHashes = len(hashes), hashes[0], hashes, lost
	}
	return v
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

// next returns how long after now the next change made by the passing of
// time happens (an alive member becoming Stable, or self's start-up period
// ending), and false if none is waiting. (Becoming Stable by being alone
// happens on a transition, which the caller sees anyway.)
func (h *holdDown) next(now time.Time) (time.Duration, bool) {
	var wait time.Duration
	found := false
	consider := func(d time.Duration) {
		if !found || d < wait {
			wait, found = d, true
		}
	}
	for name, since := range h.since {
		if !h.stable(name, now) {
			consider(h.hold - now.Sub(since))
		}
	}
	if h.starting(now) {
		consider(h.hold - now.Sub(h.started))
	}
	return wait, found
}
