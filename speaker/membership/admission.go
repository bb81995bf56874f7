package membership

import (
	"net/netip"
	"time"
)

// Admission: memberlist trusts anyone who speaks its protocol (and holds
// the key, when gossip is encrypted), but a member's verdict can make every
// speaker start over, so a member counts only while the API server vouches
// for it. The rules, applied by the view to every member memberlist reports:
//
//   - Self always counts.
//   - Any other member needs a speaker Lease of its name whose memberlist
//     address is the member's, held by a node that is a Node: a host that
//     borrows a real node's name, or makes one up, has no such Lease, and
//     writing one takes the speakers' RBAC.
//   - The Lease must be fresh when the member is admitted: a Lease nobody
//     renews belongs to a speaker that is gone, and its name is free for
//     anyone to borrow.
//   - Once admitted, a member stays while memberlist keeps it alive and its
//     Lease still names its address, even if the Lease goes stale: that is
//     what a speaker cut off from the API server looks like, and it must keep
//     counting (it keeps announcing what it had, and the others must agree).
//     A Lease that disappears or names another address, or a Node that is
//     deleted, evicts it.
//   - A member that does not count is ignored entirely: not alive, its
//     metadata and verdict unread. It is pending, not refused: the view
//     re-checks it whenever the Leases are listed again, so a new node whose
//     memberlist join arrives before its Lease reaches us is admitted a
//     moment later, and its hold-down starts then.

// Reasons a member does not count, the reason label of
// portico_speaker_members_rejected_total.
const (
	rejectNoLease      = "no-lease"
	rejectStaleLease   = "stale-lease"
	rejectAddrMismatch = "addr-mismatch"
	rejectNotNode      = "not-a-node"
)

// record is what the last listing of the speakers' records says about one
// node, for admitting its memberlist member.
type record struct {
	addr  netip.AddrPort // memberlist address; invalid when it runs without
	fresh bool
	node  bool // a Node of this name exists
}

// records builds the admission table from a complete listing and the
// fresh subset of it.
func records(all, fresh []peer) map[string]record {
	isFresh := make(map[string]bool, len(fresh))
	for _, p := range fresh {
		isFresh[p.Name] = true
	}
	out := make(map[string]record, len(all))
	for _, p := range all {
		out[p.Name] = record{addr: p.Addr, fresh: isFresh[p.Name], node: !p.NotNode}
	}
	return out
}

// admission returns why the member name at addr does not count, or "" if
// it does. admitted says whether it counts now; see the rules above.
func admission(self, name string, addr netip.AddrPort, admitted bool, recs map[string]record) string {
	if name == self {
		return ""
	}
	r, ok := recs[name]
	switch {
	case !ok:
		return rejectNoLease
	case !r.node:
		return rejectNotNode
	case r.addr != addr:
		return rejectAddrMismatch
	case !r.fresh && !admitted:
		return rejectStaleLease
	}
	return ""
}

// rejectLogEvery limits the log lines about one rejected member; the
// metric counts every rejection.
const rejectLogEvery = time.Minute

// maxRejectLog bounds the names remembered for rate-limiting: the names
// come from the network.
const maxRejectLog = 1024

// rejectLog decides which rejections are logged: one line per member and
// reason per rejectLogEvery.
type rejectLog map[string]time.Time

func (l rejectLog) allow(name, reason string, now time.Time) bool {
	key := reason + "/" + name
	if at, ok := l[key]; ok && now.Sub(at) < rejectLogEvery {
		return false
	}
	if len(l) >= maxRejectLog {
		clear(l)
	}
	l[key] = now
	return true
}
