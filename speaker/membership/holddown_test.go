package membership

import (
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
)

// The hold-down tests run in a synctest bubble: time.Sleep advances a fake
// clock at once, so the timings are exact and nothing really waits.

func TestHoldDownPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHoldDown("self", 3*time.Second)
		h.up("self", verdict{}, time.Now())
		h.settle()
		time.Sleep(10 * time.Second) // self is long past its own hold-down

		if !h.up("b", verdict{}, time.Now()) {
			t.Fatal("up(b) did not report a new member")
		}
		if h.stable("b", time.Now()) {
			t.Fatal("b stable right after joining")
		}
		if d, ok := h.next(time.Now()); !ok || d != 3*time.Second {
			t.Fatalf("next = %v, %v; want 3s", d, ok)
		}
		time.Sleep(3*time.Second - time.Nanosecond)
		if h.stable("b", time.Now()) {
			t.Fatal("b stable before its hold-down ended")
		}
		time.Sleep(time.Nanosecond)
		if !h.stable("b", time.Now()) {
			t.Fatal("b not stable when its hold-down ended")
		}
		if _, ok := h.next(time.Now()); ok {
			t.Fatal("next reports a wait with everyone stable")
		}

		// A repeated up (memberlist metadata update) keeps the clock.
		if h.up("b", verdict{}, time.Now()) || !h.stable("b", time.Now()) {
			t.Fatal("a second up restarted b's hold-down")
		}
		// A flap restarts it.
		if !h.died("b", netip.AddrPort{}) || h.died("b", netip.AddrPort{}) {
			t.Fatal("down did not report exactly one transition")
		}
		if h.stable("b", time.Now()) || h.alive("b") {
			t.Fatal("b stable or alive while down")
		}
		h.up("b", verdict{}, time.Now())
		time.Sleep(2 * time.Second)
		if h.stable("b", time.Now()) {
			t.Fatal("b stable 2s after rejoining")
		}
		if d, _ := h.next(time.Now()); d != time.Second {
			t.Fatalf("next = %v, want 1s", d)
		}
		time.Sleep(time.Second)
		if !h.stable("b", time.Now()) {
			t.Fatal("b not stable 3s after rejoining")
		}
	})
}

func TestHoldDownSelf(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHoldDown("self", 3*time.Second)
		h.up("self", verdict{}, time.Now())

		// Alone, but discovery has not settled: we may just not have
		// joined the others yet, so no shortcut.
		if h.stable("self", time.Now()) {
			t.Fatal("self stable before discovery settled")
		}
		// Settled and alone: no point waiting.
		if !h.settle() || h.settle() {
			t.Fatal("settle did not report exactly one transition")
		}
		if !h.stable("self", time.Now()) {
			t.Fatal("self not stable while settled and alone")
		}
		// Someone else appears within our own hold-down: we wait, since
		// they do not count us yet either; they were there first, so they
		// count as established at once (else self, whose clock started
		// first, would be the only Stable member for a moment).
		time.Sleep(time.Second)
		h.up("b", verdict{}, time.Now())
		if h.stable("self", time.Now()) {
			t.Fatal("self stable within its hold-down while another node is alive")
		}
		if !h.stable("b", time.Now()) {
			t.Fatal("b, seen during self's start-up, is not established")
		}
		// Self's clock restarted on first contact: b started it just now.
		if d, _ := h.next(time.Now()); d != 3*time.Second {
			t.Fatalf("next = %v, want 3s (self's clock restarts when it first meets a peer)", d)
		}
		// The other node goes: alone again, stable again at once.
		h.died("b", netip.AddrPort{})
		if !h.stable("self", time.Now()) {
			t.Fatal("self not stable once alone again")
		}
		// After self's start-up, a node that comes back gets a hold-down.
		time.Sleep(4 * time.Second)
		h.up("b", verdict{}, time.Now())
		time.Sleep(2 * time.Second)
		want := map[string]bool{"self": true, "b": false}
		got := map[string]bool{"self": h.stable("self", time.Now()), "b": h.stable("b", time.Now())}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("stable (-want +got):\n%s", diff)
		}
	})
}

func TestHoldDownDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHoldDown("self", -1)
		h.up("self", verdict{}, time.Now())
		h.up("b", verdict{}, time.Now())
		if !h.stable("self", time.Now()) || !h.stable("b", time.Now()) {
			t.Fatal("members not stable at once with hold-down disabled")
		}
		if _, ok := h.next(time.Now()); ok {
			t.Fatal("next reports a wait with hold-down disabled")
		}
		if h.stable("c", time.Now()) {
			t.Fatal("a member that is not alive is stable")
		}
	})
}

// TestViewSignalsHoldDownExpiry checks the timer: Changed fires when a
// member's hold-down ends, exactly then, with nothing else happening.
func TestViewSignalsHoldDownExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newView("self", 3*time.Second, newMetrics(func() float64 { return 0 }), logr.Discard())
		defer v.stop()
		v.setRecords(map[string]record{"b": {fresh: true, node: true}}) // b is a known speaker
		v.setGossip("self", memberInfo{})
		v.settle()
		<-v.changed
		time.Sleep(5 * time.Second)

		start := time.Now()
		v.setGossip("b", memberInfo{})
		<-v.changed // the join
		if got := stableNames(v.members()); !cmp.Equal(got, []string{"self"}) {
			t.Fatalf("stable after join = %v", got)
		}
		<-v.changed // the hold-down expiry
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("expiry signalled after %v, want 3s", d)
		}
		if got := stableNames(v.members()); !cmp.Equal(got, []string{"b", "self"}) {
			t.Fatalf("stable after expiry = %v", got)
		}

		// An unchanged update signals nothing; a new subnet does.
		v.setGossip("b", memberInfo{})
		synctest.Wait()
		select {
		case <-v.changed:
			t.Fatal("signal for an update that changed nothing")
		default:
		}
		v.setLeased(map[string]memberInfo{})
		synctest.Wait()
		select {
		case <-v.changed:
			t.Fatal("signal for an empty lease set that changed nothing")
		default:
		}
	})
}

func TestViewMergesSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newView("self", -1, newMetrics(func() float64 { return 0 }), logr.Discard())
		defer v.stop()
		gossiped := memberInfo{addr: mustAddrPort("192.0.2.2:7946")}
		v.setRecords(map[string]record{"b": {addr: gossiped.addr, fresh: true, node: true}})
		v.setGossip("self", memberInfo{addr: mustAddrPort("192.0.2.1:7946")})
		v.setGossip("b", gossiped)
		v.setLeased(map[string]memberInfo{"b": {}, "c": {subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}})
		want := []Member{
			{Name: "b", Addr: gossiped.addr, Stable: true}, // gossip wins
			{Name: "c", Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}, Stable: true},
			{Name: "self", Addr: mustAddrPort("192.0.2.1:7946"), Stable: true},
		}
		if diff := cmp.Diff(want, v.members(), netipCmp); diff != "" {
			t.Fatalf("members (-want +got):\n%s", diff)
		}
		// b stays alive while either source has it.
		v.dropGossip("b", true)
		if !v.alive("b") {
			t.Fatal("b gone although its Lease is fresh")
		}
		v.setLeased(nil)
		if v.alive("b") || v.alive("c") || v.others() {
			t.Fatalf("members after both sources dropped them: %v", v.members())
		}
	})
}

func stableNames(ms []Member) []string {
	var out []string
	for _, m := range ms {
		if m.Stable {
			out = append(out, m.Name)
		}
	}
	return out
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestHoldDownLost: a peer that died is lost, with its address for
// rejoining, until it comes back or is forgotten; one that left is not.
func TestHoldDownLost(t *testing.T) {
	now := time.Unix(1000, 0)
	h := newHoldDown("self", 3*time.Second)
	for _, n := range []string{"self", "b", "c", "d"} {
		h.up(n, verdict{}, now)
	}
	at := mustAddrPort("192.0.2.2:7946")
	h.died("b", at)
	h.died("c", netip.AddrPort{}) // address unknown: lost, not rejoinable
	h.down("d")                   // left
	if got := h.lostAddrs(); !slices.Equal(got, []string{at.String()}) {
		t.Fatalf("lostAddrs = %v, want [%v]", got, at)
	}
	if !h.cutOff() {
		t.Fatal("not cut off with 2 of 3 peers lost")
	}
	h.up("b", verdict{}, now)
	if got := h.lostAddrs(); len(got) != 0 {
		t.Fatalf("lostAddrs after b came back = %v", got)
	}
	if !h.forgetLost(func(name string) bool { return name != "c" }) || h.forgetLost(func(string) bool { return false }) || h.cutOff() {
		t.Fatal("forgetLost did not drop c exactly once")
	}
}
