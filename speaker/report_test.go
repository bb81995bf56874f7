package speaker

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker/election"
)

// The elected node says whether it announces an address; when layer 2
// placed it on no interface it says Announced=False and why, naming itself,
// rather than claiming an announcement nobody makes.
func TestAnnouncedCondition(t *testing.T) {
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
			var got cond
			got.Status, got.Reason, got.Msg, got.Mine = announcedCondition(tt.a, "node-1", []string{"node-1"}, tt.unplaced)
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
