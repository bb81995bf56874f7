package election_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/election"
)

// Desire gives every node the addresses it is elected for and those it may
// announce: eligible means one of the alive nodes the winner was chosen
// among, so a node that is dead, excluded or without a ready endpoint for a
// Local Service is not, and the winner always is.
func TestDesire(t *testing.T) {
	cfg := buildConfig(t, testPools, []v1beta1.L2Advertisement{
		l2("zone-a", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public"}, Interfaces: []string{"eth0"},
			NodeSelectors: []metav1.LabelSelector{sel("zone", "a")}}),
		l2("private", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"private"}}),
	})
	pub, local, priv, lonely := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("203.0.113.1")
	in := election.Input{Config: cfg, Nodes: dead(zoned(), "node-3"), Services: []election.Service{
		{Key: "a/pub", IPs: []netip.Addr{pub}},
		{Key: "a/local", IPs: []netip.Addr{local}, LocalOnly: true, ReadyNodes: []string{"node-2"}},
		{Key: "a/priv", IPs: []netip.Addr{priv}},
		{Key: "a/lonely", IPs: []netip.Addr{lonely}},
	}}
	as := election.Elect(in)
	won := winners(as)
	for _, node := range []string{"node-1", "node-2", "node-3"} {
		t.Run(node, func(t *testing.T) {
			gotAs, got := election.Desire(in, node)
			if d := cmp.Diff(as, gotAs, cmpAddr); d != "" {
				t.Errorf("Desire's announcements differ from Elect's (-Elect +Desire):\n%s", d)
			}
			want := announce.Desired{}
			if node != "node-3" { // dead: eligible for nothing
				// zone a: node-1 and node-2 on eth0.
				want[pub] = announce.Want{Elected: won[pub] == node, Eligible: true, Interfaces: []string{"eth0"}}
				want[priv] = announce.Want{Elected: won[priv] == node, Eligible: true}
			}
			if node == "node-2" { // the only ready endpoint
				want[local] = announce.Want{Elected: true, Eligible: true, Interfaces: []string{"eth0"}}
			}
			if d := cmp.Diff(want, got, cmpAddr); d != "" {
				t.Errorf("Desire (-want +got):\n%s", d)
			}
			for ip, w := range got.Elected() {
				if won[ip] != node {
					t.Errorf("Elected() holds %s (%v), which %s won", ip, w, won[ip])
				}
			}
		})
	}
}
