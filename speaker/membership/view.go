package membership

import (
	"net/netip"
	"slices"
	"strings"
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
}

func (a memberInfo) equal(b memberInfo) bool {
	return a.addr == b.addr && slices.Equal(a.subnets, b.subnets)
}

// view is the set of alive members, merged from two sources: memberlist
// (gossip) and Leases of nodes that run without memberlist (leased). It
// keeps the hold-down state, fires a timer when a member's hold-down ends,
// and signals every change on one coalescing channel.
//
// memberlist calls into the view while holding its own locks, so nothing
// here blocks or calls back into memberlist.
type view struct {
	mu      sync.Mutex
	gossip  map[string]memberInfo
	leased  map[string]memberInfo
	hold    *holdDown
	timer   *time.Timer
	stopped bool
	changed chan struct{}
	metrics *metrics
}

func newView(self string, hold time.Duration, mx *metrics) *view {
	return &view{
		gossip:  map[string]memberInfo{},
		leased:  map[string]memberInfo{},
		hold:    newHoldDown(self, hold),
		changed: make(chan struct{}, 1),
		metrics: mx,
	}
}

// setGossip records that memberlist sees name alive with info.
func (v *view) setGossip(name string, info memberInfo) {
	v.mu.Lock()
	defer v.mu.Unlock()
	old, ok := v.gossip[name]
	v.gossip[name] = info
	v.updateLocked(ok && old.equal(info))
}

// dropGossip records that memberlist sees name dead or gone.
func (v *view) dropGossip(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.gossip[name]; !ok {
		return
	}
	delete(v.gossip, name)
	v.updateLocked(false)
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
	n := len(v.hold.since)
	if v.hold.alive(v.hold.self) {
		n--
	}
	return n > 0
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
	out := make([]Member, 0, len(v.hold.since))
	for name := range v.hold.since {
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
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// updateLocked brings the hold-down state in line with the sources,
// signals a change unless unchanged says nothing moved, and re-arms the
// hold-down timer.
func (v *view) updateLocked(unchanged bool) {
	now := time.Now()
	for name := range v.hold.since {
		_, g := v.gossip[name]
		_, l := v.leased[name]
		if !g && !l {
			v.hold.down(name)
			v.metrics.changes.WithLabelValues("leave").Inc()
			unchanged = false
		}
	}
	for _, src := range []map[string]memberInfo{v.gossip, v.leased} {
		for name := range src {
			if v.hold.up(name, now) {
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
	select {
	case v.changed <- struct{}{}:
	default: // a signal is already pending; the reader will see this too
	}
	stable := 0
	for name := range v.hold.since {
		if v.hold.stable(name, now) {
			stable++
		}
	}
	v.metrics.members.WithLabelValues("stable").Set(float64(stable))
	v.metrics.members.WithLabelValues("holddown").Set(float64(len(v.hold.since) - stable))

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
