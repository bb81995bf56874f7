package routes_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/bgp/routes"
)

func TestFor(t *testing.T) {
	pools := []v1beta1.IPAddressPool{pool("web", "192.0.2.0/24", "2001:db8::/64"), pool("db", "198.51.100.0/26")}
	ibgp := peer("tor-a", 64512, 64512, "10.0.0.1")
	ebgp := peer("tor-b", 64512, 65001, "10.0.0.2")
	v6 := peer("tor-v6", 64512, 65001, "2001:db8:ff::1")
	rack1 := peer("rack1-only", 64512, 65001, "10.0.0.3", func(s *v1beta1.BGPPeerSpec) { s.NodeSelectors = sel("rack", "1") })
	me := routes.Node{Name: "node-1", Labels: map[string]string{"rack": "2"}}
	gr := peer("tor-gr", 64512, 65001, "10.0.0.4", func(s *v1beta1.BGPPeerSpec) { s.GracefulRestart = true })
	settled := me
	settled.Settled = true
	comm := func(s ...string) func(*v1beta1.BGPAdvertisementSpec) {
		return func(a *v1beta1.BGPAdvertisementSpec) { a.Communities = s }
	}
	r := func(pfx string, ips []netip.Addr, advs ...string) routes.Route {
		return routes.Route{Prefix: netip.MustParsePrefix(pfx), Addrs: ips, Advertisements: advs}
	}
	with := func(rt routes.Route, f func(*routes.Route)) routes.Route { f(&rt); return rt }

	for _, tc := range []struct {
		name    string
		peers   []v1beta1.BGPPeer
		advs    []v1beta1.BGPAdvertisement
		node    routes.Node
		desired announce.Desired
		want    routes.Plan
	}{{
		name:  "no advertisement: sessions but no routes",
		peers: []v1beta1.BGPPeer{ibgp, ebgp},
		node:  me, desired: eligible("192.0.2.1"),
		want: routes.Plan{"tor-a": nil, "tor-b": nil},
	}, {
		name:  "one advertisement to every peer, /32 and /128, each to its family",
		peers: []v1beta1.BGPPeer{ibgp, v6},
		advs:  []v1beta1.BGPAdvertisement{adv("all", nil)},
		node:  me, desired: eligible("192.0.2.1", "2001:db8::5", "198.51.100.7"),
		want: routes.Plan{
			"tor-a":  {r("192.0.2.1/32", addrs("192.0.2.1"), "all"), r("198.51.100.7/32", addrs("198.51.100.7"), "all")},
			"tor-v6": {r("2001:db8::5/128", addrs("2001:db8::5"), "all")},
		},
	}, {
		name:  "only eligible addresses, only addresses in a pool",
		peers: []v1beta1.BGPPeer{ibgp},
		advs:  []v1beta1.BGPAdvertisement{adv("all", nil)},
		node:  me,
		desired: announce.Desired{
			netip.MustParseAddr("192.0.2.1"):   {Eligible: true},
			netip.MustParseAddr("192.0.2.2"):   {Elected: false, Eligible: false},
			netip.MustParseAddr("203.0.113.9"): {Eligible: true},
		},
		want: routes.Plan{"tor-a": {r("192.0.2.1/32", addrs("192.0.2.1"), "all")}},
	}, {
		name:  "IPv4-mapped key counts as its IPv4 address",
		peers: []v1beta1.BGPPeer{ibgp},
		advs:  []v1beta1.BGPAdvertisement{adv("all", nil)},
		node:  me, desired: eligible("::ffff:192.0.2.1"),
		want: routes.Plan{"tor-a": {r("192.0.2.1/32", addrs("192.0.2.1"), "all")}},
	}, {
		name:  "peer nodeSelectors leave out a peer for another rack",
		peers: []v1beta1.BGPPeer{ibgp, rack1},
		advs:  []v1beta1.BGPAdvertisement{adv("all", nil)},
		node:  me, desired: eligible("192.0.2.1"),
		want: routes.Plan{"tor-a": {r("192.0.2.1/32", addrs("192.0.2.1"), "all")}},
	}, {
		name:  "advertisement nodeSelectors that do not select the node",
		peers: []v1beta1.BGPPeer{ibgp},
		advs:  []v1beta1.BGPAdvertisement{adv("rack1", func(a *v1beta1.BGPAdvertisementSpec) { a.NodeSelectors = sel("rack", "1") })},
		node:  me, desired: eligible("192.0.2.1"),
		want: routes.Plan{"tor-a": nil},
	}, {
		name:  "gracefulRestart peer: no session before the node settles",
		peers: []v1beta1.BGPPeer{ibgp, gr},
		advs:  []v1beta1.BGPAdvertisement{adv("all", nil)},
		node:  me, desired: announce.Desired{},
		want: routes.Plan{"tor-a": nil},
	}, {
		name:  "gracefulRestart peer: its session and routes once the node settled",
		peers: []v1beta1.BGPPeer{ibgp, gr},
		advs:  []v1beta1.BGPAdvertisement{adv("all", nil)},
		node:  settled, desired: eligible("192.0.2.1"),
		want: routes.Plan{"tor-a": {r("192.0.2.1/32", addrs("192.0.2.1"), "all")}, "tor-gr": {r("192.0.2.1/32", addrs("192.0.2.1"), "all")}},
	}, {
		name:    "excluded node: no sessions, no routes",
		peers:   []v1beta1.BGPPeer{ibgp},
		advs:    []v1beta1.BGPAdvertisement{adv("all", nil)},
		node:    routes.Node{Name: "n", Labels: map[string]string{routes.ExcludeLabel: ""}},
		desired: eligible("192.0.2.1"),
		want:    routes.Plan{},
	}, {
		name:  "peers limits an advertisement to the named peer",
		peers: []v1beta1.BGPPeer{ibgp, ebgp},
		advs:  []v1beta1.BGPAdvertisement{adv("a-only", func(a *v1beta1.BGPAdvertisementSpec) { a.Peers = []string{"tor-a"} })},
		node:  me, desired: eligible("192.0.2.1"),
		want: routes.Plan{"tor-a": {r("192.0.2.1/32", addrs("192.0.2.1"), "a-only")}, "tor-b": nil},
	}, {
		name:  "pool selection",
		peers: []v1beta1.BGPPeer{ibgp},
		advs:  []v1beta1.BGPAdvertisement{adv("db", func(a *v1beta1.BGPAdvertisementSpec) { a.IPAddressPools = []string{"db"} })},
		node:  me, desired: eligible("192.0.2.1", "198.51.100.7"),
		want: routes.Plan{"tor-a": {r("198.51.100.7/32", addrs("198.51.100.7"), "db")}},
	}, {
		name:  "aggregation folds addresses into one prefix",
		peers: []v1beta1.BGPPeer{ibgp, v6},
		advs: []v1beta1.BGPAdvertisement{adv("agg", func(a *v1beta1.BGPAdvertisementSpec) {
			a.IPAddressPools = []string{"web"}
			a.AggregationLength, a.AggregationLengthV6 = ptr[int32](24), ptr[int32](64)
		})},
		node: me, desired: eligible("192.0.2.9", "192.0.2.1", "2001:db8::1", "2001:db8::2"),
		want: routes.Plan{
			"tor-a":  {r("192.0.2.0/24", addrs("192.0.2.1", "192.0.2.9"), "agg")},
			"tor-v6": {r("2001:db8::/64", addrs("2001:db8::1", "2001:db8::2"), "agg")},
		},
	}, {
		name:  "two advertisements for one IP: union of communities, highest localPref",
		peers: []v1beta1.BGPPeer{ibgp},
		advs: []v1beta1.BGPAdvertisement{
			adv("x", func(a *v1beta1.BGPAdvertisementSpec) {
				a.Communities, a.LocalPref = []string{"65000:2", "no-export", "large:1:2:3"}, ptr[int64](100)
			}),
			adv("y", func(a *v1beta1.BGPAdvertisementSpec) {
				a.Communities, a.LocalPref = []string{"65000:1", "65000:2"}, ptr[int64](200)
			}),
		},
		node: me, desired: eligible("192.0.2.1"),
		want: routes.Plan{"tor-a": {with(r("192.0.2.1/32", addrs("192.0.2.1"), "x", "y"), func(rt *routes.Route) {
			rt.Communities = []uint32{65000<<16 | 1, 65000<<16 | 2, 0xFFFFFF01}
			rt.LargeCommunities = [][3]uint32{{1, 2, 3}}
			rt.LocalPref, rt.HasLocalPref = 200, true
		})}},
	}, {
		name:  "localPref on eBGP is ignored, and said so",
		peers: []v1beta1.BGPPeer{ebgp},
		advs:  []v1beta1.BGPAdvertisement{adv("lp", func(a *v1beta1.BGPAdvertisementSpec) { a.LocalPref = ptr[int64](300) })},
		node:  me, desired: eligible("192.0.2.1"),
		want: routes.Plan{"tor-b": {with(r("192.0.2.1/32", addrs("192.0.2.1"), "lp"), func(rt *routes.Route) { rt.LocalPrefIgnored = true })}},
	}, {
		name:  "different aggregation lengths announce both prefixes",
		peers: []v1beta1.BGPPeer{ibgp},
		advs: []v1beta1.BGPAdvertisement{
			adv("host", comm("65000:32")),
			adv("agg", func(a *v1beta1.BGPAdvertisementSpec) {
				a.IPAddressPools, a.AggregationLength = []string{"web"}, ptr[int32](24)
			}),
		},
		node: me, desired: eligible("192.0.2.1"),
		want: routes.Plan{"tor-a": {
			r("192.0.2.0/24", addrs("192.0.2.1"), "agg"),
			with(r("192.0.2.1/32", addrs("192.0.2.1"), "host"), func(rt *routes.Route) { rt.Communities = []uint32{65000<<16 | 32} }),
		}},
	}, {
		name: "no peers: empty plan",
		advs: []v1beta1.BGPAdvertisement{adv("all", nil)},
		node: me, desired: eligible("192.0.2.1"),
		want: routes.Plan{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := build(t, config.ClusterResources{Pools: pools, BGPPeers: tc.peers, BGPAdvertisements: tc.advs})
			got := routes.For(cfg, tc.node, tc.desired)
			if d := cmp.Diff(tc.want, got, cmpOpts); d != "" {
				t.Errorf("For (-want +got):\n%s", d)
			}
		})
	}
}

func TestForNilConfig(t *testing.T) {
	if got := routes.For(nil, routes.Node{}, eligible("192.0.2.1")); len(got) != 0 {
		t.Errorf("For(nil) = %v, want an empty plan", got)
	}
}
