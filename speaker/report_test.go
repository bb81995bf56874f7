package speaker

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/election"
)

// The elected node says whether it announces an address; when layer 2
// placed it on no interface it says Announced=False and why, naming itself,
// rather than claiming an announcement nobody makes.
func TestAnnouncedConditionType(t *testing.T) {
	ip := netip.MustParseAddr("203.0.113.7")
	unplaced := map[netip.Addr]string{ip: "no Ethernet interface has a subnet containing it"}
	type cond struct {
		Status      metav1.ConditionStatus
		Reason, Msg string
		Mine        bool
	}
	tests := []struct {
		name     string
		a        election.Announcement
		unplaced map[netip.Addr]string
		want     cond
	}{{
		name: "elected and placed",
		a:    election.Announcement{IP: ip, Node: "node-1"},
		want: cond{metav1.ConditionTrue, "Announced", "203.0.113.7 is announced by node node-1 (ARP/NDP on any interface on its subnet)", true},
	}, {
		name:     "elected, on no interface",
		a:        election.Announcement{IP: ip, Node: "node-1"},
		unplaced: unplaced,
		want: cond{metav1.ConditionFalse, v1beta1.ReasonNoInterface,
			"203.0.113.7 is not announced: node node-1 is elected to announce it, but no Ethernet interface has a subnet containing it on node node-1", true},
	}, {
		name:     "another node is elected: its report",
		a:        election.Announcement{IP: ip, Node: "node-2"},
		unplaced: unplaced,
	}, {
		name: "no node eligible, this one reports",
		a:    election.Announcement{IP: ip, Reason: "no L2Advertisement covers it"},
		want: cond{metav1.ConditionFalse, "NotAnnounced", "203.0.113.7 is not announced: no L2Advertisement covers it", true},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What layer 2 reports: node-1's address answered, unless placed
			// on no interface.
			st := map[netip.Addr]announce.Status{}
			if tt.a.Node == "node-1" {
				st[tt.a.IP] = announce.Status{Announced: true, Method: "ARP/NDP", Interfaces: tt.a.Interfaces}
				if why, ok := tt.unplaced[tt.a.IP]; ok {
					st[tt.a.IP] = announce.Status{Method: "ARP/NDP", Interfaces: tt.a.Interfaces, Why: why}
				}
			}
			var got cond
			c, reason, mine := announcedCondition(tt.a, "node-1", []string{"node-1"}, st)
			if mine {
				got = cond{conditionStatus(c.Announced), reason, c.String(), true}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("announcedCondition (-want +got):\n%s", d)
			}
		})
	}
}

// An address is reported on no interface only once it stayed there for
// noInterfaceGrace; one placed again in between starts over.
func TestSettledUnplaced(t *testing.T) {
	a, b := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7")
	s := &Speaker{unplacedSince: map[netip.Addr]time.Time{}}
	t0 := time.Unix(1000, 0)
	both := map[netip.Addr]string{a: "why a", b: "why b"}
	steps := []struct {
		at       time.Duration
		unplaced map[netip.Addr]string
		want     map[netip.Addr]string
	}{
		{0, both, map[netip.Addr]string{}},
		{noInterfaceGrace - time.Millisecond, both, map[netip.Addr]string{}},
		{noInterfaceGrace, map[netip.Addr]string{a: "why a"}, map[netip.Addr]string{a: "why a"}}, // b placed again
		{noInterfaceGrace + time.Second, both, map[netip.Addr]string{a: "why a"}},                // b starts over
		{2*noInterfaceGrace + time.Second, both, both},
	}
	for i, st := range steps {
		if d := cmp.Diff(st.want, s.settledUnplaced(st.unplaced, t0.Add(st.at))); d != "" {
			t.Errorf("step %d (+%v) (-want +got):\n%s", i, st.at, d)
		}
	}
}

// TestAnnouncedEvent: an Event says who announces, so it is recorded for a
// new condition, a changed status, another announcing node or another
// reason not to announce, and never for a rewrite by the same node (its
// interfaces changed, say). The old condition is parsed, not searched.
func TestAnnouncedEvent(t *testing.T) {
	ip := netip.MustParseAddr("2001:db8::7")
	by := func(node string, ifaces ...string) v1beta1.AnnouncedMessage {
		return v1beta1.AnnouncedMessage{IP: ip, Announced: true, Node: node, Method: "ARP/NDP", Interfaces: ifaces}
	}
	none := v1beta1.AnnouncedMessage{IP: ip, Why: "no alive node is eligible"}
	noIface := v1beta1.AnnouncedMessage{IP: ip, Node: "node-1", Why: "no Ethernet interface has a subnet containing it"}
	old := func(c v1beta1.AnnouncedMessage) *metav1.Condition {
		return &metav1.Condition{Type: v1beta1.ServiceConditionAnnouncedIPv6, Status: conditionStatus(c.Announced), Message: c.String()}
	}
	type event struct{ Type, Reason string }
	for _, tt := range []struct {
		name   string
		old    *metav1.Condition
		c      v1beta1.AnnouncedMessage
		reason string
		want   *event
	}{
		{"first announcement", nil, by("node-1"), v1beta1.ReasonAnnounced, &event{"Normal", v1beta1.ReasonAnnouncerChanged}},
		{"taken over from another node", old(by("node-2")), by("node-1"), v1beta1.ReasonAnnounced, &event{"Normal", v1beta1.ReasonAnnouncerChanged}},
		{"a node whose name contains the other's", old(by("node-1")), by("node-10"), v1beta1.ReasonAnnounced, &event{"Normal", v1beta1.ReasonAnnouncerChanged}},
		{"same node, other interfaces", old(by("node-1")), by("node-1", "eth0"), v1beta1.ReasonAnnounced, nil},
		{"same node, same message", old(by("node-1")), by("node-1"), v1beta1.ReasonAnnounced, nil},
		{"announced again after none", old(none), by("node-1"), v1beta1.ReasonAnnounced, &event{"Normal", v1beta1.ReasonAnnouncerChanged}},
		{"an old message in another form", &metav1.Condition{Status: metav1.ConditionTrue, Message: "announced somewhere"}, by("node-1"), v1beta1.ReasonAnnounced, &event{"Normal", v1beta1.ReasonAnnouncerChanged}},
		{"no longer announced", old(by("node-1")), none, v1beta1.ReasonNotAnnounced, &event{"Warning", v1beta1.ReasonNotAnnounced}},
		{"first report: not announced", nil, none, v1beta1.ReasonNotAnnounced, &event{"Warning", v1beta1.ReasonNotAnnounced}},
		{"elected, on no interface", old(by("node-1")), noIface, v1beta1.ReasonNoInterface, &event{"Warning", v1beta1.ReasonNoInterface}},
		{"another reason not to announce", old(none), noIface, v1beta1.ReasonNoInterface, &event{"Warning", v1beta1.ReasonNoInterface}},
		{"the same reason again", old(none), none, v1beta1.ReasonNotAnnounced, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got *event
			if typ, reason, ok := announcedEvent(tt.old, tt.c, tt.reason); ok {
				got = &event{typ, reason}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("announcedEvent (-want +got):\n%s", d)
			}
		})
	}
}

// TestSettle: an address an announcer does not announce counts as announced
// until it has stayed so for noInterfaceGrace, so the condition does not
// flap with a link; announced ones pass through.
func TestSettle(t *testing.T) {
	a, b := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("203.0.113.8")
	s := &Speaker{unplacedSince: map[netip.Addr]time.Time{}}
	t0 := time.Unix(1000, 0)
	st := map[netip.Addr]announce.Status{
		a: {Announced: true, Method: "ARP/NDP", Interfaces: []string{"eth0"}},
		b: {Method: "ARP/NDP", Why: "no Ethernet interface has a subnet containing it"},
	}
	grace := map[netip.Addr]announce.Status{a: st[a], b: {Announced: true, Method: "ARP/NDP"}}
	if d := cmp.Diff(grace, s.settle(st, t0)); d != "" {
		t.Errorf("within the grace (-want +got):\n%s", d)
	}
	if d := cmp.Diff(st, s.settle(st, t0.Add(noInterfaceGrace))); d != "" {
		t.Errorf("after the grace (-want +got):\n%s", d)
	}
}
