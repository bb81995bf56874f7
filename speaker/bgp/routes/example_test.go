package routes_test

import (
	"fmt"
	"net/netip"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/bgp/routes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// One pool, an iBGP and an eBGP peer, one advertisement with a community
// and a local preference: the eBGP peer gets the route without it.
func ExampleFor() {
	lp := int64(150)
	cfg, _ := config.For(config.ClusterResources{
		Pools: []v1beta1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"192.0.2.0/24"}}}},
		BGPPeers: []v1beta1.BGPPeer{
			{ObjectMeta: metav1.ObjectMeta{Name: "core"}, Spec: v1beta1.BGPPeerSpec{MyASN: 64512, PeerASN: 64512, PeerAddress: "10.0.0.1"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "isp"}, Spec: v1beta1.BGPPeerSpec{MyASN: 64512, PeerASN: 65001, PeerAddress: "10.0.0.2"}},
		},
		BGPAdvertisements: []v1beta1.BGPAdvertisement{{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: v1beta1.BGPAdvertisementSpec{LocalPref: &lp, Communities: []string{"65000:100"}}}},
	})
	desired := announce.Desired{netip.MustParseAddr("192.0.2.10"): {Eligible: true}}
	plan := routes.For(cfg, routes.Node{Name: "node-1"}, desired)
	for _, peer := range []string{"core", "isp"} {
		for _, r := range plan[peer] {
			fmt.Printf("%s: %s communities=%v localPref=%v/%d ignored=%v\n",
				peer, r.Prefix, r.Communities, r.HasLocalPref, r.LocalPref, r.LocalPrefIgnored)
		}
	}
	// Output:
	// core: 192.0.2.10/32 communities=[4259840100] localPref=true/150 ignored=false
	// isp: 192.0.2.10/32 communities=[4259840100] localPref=false/0 ignored=true
}
