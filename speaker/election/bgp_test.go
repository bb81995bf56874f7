package election_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/election"
)

// bgpConfig builds a model with testPools, the L2Advertisements l2s and a
// BGPAdvertisement of each pool in bgpPools, to one peer.
func bgpConfig(t *testing.T, l2s []v1beta1.L2Advertisement, bgpPools ...string) *config.Config {
	t.Helper()
	res := config.ClusterResources{Pools: testPools, L2Advertisements: l2s,
		BGPPeers: []v1beta1.BGPPeer{{ObjectMeta: metav1.ObjectMeta{Name: "tor"},
			Spec: v1beta1.BGPPeerSpec{MyASN: 64513, PeerASN: 64512, PeerAddress: "10.0.0.1"}}}}
	for _, p := range bgpPools {
		res.BGPAdvertisements = append(res.BGPAdvertisements, v1beta1.BGPAdvertisement{
			ObjectMeta: metav1.ObjectMeta{Name: "bgp-" + p},
			Spec:       v1beta1.BGPAdvertisementSpec{IPAddressPools: []string{p}, Peers: []string{"tor"}}})
	}
	cfg, problems := config.For(res)
	for _, p := range problems {
		if !p.Warning {
			t.Fatalf("config: %v", p)
		}
	}
	return cfg
}

// A pool that only a BGPAdvertisement selects makes every alive node that
// is not excluded eligible (and, for a Local Service, every such node with
// a ready endpoint), and elects nobody: BGP announces from all of them.
// Layer 2's election is untouched.
func TestDesireBGP(t *testing.T) {
	pub, local, priv, lonely := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("203.0.113.1")
	l2s := []v1beta1.L2Advertisement{
		// Layer 2 for "public" in zone a only; BGP for "public" too.
		l2("zone-a", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public"}, NodeSelectors: []metav1.LabelSelector{sel("zone", "a")}}),
	}
	cfg := bgpConfig(t, l2s, "public", "private")
	nodes := withLabel(dead(zoned(), "node-2"), "node-3", corev1.LabelNodeExcludeBalancers, "")
	nodes = append(nodes, election.Node{Name: "node-4", Labels: lbls("zone", "b"), Alive: true})
	in := election.Input{Config: cfg, Nodes: nodes, Services: []election.Service{
		{Key: "a/pub", IPs: []netip.Addr{pub}},
		{Key: "a/local", IPs: []netip.Addr{local}, LocalOnly: true, ReadyNodes: []string{"node-2", "node-4"}},
		{Key: "a/priv", IPs: []netip.Addr{priv}},
		{Key: "a/lonely", IPs: []netip.Addr{lonely}},
	}}
	// Layer 2 elects as if there were no BGPAdvertisement.
	l2Only := in
	l2Only.Config = bgpConfig(t, l2s)
	as := election.Elect(in)
	if d := cmp.Diff(winners(election.Elect(l2Only)), winners(as), cmpAddr); d != "" {
		t.Errorf("BGPAdvertisements changed layer 2's winners (-without +with):\n%s", d)
	}
	// Nobody is elected for BGP; one eligible node speaks for an address
	// that layer 2 does not announce.
	wantBGP := map[netip.Addr]string{
		priv:  election.Winner(priv, []string{"node-1", "node-4"}),
		local: "node-4", // the only alive ready node
	}
	for _, a := range as {
		if a.IP == priv && a.Node != "" {
			t.Errorf("%s (BGP only) elected %s; want nobody", priv, a.Node)
		}
		if a.BGPNode != wantBGP[a.IP] {
			t.Errorf("%s: BGPNode %q, want %q", a.IP, a.BGPNode, wantBGP[a.IP])
		}
		if a.IP == lonely && a.Reason != `no L2Advertisement selects pool "lonely"` {
			t.Errorf("%s: reason %q", a.IP, a.Reason)
		}
	}
	want := map[string]announce.Desired{
		// Alive, zone a: layer 2's only candidate for pub, BGP for the rest.
		"node-1": {
			pub:  {Elected: true, Eligible: true},
			priv: {Eligible: true},
		},
		"node-2": {}, // dead
		"node-3": {}, // excluded
		// Zone b: no layer 2 for pub, but BGP; the only live ready node.
		"node-4": {
			pub:   {Eligible: true},
			local: {Eligible: true},
			priv:  {Eligible: true},
		},
	}
	for node, w := range want {
		t.Run(node, func(t *testing.T) {
			_, got := election.Desire(in, node)
			if d := cmp.Diff(w, got, cmpAddr); d != "" {
				t.Errorf("Desire (-want +got):\n%s", d)
			}
		})
	}
}

// Why no node speaks for an address only BGP announces.
func TestBGPReason(t *testing.T) {
	cfg := bgpConfig(t, nil, "private")
	ip := netip.MustParseAddr("198.51.100.1")
	for _, tt := range []struct {
		name  string
		nodes []election.Node
		svc   election.Service
		want  string
	}{
		{"no node alive", dead(zoned(), "node-1", "node-2", "node-3"), election.Service{Key: "a/s", IPs: []netip.Addr{ip}},
			"no node may announce it over BGP: no alive node is eligible"},
		{"no ready endpoint", zoned(), election.Service{Key: "a/s", IPs: []netip.Addr{ip}, LocalOnly: true},
			"no node may announce it over BGP: no node has a ready endpoint (externalTrafficPolicy: Local)"},
		{"ready only on an excluded node", withLabel(zoned(), "node-3", corev1.LabelNodeExcludeBalancers, ""),
			election.Service{Key: "a/s", IPs: []netip.Addr{ip}, LocalOnly: true, ReadyNodes: []string{"node-3"}},
			"no node may announce it over BGP: no node that may announce the IP has a ready endpoint (externalTrafficPolicy: Local)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			as := election.Elect(election.Input{Config: cfg, Nodes: tt.nodes, Services: []election.Service{tt.svc}})
			if len(as) != 1 || as[0].BGPNode != "" || as[0].Reason != tt.want {
				t.Errorf("announcements %+v; want none with reason %q", as, tt.want)
			}
		})
	}
}
