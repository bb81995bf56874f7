package election_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker/election"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const exclude = "node.kubernetes.io/exclude-from-external-load-balancers"

// testPools: "public" (labelled tier=public, both families), "private", and
// "lonely", which the tables leave without an advertisement.
var testPools = []v1beta1.IPAddressPool{
	ipPool("public", lbls("tier", "public"), "192.0.2.0/24", "2001:db8::/120"),
	ipPool("private", nil, "198.51.100.0/24"),
	ipPool("lonely", nil, "203.0.113.0/24"),
}

// zoned: node-1 and node-2 in zone a, node-3 in zone b with role=edge.
func zoned() []election.Node {
	return []election.Node{
		{Name: "node-1", Labels: lbls("zone", "a"), Alive: true},
		{Name: "node-2", Labels: lbls("zone", "a"), Alive: true},
		{Name: "node-3", Labels: lbls("zone", "b", "role", "edge"), Alive: true},
	}
}

func withLabel(ns []election.Node, name, key, value string) []election.Node {
	for i := range ns {
		if ns[i].Name == name {
			ns[i].Labels[key] = value
		}
	}
	return ns
}

func dead(ns []election.Node, names ...string) []election.Node {
	for i := range ns {
		for _, n := range names {
			if ns[i].Name == n {
				ns[i].Alive = false
			}
		}
	}
	return ns
}

// TestEligibility checks who may announce. Each row elects 32 IPs of pool
// "public" and expects, for every IP, Winner over exactly the eligible
// nodes: with a wrong set, some of the 32 winners would almost surely differ.
func TestEligibility(t *testing.T) {
	public := v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public"}}
	zoneA := v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public"}, NodeSelectors: []metav1.LabelSelector{sel("zone", "a")}}
	edge := v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public"}, NodeSelectors: []metav1.LabelSelector{sel("role", "edge")}}

	tests := []struct {
		name      string
		ads       []v1beta1.L2Advertisement
		nodes     []election.Node
		localOnly bool
		ready     []string
		eligible  []string // when empty, every IP gets reason
		reason    string
	}{
		{name: "advertisement names the pool", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: zoned(), eligible: []string{"node-1", "node-2", "node-3"}},
		{name: "advertisement selects the pool by label",
			ads:   []v1beta1.L2Advertisement{l2("a", v1beta1.L2AdvertisementSpec{IPAddressPoolSelectors: []metav1.LabelSelector{sel("tier", "public")}})},
			nodes: zoned(), eligible: []string{"node-1", "node-2", "node-3"}},
		{name: "advertisement without pools selects every pool", ads: []v1beta1.L2Advertisement{l2("a", v1beta1.L2AdvertisementSpec{})},
			nodes: zoned(), eligible: []string{"node-1", "node-2", "node-3"}},
		{name: "advertisement for another pool only",
			ads:   []v1beta1.L2Advertisement{l2("a", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"private"}})},
			nodes: zoned(), reason: `no L2Advertisement selects pool "public"`},
		{name: "no advertisement at all", nodes: zoned(), reason: `no L2Advertisement selects pool "public"`},
		{name: "nodeSelectors restrict the nodes", ads: []v1beta1.L2Advertisement{l2("a", zoneA)},
			nodes: zoned(), eligible: []string{"node-1", "node-2"}},
		{name: "two advertisements: the union of their nodes",
			ads:   []v1beta1.L2Advertisement{l2("a", zoneA), l2("b", edge)},
			nodes: zoned(), eligible: []string{"node-1", "node-2", "node-3"}},
		{name: "several nodeSelectors in one advertisement: any matches",
			ads: []v1beta1.L2Advertisement{l2("a", v1beta1.L2AdvertisementSpec{
				IPAddressPools: []string{"public"}, NodeSelectors: []metav1.LabelSelector{sel("role", "edge"), sel("zone", "nowhere")}})},
			nodes: zoned(), eligible: []string{"node-3"}},
		{name: "nodeSelectors match no node",
			ads: []v1beta1.L2Advertisement{l2("a", v1beta1.L2AdvertisementSpec{
				IPAddressPools: []string{"public"}, NodeSelectors: []metav1.LabelSelector{sel("zone", "nowhere")}})},
			nodes: zoned(), reason: `no node matches the nodeSelectors of L2Advertisement "a"`},
		{name: "nodeSelectors of two advertisements match no node",
			ads:   []v1beta1.L2Advertisement{l2("a", edge), l2("b", edge)},
			nodes: zoned()[:2], reason: `no node matches the nodeSelectors of L2Advertisements "a", "b"`},
		{name: "excluded node, empty label value", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: withLabel(zoned(), "node-2", exclude, ""), eligible: []string{"node-1", "node-3"}},
		{name: "excluded node, any label value", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: withLabel(zoned(), "node-3", exclude, "false"), eligible: []string{"node-1", "node-2"}},
		{name: "every selected node excluded", ads: []v1beta1.L2Advertisement{l2("a", zoneA)},
			nodes:  withLabel(withLabel(zoned(), "node-1", exclude, "true"), "node-2", exclude, "true"),
			reason: `every node that L2Advertisement "a" selects is labelled ` + exclude},
		{name: "node not alive", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: dead(zoned(), "node-2"), eligible: []string{"node-1", "node-3"}},
		{name: "no node alive", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: dead(zoned(), "node-1", "node-2", "node-3"), reason: "no alive node is eligible"},
		{name: "no node at all", ads: []v1beta1.L2Advertisement{l2("a", public)},
			reason: "no alive node is eligible"},
		{name: "node without a name is ignored", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: append(zoned(), election.Node{Alive: true}), eligible: []string{"node-1", "node-2", "node-3"}},
		{name: "name listed twice, alive and not: not alive wins", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: append(zoned(), election.Node{Name: "node-1", Labels: lbls("zone", "a")}), eligible: []string{"node-2", "node-3"}},
		{name: "local: only nodes with a ready endpoint", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: zoned(), localOnly: true, ready: []string{"node-2", "node-3"}, eligible: []string{"node-2", "node-3"}},
		{name: "local: ready list names unknown nodes", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: zoned(), localOnly: true, ready: []string{"ghost", "node-1"}, eligible: []string{"node-1"}},
		{name: "local: no ready endpoint", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: zoned(), localOnly: true, reason: "no node has a ready endpoint (externalTrafficPolicy: Local)"},
		{name: "local: ready only on a node the advertisement does not select", ads: []v1beta1.L2Advertisement{l2("a", zoneA)},
			nodes: zoned(), localOnly: true, ready: []string{"node-3"},
			reason: "no node that may announce the IP has a ready endpoint (externalTrafficPolicy: Local)"},
		{name: "local: ready only on an excluded node", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: withLabel(zoned(), "node-1", exclude, ""), localOnly: true, ready: []string{"node-1"},
			reason: "no node that may announce the IP has a ready endpoint (externalTrafficPolicy: Local)"},
		{name: "local: ready nodes not alive", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: dead(zoned(), "node-1"), localOnly: true, ready: []string{"node-1"}, reason: "no alive node is eligible"},
		{name: "cluster policy ignores ready nodes", ads: []v1beta1.L2Advertisement{l2("a", public)},
			nodes: zoned(), ready: []string{"node-1"}, eligible: []string{"node-1", "node-2", "node-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := buildConfig(t, testPools, tt.ads)
			ips := append(addrs("192.0.2.10", 16), addrs("2001:db8::10", 16)...)
			got := election.Elect(election.Input{Config: cfg, Nodes: tt.nodes, Services: oneServicePerIP(ips, tt.localOnly, tt.ready...)})

			var want []election.Announcement
			for _, ip := range ips {
				a := election.Announcement{IP: ip, Services: []string{"default/svc-" + ip.String()}, Reason: tt.reason}
				if tt.reason == "" {
					a.Node = election.Winner(ip, tt.eligible)
				}
				want = append(want, a)
			}
			if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
				t.Errorf("Elect (-want +got):\n%s", diff)
			}
		})
	}
}

// TestElect covers how Services map to announcements: sharing, addresses,
// pools and the order of the result.
func TestElect(t *testing.T) {
	ip := netip.MustParseAddr
	one := alive("node-1") // a single node makes the winner obvious
	ads := []v1beta1.L2Advertisement{l2("lan", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public", "private"}})}

	tests := []struct {
		name     string
		nodes    []election.Node
		services []election.Service
		want     []election.Announcement
	}{
		{
			name:  "two Services share an IP: one announcement with both keys",
			nodes: alive(nodeNames(5)...),
			services: []election.Service{
				{Key: "shop/web-udp", IPs: []netip.Addr{ip("192.0.2.7")}},
				{Key: "shop/web-tcp", IPs: []netip.Addr{ip("192.0.2.7")}},
			},
			want: []election.Announcement{{IP: ip("192.0.2.7"), Node: election.Winner(ip("192.0.2.7"), nodeNames(5)),
				Services: []string{"shop/web-tcp", "shop/web-udp"}}},
		},
		{
			name:  "shared IP, one Service local: its ready nodes decide",
			nodes: alive(nodeNames(5)...),
			services: []election.Service{
				{Key: "shop/a", IPs: []netip.Addr{ip("192.0.2.7")}},
				{Key: "shop/b", IPs: []netip.Addr{ip("192.0.2.7")}, LocalOnly: true, ReadyNodes: []string{"node-4"}},
			},
			want: []election.Announcement{{IP: ip("192.0.2.7"), Node: "node-4", Services: []string{"shop/a", "shop/b"}}},
		},
		{
			name:  "shared IP, both local: only nodes ready for both",
			nodes: alive(nodeNames(5)...),
			services: []election.Service{
				{Key: "shop/a", IPs: []netip.Addr{ip("192.0.2.7")}, LocalOnly: true, ReadyNodes: []string{"node-1", "node-2"}},
				{Key: "shop/b", IPs: []netip.Addr{ip("192.0.2.7")}, LocalOnly: true, ReadyNodes: []string{"node-2", "node-3"}},
			},
			want: []election.Announcement{{IP: ip("192.0.2.7"), Node: "node-2", Services: []string{"shop/a", "shop/b"}}},
		},
		{
			name:  "shared IP, both local, no node ready for both",
			nodes: alive(nodeNames(5)...),
			services: []election.Service{
				{Key: "shop/a", IPs: []netip.Addr{ip("192.0.2.7")}, LocalOnly: true, ReadyNodes: []string{"node-1"}},
				{Key: "shop/b", IPs: []netip.Addr{ip("192.0.2.7")}, LocalOnly: true, ReadyNodes: []string{"node-3"}},
			},
			want: []election.Announcement{{IP: ip("192.0.2.7"), Services: []string{"shop/a", "shop/b"},
				Reason: "no node has a ready endpoint (externalTrafficPolicy: Local)"}},
		},
		{
			name:  "dual-stack Service: one announcement per IP, sorted, IPv4 first",
			nodes: one,
			services: []election.Service{
				{Key: "shop/db", IPs: []netip.Addr{ip("2001:db8::5"), ip("192.0.2.5")}},
				{Key: "shop/web", IPs: []netip.Addr{ip("198.51.100.1")}},
			},
			want: []election.Announcement{
				{IP: ip("192.0.2.5"), Node: "node-1", Services: []string{"shop/db"}},
				{IP: ip("198.51.100.1"), Node: "node-1", Services: []string{"shop/web"}},
				{IP: ip("2001:db8::5"), Node: "node-1", Services: []string{"shop/db"}},
			},
		},
		{
			name:  "IP outside every pool",
			nodes: one,
			services: []election.Service{
				{Key: "shop/web", IPs: []netip.Addr{ip("10.0.0.1")}},
			},
			want: []election.Announcement{{IP: ip("10.0.0.1"), Services: []string{"shop/web"}, Reason: "the IP is in no IPAddressPool"}},
		},
		{
			name:  "pool without advertisement",
			nodes: one,
			services: []election.Service{
				{Key: "shop/web", IPs: []netip.Addr{ip("203.0.113.9")}},
			},
			want: []election.Announcement{{IP: ip("203.0.113.9"), Services: []string{"shop/web"}, Reason: `no L2Advertisement selects pool "lonely"`}},
		},
		{
			name:  "spellings of one address are one IP; invalid addresses are skipped",
			nodes: one,
			services: []election.Service{
				{Key: "shop/a", IPs: []netip.Addr{ip("::ffff:192.0.2.9"), {}}},
				{Key: "shop/b", IPs: []netip.Addr{ip("192.0.2.9"), ip("192.0.2.9")}},
				{Key: "shop/c", IPs: []netip.Addr{ip("2001:db8::9%eth0")}},
				{Key: "shop/d", IPs: []netip.Addr{ip("2001:db8::9")}},
				{Key: "shop/pending"},
			},
			want: []election.Announcement{
				{IP: ip("192.0.2.9"), Node: "node-1", Services: []string{"shop/a", "shop/b"}},
				{IP: ip("2001:db8::9"), Node: "node-1", Services: []string{"shop/c", "shop/d"}},
			},
		},
		{name: "no Services", nodes: one, want: []election.Announcement{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := buildConfig(t, testPools, ads)
			got := election.Elect(election.Input{Config: cfg, Nodes: tt.nodes, Services: tt.services})
			if diff := cmp.Diff(tt.want, got, cmpAddr); diff != "" {
				t.Errorf("Elect (-want +got):\n%s", diff)
			}
		})
	}
}

// A disabled pool gives out no new IPs but keeps those it gave, so they are
// still announced; without a Config nothing is.
func TestElectPoolStates(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	svcs := []election.Service{{Key: "shop/web", IPs: []netip.Addr{ip}}}

	disabled := ipPool("public", nil, "192.0.2.0/24")
	disabled.Spec.Disabled = true
	cfg := buildConfig(t, []v1beta1.IPAddressPool{disabled}, []v1beta1.L2Advertisement{l2("lan", v1beta1.L2AdvertisementSpec{})})
	got := election.Elect(election.Input{Config: cfg, Nodes: alive("node-1"), Services: svcs})
	want := []election.Announcement{{IP: ip, Node: "node-1", Services: []string{"shop/web"}}}
	if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
		t.Errorf("disabled pool (-want +got):\n%s", diff)
	}

	got = election.Elect(election.Input{Nodes: alive("node-1"), Services: svcs})
	want = []election.Announcement{{IP: ip, Services: []string{"shop/web"}, Reason: "the IP is in no IPAddressPool"}}
	if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
		t.Errorf("nil Config (-want +got):\n%s", diff)
	}
}

// TestInterfaces checks the interface rule with one node, so the winner is
// fixed and the row is only about which advertisements apply to it.
func TestInterfaces(t *testing.T) {
	node := []election.Node{{Name: "node-1", Labels: lbls("zone", "a"), Alive: true}}
	spec := func(pools []string, nodeSel string, ifaces ...string) v1beta1.L2AdvertisementSpec {
		s := v1beta1.L2AdvertisementSpec{IPAddressPools: pools, Interfaces: ifaces}
		if nodeSel != "" {
			s.NodeSelectors = []metav1.LabelSelector{sel("zone", nodeSel)}
		}
		return s
	}
	public := []string{"public"}

	tests := []struct {
		name string
		ads  []v1beta1.L2Advertisement
		want []string
	}{
		{name: "no interfaces: any", ads: []v1beta1.L2Advertisement{l2("a", spec(public, ""))}, want: nil},
		{name: "listed interfaces, sorted", ads: []v1beta1.L2Advertisement{l2("a", spec(public, "", "eth1", "eth0"))},
			want: []string{"eth0", "eth1"}},
		{name: "two advertisements: union without duplicates",
			ads:  []v1beta1.L2Advertisement{l2("a", spec(public, "", "eth1", "eth0")), l2("b", spec(public, "a", "bond0", "eth0"))},
			want: []string{"bond0", "eth0", "eth1"}},
		{name: "one advertisement allows any interface: any",
			ads:  []v1beta1.L2Advertisement{l2("a", spec(public, "", "eth0")), l2("b", spec(public, "a"))},
			want: nil},
		{name: "advertisement not selecting the node does not count",
			ads:  []v1beta1.L2Advertisement{l2("a", spec(public, "a", "eth0")), l2("b", spec(public, "b", "eth9"))},
			want: []string{"eth0"}},
		{name: "advertisement not selecting the node does not make it any",
			ads:  []v1beta1.L2Advertisement{l2("a", spec(public, "a", "eth0")), l2("b", spec(public, "b"))},
			want: []string{"eth0"}},
		{name: "advertisement for another pool does not count",
			ads:  []v1beta1.L2Advertisement{l2("a", spec(public, "", "eth0")), l2("b", spec([]string{"private"}, "", "eth9"))},
			want: []string{"eth0"}},
		{name: "advertisement for another pool does not make it any",
			ads:  []v1beta1.L2Advertisement{l2("a", spec(public, "", "eth0")), l2("b", spec([]string{"private"}, ""))},
			want: []string{"eth0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := buildConfig(t, testPools, tt.ads)
			ip := netip.MustParseAddr("192.0.2.1")
			got := election.Elect(election.Input{Config: cfg, Nodes: node,
				Services: []election.Service{{Key: "shop/web", IPs: []netip.Addr{ip}}}})
			want := []election.Announcement{{IP: ip, Node: "node-1", Interfaces: tt.want, Services: []string{"shop/web"}}}
			if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
				t.Errorf("Elect (-want +got):\n%s", diff)
			}
		})
	}
}

// The interfaces are the winner's: with one advertisement per zone, each IP
// goes out of the interface of the zone whose node won it.
func TestInterfacesFollowTheWinner(t *testing.T) {
	cfg := buildConfig(t, testPools, []v1beta1.L2Advertisement{
		l2("a", v1beta1.L2AdvertisementSpec{NodeSelectors: []metav1.LabelSelector{sel("zone", "a")}, Interfaces: []string{"eth-a"}}),
		l2("b", v1beta1.L2AdvertisementSpec{NodeSelectors: []metav1.LabelSelector{sel("zone", "b")}, Interfaces: []string{"eth-b"}}),
	})
	as := election.Elect(election.Input{Config: cfg, Nodes: zoned(), Services: oneServicePerIP(addrs("192.0.2.1", 64), false)})
	want := map[string][]string{"node-1": {"eth-a"}, "node-2": {"eth-a"}, "node-3": {"eth-b"}}
	won := map[string]int{}
	for _, a := range as {
		won[a.Node]++
		if diff := cmp.Diff(want[a.Node], a.Interfaces); diff != "" {
			t.Errorf("%s won by %q: interfaces (-want +got):\n%s", a.IP, a.Node, diff)
		}
	}
	if len(won) != 3 {
		t.Errorf("winners = %v, want all three nodes among 64 IPs", won)
	}

	// Each announcement owns its slice: changing one changes no other.
	as[0].Interfaces[0] = "changed"
	for _, a := range as[1:] {
		if a.Interfaces[0] == "changed" {
			t.Fatalf("%s shares its Interfaces with %s", a.IP, as[0].IP)
		}
	}
}

func TestForNode(t *testing.T) {
	ip := netip.MustParseAddr
	as := []election.Announcement{
		{IP: ip("192.0.2.1"), Node: "node-1"},
		{IP: ip("192.0.2.2"), Node: "node-2"},
		{IP: ip("192.0.2.3"), Reason: "no alive node is eligible"},
		{IP: ip("192.0.2.4"), Node: "node-1"},
	}
	tests := []struct {
		node string
		want []election.Announcement
	}{
		{"node-1", []election.Announcement{as[0], as[3]}},
		{"node-2", []election.Announcement{as[1]}},
		{"node-9", nil},
		{"", []election.Announcement{as[2]}},
	}
	for _, tt := range tests {
		t.Run(tt.node, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, election.ForNode(as, tt.node), cmpAddr); diff != "" {
				t.Errorf("ForNode(%q) (-want +got):\n%s", tt.node, diff)
			}
		})
	}
}
