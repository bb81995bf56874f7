package speaker

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/bgp"
	"github.com/portico-lb/portico/speaker/election"
)

// An address only BGP announces is reported by the election's BGPNode, from
// what its own sessions say; every other node leaves it alone, and the
// layer 2 winner among the alive nodes does not speak for it.
func TestAnnouncedConditionBGP(t *testing.T) {
	if bgp.Method != v1beta1.MethodBGP {
		t.Fatalf("bgp.Method %q differs from v1beta1.MethodBGP %q: the condition would not say BGP", bgp.Method, v1beta1.MethodBGP)
	}
	ip := netip.MustParseAddr("198.51.100.7")
	a := election.Announcement{IP: ip, BGPNode: "node-1"}
	type cond struct {
		Status      metav1.ConditionStatus
		Reason, Msg string
		Mine        bool
	}
	for _, tt := range []struct {
		name string
		node string
		st   map[netip.Addr]announce.Status
		want cond
	}{{
		name: "a session carries it",
		node: "node-1",
		st:   map[netip.Addr]announce.Status{ip: {Announced: true, Method: bgp.Method}},
		want: cond{metav1.ConditionTrue, v1beta1.ReasonAnnounced, "198.51.100.7 is announced over BGP by every eligible node, node node-1 among them", true},
	}, {
		name: "no session up",
		node: "node-1",
		st:   map[netip.Addr]announce.Status{ip: {Method: bgp.Method, Why: "no BGP session that carries it is established (peer tor is Active)"}},
		want: cond{metav1.ConditionFalse, v1beta1.ReasonNotAnnounced,
			"198.51.100.7 is not announced: no BGP session that carries it is established (peer tor is Active) on node node-1", true},
	}, {
		name: "no peer is sent it",
		node: "node-1",
		want: cond{metav1.ConditionFalse, v1beta1.ReasonNotAnnounced,
			"198.51.100.7 is not announced: no BGP peer of node node-1 is sent it (see the BGPAdvertisements' peers and nodeSelectors)", true},
	}, {
		name: "another node speaks for it",
		node: "node-2",
		st:   map[netip.Addr]announce.Status{ip: {Announced: true, Method: bgp.Method}},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			var got cond
			// node-2 would be the layer 2 winner among the alive: it must
			// not report "not announced".
			if c, reason, mine := announcedCondition(a, tt.node, []string{tt.node}, tt.st); mine {
				got = cond{conditionStatus(c.Announced), reason, c.String(), true}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("announcedCondition (-want +got):\n%s", d)
			}
		})
	}
}
