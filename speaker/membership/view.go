package membership

import (
	"github.com/go-logr/logr"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Member is one alive speaker.
type Member struct {
	// Name is the node name.
	Name string
	// Addr is the memberlist address. It is invalid for a node that runs
	// without memberlist and is known only through its Lease.
	Addr netip.AddrPort
	// Subnets are the node's CIDRs, as that node published them.
	Subnets []netip.Prefix
	// Stable reports that the member is past its hold-down; see
	// Config.HoldDown. Elect announcing nodes among Stable members only.
	Stable bool
}

// memberInfo is what a source says about one alive member.
type memberInfo struct {
	addr    netip.AddrPort
	subnets []netip.Prefix
	verdict verdict // as the member published it
}

func (a memberInfo) equal(b memberInfo) bool {
	return a.addr == b.addr && a.verdict.equal(b.verdict) && slices.Equal(a.subnets, b.subnets)
}

// view is the set of alive members, merged from two sources: memberlist
// (gossip) and Leases of nodes that run without memberlist (leased). The
// two maps say what each source reports about a member (address, subnets,
// verdict); who is alive, and since when, is holdDown's alone: updateLocked
// brings it in line with the sources, and every question about the alive
// set goes to it. The view fires a timer when a member's hold-down ends,
// and signals every change on one coalescing channel. It also keeps self's
// verdict on the others, which memberlist publishes: a change is signalled
// on a second channel, since memberlist must be told outside its own
// callbacks.
//
// memberlist calls into the view while holding its own locks, so nothing
// here blocks or calls back into memberlist.
type view struct {
	mu     sync.Mutex
	self   string
	gossip map[string]memberInfo // admitted memberlist members
	// pending holds the memberlist members that do not count (see
	// admission.go), with why; records is the admission table.
	pending map[string]pendingMember
	records map[string]record
	listed  bool // records holds a listing (before the first, every peer is pending, and that is no news)
	rejects rejectLog
	// recheck signals that a member is pending, so the records are worth
	// listing again soon. republish signals that self started over, so its
	// own record is worth renewing now: after a long cut-off it has gone
	// stale, and the others admit self again only once it is fresh: the
	// sooner, the closer their hold-down for self is to self's own.
	recheck   chan struct{}
	republish chan struct{}
	leased    map[string]memberInfo
	hold      *holdDown
	timer     *time.Timer
	stopped   bool
	changed   chan struct{}
	metrics   *metrics
	// verdict is self's verdict as last computed; verdictChanged signals
	// that it changed.
	verdict        verdict
	verdictChanged chan struct{}
	log            logr.Logger
}

// pendingMember is a memberlist member that does not count, and why.
type pendingMember struct {
	info   memberInfo
	reason string
}

func newView(self string, hold time.Duration, mx *metrics, logger logr.Logger) *view {
	return &view{
		self:           self,
		gossip:         map[string]memberInfo{},
		pending:        map[string]pendingMember{},
		records:        map[string]record{},
		rejects:        rejectLog{},
		recheck:        make(chan struct{}, 1),
		republish:      make(chan struct{}, 1),
		leased:         map[string]memberInfo{},
		hold:           newHoldDown(self, hold),
		changed:        make(chan struct{}, 1),
		metrics:        mx,
		verdictChanged: make(chan struct{}, 1),
		log:            logger,
	}
}

// setGossip records that memberlist sees name alive with info. A member
// that does not count (see admission.go) is kept pending instead.
func (v *view) setGossip(name string, info memberInfo) {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, admitted := v.gossip[name]
	if reason := admission(v.self, name, info.addr, admitted, v.records); reason != "" {
		if v.reject(name, info, reason) {
			v.updateLocked(false)
		}
		return
	}
	delete(v.pending, name)
	v.admitLocked(name, info)
}

// reject keeps name pending for reason, and reports whether that evicted
// it (it counted until now). Only a new reason is counted and logged: a
// pending member that keeps changing its metadata is not news.
func (v *view) reject(name string, info memberInfo, reason string) (evicted bool) {
	old, was := v.pending[name]
	v.pending[name] = pendingMember{info: info, reason: reason}
	_, evicted = v.gossip[name]
	delete(v.gossip, name)
	if was && old.reason == reason || !v.listed {
		if !v.listed {
			v.signalRecheck()
		}
		return evicted
	}
	v.metrics.rejected.WithLabelValues(reason).Inc()
	rec, known := v.records[name]
	if v.rejects.allow(name, reason, time.Now()) {
		v.log.Info("ignoring a memberlist member that is not a known speaker: it needs a fresh speaker Lease of its name, held by a Node, with its memberlist address",
			"member", name, "addr", info.addr, "reason", reason, "leaseAddr", rec.addr, "leaseKnown", known, "evicted", evicted)
	}
	v.signalRecheck()
	return evicted
}

func (v *view) signalRecheck() { signal(v.recheck) }

// signal sends on a coalescing channel of one without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// admitLocked records name, which counts, as alive with info.
func (v *view) admitLocked(name string, info memberInfo) {
	old, ok := v.gossip[name]
	v.gossip[name] = info
	if ok && !old.verdict.equal(info.verdict) && v.hold.observe(name, info.verdict, time.Now()) {
		v.metrics.changes.WithLabelValues("start-over").Inc()
		signal(v.republish)
		v.log.Info("a peer counts this node dead although this node saw nobody die (it was frozen?); starting over with a hold-down", "member", name)
		v.updateLocked(false)
		return
	}
	v.updateLocked(ok && old.equal(info))
}

// dropGossip records that memberlist sees name dead (died) or gone after
// leaving.
func (v *view) dropGossip(name string, died bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.pending, name)
	info, ok := v.gossip[name]
	if !ok {
		return
	}
	delete(v.gossip, name)
	if _, leased := v.leased[name]; !leased {
		var gone bool
		if died {
			gone = v.hold.died(name, info.addr)
		} else {
			gone = v.hold.down(name)
		}
		if gone {
			v.metrics.changes.WithLabelValues("leave").Inc()
		}
	}
	v.updateLocked(false)
}

// setRecords replaces the admission table with what a complete listing of
// the records says, and applies it: pending members that now count are
// admitted, admitted members that no longer count are evicted.
func (v *view) setRecords(recs map[string]record) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.records, v.listed = recs, true
	changed := false
	for name, info := range v.gossip {
		if reason := admission(v.self, name, info.addr, true, recs); reason != "" {
			changed = v.reject(name, info, reason) || changed
		}
	}
	for name, p := range v.pending {
		if admission(v.self, name, p.info.addr, false, recs) == "" {
			delete(v.pending, name)
			v.log.Info("memberlist member admitted: its speaker Lease is here now", "member", name, "addr", p.info.addr)
			v.gossip[name] = p.info
			changed = true
		}
	}
	if changed {
		v.updateLocked(false)
	}
}

// waiting reports whether a memberlist member is pending.
func (v *view) waiting() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.pending) > 0
}

// keepLost forgets the lost peers that keep does not report as still
// part of the cluster (their Lease expired or was withdrawn).
func (v *view) keepLost(keep func(name string) bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.hold.forgetLost(keep) {
		v.updateLocked(false)
	}
}

// cutOff reports whether self is cut off (see holdDown) and, if so, the
// memberlist addresses of the peers it lost.
func (v *view) cutOff() (bool, []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.hold.cutOff() {
		return false, nil
	}
	return true, v.hold.lostAddrs()
}

// published returns self's verdict as last computed.
func (v *view) published() verdict {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.verdict
}

// setLeased replaces the members known only through their Leases.
func (v *view) setLeased(members map[string]memberInfo) {
	v.mu.Lock()
	defer v.mu.Unlock()
	same := len(members) == len(v.leased)
	for name, info := range members {
		if old, ok := v.leased[name]; !ok || !old.equal(info) {
			same = false
		}
	}
	v.leased = members
	v.updateLocked(same)
}

// settle records that discovery has settled (see holdDown).
func (v *view) settle() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.hold.settle() {
		v.updateLocked(false)
	}
}

// others reports whether any member besides self is alive.
func (v *view) others() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.hold.others()
}

// alive reports whether name is alive.
func (v *view) alive(name string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.hold.alive(name)
}

// members returns the alive members sorted by name, Stable as of now.
func (v *view) members() []Member {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.membersLocked(time.Now())
}

func (v *view) membersLocked(now time.Time) []Member {
	alive := v.hold.members()
	out := make([]Member, 0, len(alive))
	for _, name := range alive {
		info, ok := v.gossip[name]
		if !ok {
			info = v.leased[name]
		}
		out = append(out, Member{
			Name:    name,
			Addr:    info.addr,
			Subnets: slices.Clone(info.subnets),
			Stable:  v.hold.stable(name, now),
		})
	}
	return out
}

// updateLocked brings the hold-down state in line with the sources,
// signals a change unless unchanged says nothing moved, and re-arms the
// hold-down timer.
func (v *view) updateLocked(unchanged bool) {
	now := time.Now()
	if gone := v.hold.keepOnly(func(name string) bool {
		_, g := v.gossip[name]
		_, l := v.leased[name]
		return g || l
	}); gone > 0 {
		v.metrics.changes.WithLabelValues("leave").Add(float64(gone))
		unchanged = false
	}
	for _, src := range []map[string]memberInfo{v.gossip, v.leased} {
		for name, info := range src {
			startedOver := v.hold.startOvers()
			if v.hold.up(name, info.verdict, now) {
				if v.hold.startOvers() != startedOver {
					v.metrics.changes.WithLabelValues("start-over").Inc()
					signal(v.republish)
					v.log.Info("back in touch with a larger side that counted this node out; starting over with a hold-down", "member", name)
				}
				v.metrics.changes.WithLabelValues("join").Inc()
				unchanged = false
			}
		}
	}
	if unchanged {
		return
	}
	v.notifyLocked(now)
}

// notifyLocked signals a change, refreshes the gauges and re-arms the
// timer for the next hold-down expiry.
func (v *view) notifyLocked(now time.Time) {
	if v.stopped {
		return
	}
	if vd := v.hold.verdict(now); !vd.equal(v.verdict) {
		v.verdict = vd
		select {
		case v.verdictChanged <- struct{}{}:
		default:
		}
	}
	select {
	case v.changed <- struct{}{}:
	default: // a signal is already pending; the reader will see this too
	}
	stable, held := v.hold.counts(now)
	v.metrics.members.WithLabelValues("stable").Set(float64(stable))
	v.metrics.members.WithLabelValues("holddown").Set(float64(held))

	if v.timer != nil {
		v.timer.Stop()
		v.timer = nil
	}
	if wait, ok := v.hold.next(now); ok {
		v.timer = time.AfterFunc(wait, v.expire)
	}
}

// expire runs when a hold-down ends.
func (v *view) expire() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.notifyLocked(time.Now())
}

// stop disarms the timer; the view sends no more signals.
func (v *view) stop() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stopped = true
	if v.timer != nil {
		v.timer.Stop()
		v.timer = nil
	}
}
