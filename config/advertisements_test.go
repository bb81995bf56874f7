package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// advFixture is the world the advertisement tests resolve against: pools a
// (zone=east, dual-stack), b (zone=west) and c (a dash range), an invalid
// pool "bad", peers r1 and r2, an invalid peer "broken", and two nodes.
func advFixture() ClusterResources {
	return ClusterResources{
		Pools: []v1beta1.IPAddressPool{
			modPool(ipPool("a", 0, "192.0.2.0/24", "fd00::/64"), func(p *v1beta1.IPAddressPool) { p.Labels = map[string]string{"zone": "east"} }),
			modPool(ipPool("b", 1, "198.51.100.0/26"), func(p *v1beta1.IPAddressPool) { p.Labels = map[string]string{"zone": "west"} }),
			ipPool("c", 2, "203.0.113.10-203.0.113.20"),
			ipPool("bad", 3, "nope"),
		},
		BGPPeers: []v1beta1.BGPPeer{bgpPeer("r1", "192.0.2.254"), bgpPeer("r2", "fd00::fe"), bgpPeer("broken", "x")},
		Nodes:    []corev1.Node{node("n1", "rack", "a"), node("n2", "rack", "b")},
	}
}

// problemsOf keeps the Problems about one kind, so that the fixture's own
// problems (pool "bad", peer "broken") do not clutter every expectation.
func problemsOf(ps []Problem, kind string) []Problem {
	var out []Problem
	for _, p := range ps {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

func l2Adv(name string, spec v1beta1.L2AdvertisementSpec) v1beta1.L2Advertisement {
	return v1beta1.L2Advertisement{ObjectMeta: objectMeta(name, 0, nil), Spec: spec}
}

func bgpAdv(name string, spec v1beta1.BGPAdvertisementSpec) v1beta1.BGPAdvertisement {
	return v1beta1.BGPAdvertisement{ObjectMeta: objectMeta(name, 0, nil), Spec: spec}
}

func badOperator(op string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: metav1.LabelSelectorOperator(op)}}}
}

func TestL2Advertisement(t *testing.T) {
	const inv = v1beta1.ReasonInvalid
	tests := []struct {
		name     string
		spec     v1beta1.L2AdvertisementSpec
		want     *L2Advertisement
		problems []Problem
	}{{
		name: "no pools named or selected: every pool in use",
		want: &L2Advertisement{Name: "l2", Pools: []string{"a", "b", "c"}},
	}, {
		name: "named pools, sorted and without duplicates",
		spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"c", "a", "c"}},
		want: &L2Advertisement{Name: "l2", Pools: []string{"a", "c"}},
	}, {
		name: "a missing pool is a warning; the others still apply",
		spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"a", "zzz"}},
		want: &L2Advertisement{Name: "l2", Pools: []string{"a"}},
		problems: []Problem{
			pwarn(kindL2Adv, "l2", "spec.ipAddressPools[1]", v1beta1.ReasonPoolNotFound, `IPAddressPool "zzz" not found`),
		},
	}, {
		name: "a pool that exists but is not in use",
		spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"bad"}},
		want: &L2Advertisement{Name: "l2"},
		problems: []Problem{
			pwarn(kindL2Adv, "l2", "spec.ipAddressPools[0]", v1beta1.ReasonPoolNotFound, `IPAddressPool "bad" is not in use (see its status)`),
		},
	}, {
		name: "pools selected by label",
		spec: v1beta1.L2AdvertisementSpec{IPAddressPoolSelectors: []metav1.LabelSelector{labelSelector("zone", "west")}},
		want: &L2Advertisement{Name: "l2", Pools: []string{"b"}},
	}, {
		name: "an empty pool selector selects every pool",
		spec: v1beta1.L2AdvertisementSpec{IPAddressPoolSelectors: []metav1.LabelSelector{{}}},
		want: &L2Advertisement{Name: "l2", Pools: []string{"a", "b", "c"}},
	}, {
		name: "named and selected pools together",
		spec: v1beta1.L2AdvertisementSpec{
			IPAddressPools:         []string{"c", "b"},
			IPAddressPoolSelectors: []metav1.LabelSelector{labelSelector("zone", "west"), labelSelector("zone", "east")},
		},
		want: &L2Advertisement{Name: "l2", Pools: []string{"a", "b", "c"}},
	}, {
		name: "a pool selector that selects nothing is a warning",
		spec: v1beta1.L2AdvertisementSpec{IPAddressPoolSelectors: []metav1.LabelSelector{
			labelSelector("zone", "east"), labelSelector("zone", "north"),
		}},
		want: &L2Advertisement{Name: "l2", Pools: []string{"a"}},
		problems: []Problem{
			pwarn(kindL2Adv, "l2", "spec.ipAddressPoolSelectors[1]", v1beta1.ReasonSelectsNothing, "selects no IPAddressPool in use (zone=north)"),
		},
	}, {
		name: "an invalid pool selector is an error",
		spec: v1beta1.L2AdvertisementSpec{IPAddressPoolSelectors: []metav1.LabelSelector{badOperator("Sort-of")}},
		problems: []Problem{
			perr(kindL2Adv, "l2", "spec.ipAddressPoolSelectors[0]", inv, `invalid label selector: "Sort-of" is not a valid label selector operator`),
		},
	}, {
		name: "node selectors",
		spec: v1beta1.L2AdvertisementSpec{NodeSelectors: []metav1.LabelSelector{labelSelector("rack", "a")}},
		want: &L2Advertisement{Name: "l2", Pools: []string{"a", "b", "c"}, NodeSelectors: []labels.Selector{mustSelector("rack=a")}},
	}, {
		name: "a node selector that selects no node is a warning",
		spec: v1beta1.L2AdvertisementSpec{NodeSelectors: []metav1.LabelSelector{labelSelector("rack", "q")}},
		want: &L2Advertisement{Name: "l2", Pools: []string{"a", "b", "c"}, NodeSelectors: []labels.Selector{mustSelector("rack=q")}},
		problems: []Problem{
			pwarn(kindL2Adv, "l2", "spec.nodeSelectors[0]", v1beta1.ReasonSelectsNothing, "selects no node (rack=q)"),
		},
	}, {
		name: "an invalid node selector is an error",
		spec: v1beta1.L2AdvertisementSpec{NodeSelectors: []metav1.LabelSelector{labelSelector("rack", "a"), badOperator("Maybe")}},
		problems: []Problem{
			perr(kindL2Adv, "l2", "spec.nodeSelectors[1]", inv, `invalid label selector: "Maybe" is not a valid label selector operator`),
		},
	}, {
		name: "interfaces, sorted and without duplicates",
		spec: v1beta1.L2AdvertisementSpec{Interfaces: []string{"eth1", "bond0.100", "eth1", "abcdefghijklmno"}},
		want: &L2Advertisement{Name: "l2", Pools: []string{"a", "b", "c"}, Interfaces: []string{"abcdefghijklmno", "bond0.100", "eth1"}},
	}, {
		name: "bad interface names",
		spec: v1beta1.L2AdvertisementSpec{Interfaces: []string{"eth0", "", "abcdefghijklmnop", "a/b", "a b", "..", "eth0:1"}},
		problems: []Problem{
			perr(kindL2Adv, "l2", "spec.interfaces[1]", inv, `"" is not an interface name (1 to 15 characters, no '/', ':' or spaces)`),
			perr(kindL2Adv, "l2", "spec.interfaces[2]", inv, `"abcdefghijklmnop" is not an interface name (1 to 15 characters, no '/', ':' or spaces)`),
			perr(kindL2Adv, "l2", "spec.interfaces[3]", inv, `"a/b" is not an interface name (1 to 15 characters, no '/', ':' or spaces)`),
			perr(kindL2Adv, "l2", "spec.interfaces[4]", inv, `"a b" is not an interface name (1 to 15 characters, no '/', ':' or spaces)`),
			perr(kindL2Adv, "l2", "spec.interfaces[5]", inv, `".." is not an interface name (1 to 15 characters, no '/', ':' or spaces)`),
			perr(kindL2Adv, "l2", "spec.interfaces[6]", inv, `"eth0:1" is not an interface name (1 to 15 characters, no '/', ':' or spaces)`),
		},
	}, {
		name: "warnings and errors together: errors win",
		spec: v1beta1.L2AdvertisementSpec{
			IPAddressPools: []string{"zzz"},
			NodeSelectors:  []metav1.LabelSelector{labelSelector("rack", "q")},
			Interfaces:     []string{"a/b"},
		},
		problems: []Problem{
			pwarn(kindL2Adv, "l2", "spec.ipAddressPools[0]", v1beta1.ReasonPoolNotFound, `IPAddressPool "zzz" not found`),
			pwarn(kindL2Adv, "l2", "spec.nodeSelectors[0]", v1beta1.ReasonSelectsNothing, "selects no node (rack=q)"),
			perr(kindL2Adv, "l2", "spec.interfaces[0]", inv, `"a/b" is not an interface name (1 to 15 characters, no '/', ':' or spaces)`),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := advFixture()
			res.L2Advertisements = []v1beta1.L2Advertisement{l2Adv("l2", tt.spec)}
			c, problems := For(res)
			diffProblems(t, problemsOf(problems, kindL2Adv), tt.problems)
			var got *L2Advertisement
			if l2 := c.L2Advertisements(); len(l2) > 0 {
				got = l2[0]
			}
			if d := cmp.Diff(tt.want, got, cmpOpts); d != "" {
				t.Errorf("advertisement (-want +got):\n%s", d)
			}
		})
	}
}

func TestBGPAdvertisement(t *testing.T) {
	const inv = v1beta1.ReasonInvalid
	// The fixture's peers are eBGP: a localPref is ignored for both.
	lpIgnored := pwarn(kindBGPAdv, "bgp", "spec.localPref", v1beta1.ReasonLocalPrefIgnored,
		`ignored for the eBGP peers "r1", "r2": LOCAL_PREF is sent to iBGP peers only (RFC 4271 5.1.5)`)
	// def is the model of an empty spec, which later rows change.
	def := func(f func(*BGPAdvertisement)) *BGPAdvertisement {
		a := &BGPAdvertisement{
			Name: "bgp", Pools: []string{"a", "b", "c"}, Peers: []string{"r1", "r2"},
			AggregationLength: 32, AggregationLengthV6: 128,
		}
		if f != nil {
			f(a)
		}
		return a
	}
	tests := []struct {
		name     string
		spec     v1beta1.BGPAdvertisementSpec
		want     *BGPAdvertisement
		problems []Problem
	}{{
		name: "defaults: every pool, every peer, host routes",
		want: def(nil),
	}, {
		name: "every field",
		spec: v1beta1.BGPAdvertisementSpec{
			IPAddressPools:      []string{"a"},
			NodeSelectors:       []metav1.LabelSelector{labelSelector("rack", "b")},
			Peers:               []string{"r2", "r1", "r2"},
			AggregationLength:   ptr(int32(24)),
			AggregationLengthV6: ptr(int32(64)),
			LocalPref:           ptr(int64(150)),
			Communities:         []string{"65000:1", "large:1:2:3", "no-export"},
		},
		want: def(func(a *BGPAdvertisement) {
			a.Pools = []string{"a"}
			a.NodeSelectors = []labels.Selector{mustSelector("rack=b")}
			a.AggregationLength, a.AggregationLengthV6 = 24, 64
			a.LocalPref = ptr(uint32(150))
			a.Communities = []uint32{65000<<16 | 1, 0xFFFFFF01}
			a.LargeCommunities = [][3]uint32{{1, 2, 3}}
		}),
		problems: []Problem{lpIgnored},
	}, {
		name: "pool selectors",
		spec: v1beta1.BGPAdvertisementSpec{IPAddressPoolSelectors: []metav1.LabelSelector{{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "zone", Operator: metav1.LabelSelectorOpExists}},
		}}},
		want: def(func(a *BGPAdvertisement) { a.Pools = []string{"a", "b"} }),
	}, {
		name: "missing pool and selector that selects nothing",
		spec: v1beta1.BGPAdvertisementSpec{
			IPAddressPools:         []string{"gone", "b"},
			IPAddressPoolSelectors: []metav1.LabelSelector{labelSelector("zone", "south")},
		},
		want: def(func(a *BGPAdvertisement) { a.Pools = []string{"b"} }),
		problems: []Problem{
			pwarn(kindBGPAdv, "bgp", "spec.ipAddressPools[0]", v1beta1.ReasonPoolNotFound, `IPAddressPool "gone" not found`),
			pwarn(kindBGPAdv, "bgp", "spec.ipAddressPoolSelectors[0]", v1beta1.ReasonSelectsNothing, "selects no IPAddressPool in use (zone=south)"),
		},
	}, {
		name: "missing and unusable peers are warnings",
		spec: v1beta1.BGPAdvertisementSpec{Peers: []string{"r1", "nobody", "broken"}},
		want: def(func(a *BGPAdvertisement) { a.Peers = []string{"r1"} }),
		problems: []Problem{
			pwarn(kindBGPAdv, "bgp", "spec.peers[1]", v1beta1.ReasonPeerNotFound, `BGPPeer "nobody" not found`),
			pwarn(kindBGPAdv, "bgp", "spec.peers[2]", v1beta1.ReasonPeerNotFound, `BGPPeer "broken" is not in use (see its status)`),
		},
	}, {
		// Peers in the model are resolved: empty means none, not all.
		name: "no named peer exists: announced to none",
		spec: v1beta1.BGPAdvertisementSpec{Peers: []string{"nobody"}},
		want: def(func(a *BGPAdvertisement) { a.Peers = nil }),
		problems: []Problem{
			pwarn(kindBGPAdv, "bgp", "spec.peers[0]", v1beta1.ReasonPeerNotFound, `BGPPeer "nobody" not found`),
		},
	}, {
		name: "node selector that selects no node",
		spec: v1beta1.BGPAdvertisementSpec{NodeSelectors: []metav1.LabelSelector{labelSelector("rack", "z")}},
		want: def(func(a *BGPAdvertisement) { a.NodeSelectors = []labels.Selector{mustSelector("rack=z")} }),
		problems: []Problem{
			pwarn(kindBGPAdv, "bgp", "spec.nodeSelectors[0]", v1beta1.ReasonSelectsNothing, "selects no node (rack=z)"),
		},
	}, {
		name: "invalid node selector",
		spec: v1beta1.BGPAdvertisementSpec{NodeSelectors: []metav1.LabelSelector{badOperator("x")}},
		problems: []Problem{
			perr(kindBGPAdv, "bgp", "spec.nodeSelectors[0]", inv, `invalid label selector: "x" is not a valid label selector operator`),
		},
	}, {
		name: "invalid pool selector",
		spec: v1beta1.BGPAdvertisementSpec{IPAddressPoolSelectors: []metav1.LabelSelector{badOperator("y")}},
		problems: []Problem{
			perr(kindBGPAdv, "bgp", "spec.ipAddressPoolSelectors[0]", inv, `invalid label selector: "y" is not a valid label selector operator`),
		},
	}, {
		name: "aggregation lengths out of range",
		spec: v1beta1.BGPAdvertisementSpec{AggregationLength: ptr(int32(33)), AggregationLengthV6: ptr(int32(-1))},
		problems: []Problem{
			perr(kindBGPAdv, "bgp", "spec.aggregationLength", inv, "33 is not an IPv4 prefix length (0 to 32)"),
			perr(kindBGPAdv, "bgp", "spec.aggregationLengthV6", inv, "-1 is not an IPv6 prefix length (0 to 128)"),
		},
	}, {
		name: "IPv6 aggregation length above 128",
		spec: v1beta1.BGPAdvertisementSpec{AggregationLengthV6: ptr(int32(129))},
		problems: []Problem{
			perr(kindBGPAdv, "bgp", "spec.aggregationLengthV6", inv, "129 is not an IPv6 prefix length (0 to 128)"),
		},
	}, {
		name: "aggregation length equal to the pool's prefix",
		spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"a"}, AggregationLength: ptr(int32(24)), AggregationLengthV6: ptr(int32(64))},
		want: def(func(a *BGPAdvertisement) {
			a.Pools = []string{"a"}
			a.AggregationLength, a.AggregationLengthV6 = 24, 64
		}),
	}, {
		name: "aggregation length shorter than the pool's prefix",
		spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"a"}, AggregationLength: ptr(int32(23)), AggregationLengthV6: ptr(int32(48))},
		problems: []Problem{
			perr(kindBGPAdv, "bgp", "spec.aggregationLength", inv,
				`/23 would announce addresses outside IPAddressPool "a": its range 192.0.2.0/24 needs at least /24`),
			perr(kindBGPAdv, "bgp", "spec.aggregationLengthV6", inv,
				`/48 would announce addresses outside IPAddressPool "a": its range fd00::/64 needs at least /64`),
		},
	}, {
		name: "aggregation is checked against every pool it applies to",
		spec: v1beta1.BGPAdvertisementSpec{AggregationLength: ptr(int32(26))},
		problems: []Problem{
			perr(kindBGPAdv, "bgp", "spec.aggregationLength", inv,
				`/26 would announce addresses outside IPAddressPool "c": its range 203.0.113.10-203.0.113.20 needs at least /32`),
		},
	}, {
		name: "aggregation ignores pools it does not apply to",
		spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"b"}, AggregationLength: ptr(int32(26))},
		want: def(func(a *BGPAdvertisement) {
			a.Pools = []string{"b"}
			a.AggregationLength = 26
		}),
	}, {
		name:     "local preference bounds",
		spec:     v1beta1.BGPAdvertisementSpec{LocalPref: ptr(int64(4294967295))},
		want:     def(func(a *BGPAdvertisement) { a.LocalPref = ptr(uint32(4294967295)) }),
		problems: []Problem{lpIgnored},
	}, {
		name:     "local preference 0 is set, not absent",
		spec:     v1beta1.BGPAdvertisementSpec{LocalPref: ptr(int64(0))},
		want:     def(func(a *BGPAdvertisement) { a.LocalPref = ptr(uint32(0)) }),
		problems: []Problem{lpIgnored},
	}, {
		name: "local preference above 32 bits",
		spec: v1beta1.BGPAdvertisementSpec{LocalPref: ptr(int64(4294967296))},
		problems: []Problem{
			perr(kindBGPAdv, "bgp", "spec.localPref", inv, "4294967296 does not fit in 32 bits"),
		},
	}, {
		name: "negative local preference",
		spec: v1beta1.BGPAdvertisementSpec{LocalPref: ptr(int64(-1))},
		problems: []Problem{
			perr(kindBGPAdv, "bgp", "spec.localPref", inv, "-1 does not fit in 32 bits"),
		},
	}, {
		name: "bad communities",
		spec: v1beta1.BGPAdvertisementSpec{Communities: []string{"65000:1", "65000:70000", "large:1:2"}},
		problems: []Problem{
			perr(kindBGPAdv, "bgp", "spec.communities[1]", inv, `invalid community "65000:70000": 70000 does not fit in 16 bits (at most 65535)`),
			perr(kindBGPAdv, "bgp", "spec.communities[2]", inv,
				`invalid community "large:1:2": a large community has three parts: "large:<global>:<local1>:<local2>"`),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := advFixture()
			res.BGPAdvertisements = []v1beta1.BGPAdvertisement{bgpAdv("bgp", tt.spec)}
			c, problems := For(res)
			diffProblems(t, problemsOf(problems, kindBGPAdv), tt.problems)
			var got *BGPAdvertisement
			if adv := c.BGPAdvertisements(); len(adv) > 0 {
				got = adv[0]
			}
			if d := cmp.Diff(tt.want, got, cmpOpts); d != "" {
				t.Errorf("advertisement (-want +got):\n%s", d)
			}
		})
	}
}

func TestAdvertisementsWithoutPoolsOrNodes(t *testing.T) {
	// With nothing to resolve against, an empty spec applies to nothing and
	// there is nothing to warn about.
	res := ClusterResources{
		L2Advertisements:  []v1beta1.L2Advertisement{l2Adv("l2", v1beta1.L2AdvertisementSpec{NodeSelectors: []metav1.LabelSelector{labelSelector("a", "b")}})},
		BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAdv("bgp", v1beta1.BGPAdvertisementSpec{AggregationLength: ptr(int32(0))})},
	}
	c := mustFor(t, res, nil)
	want := []*BGPAdvertisement{{Name: "bgp", AggregationLength: 0, AggregationLengthV6: 128}}
	if d := cmp.Diff(want, c.BGPAdvertisements(), cmpOpts); d != "" {
		t.Errorf("BGP advertisements (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]*L2Advertisement{{Name: "l2", NodeSelectors: []labels.Selector{mustSelector("a=b")}}}, c.L2Advertisements(), cmpOpts); d != "" {
		t.Errorf("L2 advertisements (-want +got):\n%s", d)
	}
}

func TestAdvertisementBecomesInvalid(t *testing.T) {
	res := advFixture()
	res.L2Advertisements = []v1beta1.L2Advertisement{l2Adv("l2", v1beta1.L2AdvertisementSpec{
		IPAddressPoolSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "zone", Operator: metav1.LabelSelectorOpExists},
		}}},
		Interfaces: []string{"eth0"},
	})}
	res.BGPAdvertisements = []v1beta1.BGPAdvertisement{bgpAdv("bgp", v1beta1.BGPAdvertisementSpec{
		IPAddressPools:    []string{"a", "b"},
		AggregationLength: ptr(int32(26)),
		Communities:       []string{"no-export"},
	})}
	c1, _ := For(res)
	wantL2 := &L2Advertisement{Name: "l2", Pools: []string{"a", "b"}, Interfaces: []string{"eth0"}}
	wantBGP := &BGPAdvertisement{
		Name: "bgp", Pools: []string{"a", "b"}, Peers: []string{"r1", "r2"},
		AggregationLength: 26, AggregationLengthV6: 128, Communities: []uint32{0xFFFFFF01},
	}
	if d := cmp.Diff([]*L2Advertisement{wantL2}, c1.L2Advertisements(), cmpOpts); d != "" {
		t.Fatalf("L2 (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]*BGPAdvertisement{wantBGP}, c1.BGPAdvertisements(), cmpOpts); d != "" {
		t.Fatalf("BGP (-want +got):\n%s", d)
	}

	// Both become invalid. Meanwhile pool a is deleted, pool d (zone=north,
	// a /26) and peer r3 appear. The last valid versions apply to the world
	// as it is now: L2 picks up d through its selector; BGP keeps b, drops
	// a (gone) and would not take d anyway (not named), and now also goes to
	// r3 (its spec named no peer, so every peer).
	res2 := advFixture()
	res2.Pools = append(res2.Pools[1:], modPool(ipPool("d", 9, "192.0.2.0/26"), func(p *v1beta1.IPAddressPool) {
		p.Labels = map[string]string{"zone": "north"}
	}))
	res2.BGPPeers = append(res2.BGPPeers, bgpPeer("r3", "192.0.2.253"))
	res2.L2Advertisements = []v1beta1.L2Advertisement{l2Adv("l2", v1beta1.L2AdvertisementSpec{Interfaces: []string{"not/valid"}})}
	res2.BGPAdvertisements = []v1beta1.BGPAdvertisement{bgpAdv("bgp", v1beta1.BGPAdvertisementSpec{Communities: []string{"nope"}})}
	c2, problems := forAfter(res2, c1)
	diffProblems(t, problemsOf(problems, kindL2Adv), []Problem{
		lastValid(kindL2Adv, "l2"),
		perr(kindL2Adv, "l2", "spec.interfaces[0]", v1beta1.ReasonInvalid, `"not/valid" is not an interface name (1 to 15 characters, no '/', ':' or spaces)`),
	})
	diffProblems(t, problemsOf(problems, kindBGPAdv), []Problem{
		lastValid(kindBGPAdv, "bgp"),
		perr(kindBGPAdv, "bgp", "spec.communities[0]", v1beta1.ReasonInvalid,
			`invalid community "nope": not "<asn>:<value>", "large:<global>:<local1>:<local2>" or a well-known name (`+wellKnownNames+`)`),
	})
	wantL2.Pools = []string{"b", "d"}
	wantBGP.Pools = []string{"b"}
	wantBGP.Peers = []string{"r1", "r2", "r3"}
	if d := cmp.Diff([]*L2Advertisement{wantL2}, c2.L2Advertisements(), cmpOpts); d != "" {
		t.Errorf("kept L2 (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]*BGPAdvertisement{wantBGP}, c2.BGPAdvertisements(), cmpOpts); d != "" {
		t.Errorf("kept BGP (-want +got):\n%s", d)
	}
	// The previous Config is not touched.
	if got := c1.L2Advertisements()[0].Pools; !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("previous Config changed: L2 pools = %v", got)
	}

	// Pool b shrinks to a /28: the kept BGP version (/26) no longer fits it,
	// so b is dropped from it rather than announced as a /26.
	res3 := res2
	res3.Pools = append([]v1beta1.IPAddressPool{}, res2.Pools...)
	res3.Pools[0] = modPool(res3.Pools[0], func(p *v1beta1.IPAddressPool) { p.Spec.Addresses = []string{"198.51.100.0/28"} })
	c3, _ := forAfter(res3, c2)
	wantBGP.Pools = nil
	if d := cmp.Diff([]*BGPAdvertisement{wantBGP}, c3.BGPAdvertisements(), cmpOpts); d != "" {
		t.Errorf("kept BGP after the pool shrank (-want +got):\n%s", d)
	}

	// Deleted advertisements are gone, kept versions or not.
	res4 := res3
	res4.L2Advertisements, res4.BGPAdvertisements = nil, nil
	c4, _ := forAfter(res4, c3)
	if len(c4.L2Advertisements())+len(c4.BGPAdvertisements()) != 0 {
		t.Errorf("deleted advertisements still in the model")
	}
}

func TestAdvertisementInvalidWithoutPrevious(t *testing.T) {
	res := advFixture()
	res.L2Advertisements = []v1beta1.L2Advertisement{l2Adv("l2", v1beta1.L2AdvertisementSpec{Interfaces: []string{""}})}
	res.BGPAdvertisements = []v1beta1.BGPAdvertisement{bgpAdv("bgp", v1beta1.BGPAdvertisementSpec{AggregationLength: ptr(int32(99))})}
	// A previous Config without these advertisements has nothing to keep.
	prev := mustFor(t, ClusterResources{}, nil)
	c, problems := forAfter(res, prev)
	if len(c.L2Advertisements())+len(c.BGPAdvertisements()) != 0 {
		t.Errorf("invalid advertisements in the model: %v %v", c.L2Advertisements(), c.BGPAdvertisements())
	}
	for _, p := range problems {
		if p.Reason == v1beta1.ReasonLastValidInUse {
			t.Errorf("unexpected %v", p)
		}
	}
}

func TestSeveralAdvertisements(t *testing.T) {
	// Advertisements are independent: one that is invalid leaves the others
	// alone, and the model lists them by name.
	res := advFixture()
	res.L2Advertisements = []v1beta1.L2Advertisement{
		l2Adv("zz", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"c"}}),
		l2Adv("bad", v1beta1.L2AdvertisementSpec{Interfaces: []string{"a b"}}),
		l2Adv("aa", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"a"}}),
	}
	res.BGPAdvertisements = []v1beta1.BGPAdvertisement{
		bgpAdv("second", v1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"b"}, LocalPref: ptr(int64(200))}),
		bgpAdv("broken", v1beta1.BGPAdvertisementSpec{Communities: []string{"x"}}),
		bgpAdv("first", v1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"b"}, LocalPref: ptr(int64(100))}),
	}
	c, problems := For(res)
	wantL2 := []*L2Advertisement{{Name: "aa", Pools: []string{"a"}}, {Name: "zz", Pools: []string{"c"}}}
	if d := cmp.Diff(wantL2, c.L2Advertisements(), cmpOpts); d != "" {
		t.Errorf("L2 (-want +got):\n%s", d)
	}
	var gotBGP []string
	for _, a := range c.BGPAdvertisements() {
		gotBGP = append(gotBGP, a.Name)
	}
	if d := cmp.Diff([]string{"first", "second"}, gotBGP); d != "" {
		t.Errorf("BGP (-want +got):\n%s", d)
	}
	// Errors only: first and second also warn that localPref is ignored
	// for the fixture's eBGP peers.
	n := 0
	for _, p := range append(problemsOf(problems, kindL2Adv), problemsOf(problems, kindBGPAdv)...) {
		if !p.Warning {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d advertisement errors, want 2: %v", n, problems)
	}
}

func TestLocalPrefIgnoredForEBGP(t *testing.T) {
	// r1 is made iBGP (myASN = peerASN); r2 stays eBGP.
	warn := func(peers string) []Problem {
		return []Problem{pwarn(kindBGPAdv, "bgp", "spec.localPref", v1beta1.ReasonLocalPrefIgnored,
			"ignored for the eBGP peers "+peers+": LOCAL_PREF is sent to iBGP peers only (RFC 4271 5.1.5)")}
	}
	tests := []struct {
		name     string
		spec     v1beta1.BGPAdvertisementSpec
		problems []Problem
	}{{
		name: "no localPref: nothing to say",
		spec: v1beta1.BGPAdvertisementSpec{},
	}, {
		name: "iBGP peer only: sent",
		spec: v1beta1.BGPAdvertisementSpec{Peers: []string{"r1"}, LocalPref: ptr(int64(200))},
	}, {
		name:     "every peer: ignored for the eBGP one",
		spec:     v1beta1.BGPAdvertisementSpec{LocalPref: ptr(int64(200))},
		problems: warn(`"r2"`),
	}, {
		name:     "eBGP peer named: ignored",
		spec:     v1beta1.BGPAdvertisementSpec{Peers: []string{"r2"}, LocalPref: ptr(int64(0))},
		problems: warn(`"r2"`),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := advFixture()
			res.BGPPeers[0] = modPeer(res.BGPPeers[0], func(s *v1beta1.BGPPeerSpec) { s.PeerASN = s.MyASN })
			res.BGPAdvertisements = []v1beta1.BGPAdvertisement{bgpAdv("bgp", tt.spec)}
			c, problems := For(res)
			diffProblems(t, problemsOf(problems, kindBGPAdv), tt.problems)
			if n := len(c.BGPAdvertisements()); n != 1 {
				t.Errorf("%d advertisements in the model, want 1: a warning keeps it in use", n)
			}
			cond := ReadyCondition(problemsOf(problems, kindBGPAdv), 1)
			if want := len(tt.problems) > 0; (cond.Reason == v1beta1.ReasonLocalPrefIgnored) != want || cond.Status != metav1.ConditionTrue {
				t.Errorf("Ready condition %s %s: %s", cond.Status, cond.Reason, cond.Message)
			}
		})
	}
}

func TestAdvertisementDoesNotAliasObject(t *testing.T) {
	res := advFixture()
	res.L2Advertisements = []v1beta1.L2Advertisement{l2Adv("l2", v1beta1.L2AdvertisementSpec{
		IPAddressPools: []string{"a"}, Interfaces: []string{"eth0"},
	})}
	res.BGPAdvertisements = []v1beta1.BGPAdvertisement{bgpAdv("bgp", v1beta1.BGPAdvertisementSpec{
		IPAddressPools: []string{"a"}, Peers: []string{"r1"}, LocalPref: ptr(int64(7)),
	})}
	c, _ := For(res)
	res.L2Advertisements[0].Spec.Interfaces[0] = "eth9"
	res.L2Advertisements[0].Spec.IPAddressPools[0] = "b"
	res.BGPAdvertisements[0].Spec.Peers[0] = "r2"
	*res.BGPAdvertisements[0].Spec.LocalPref = 8
	l2, bgp := c.L2Advertisements()[0], c.BGPAdvertisements()[0]
	if l2.Interfaces[0] != "eth0" || l2.Pools[0] != "a" || bgp.Peers[0] != "r1" || *bgp.LocalPref != 7 {
		t.Errorf("the model changed with the objects it was built from: %+v %+v", l2, bgp)
	}
	// The kept version re-resolves from what it was built from, not from
	// the edited objects.
	res.L2Advertisements[0].Spec.Interfaces = []string{"not/ok"}
	res.L2Advertisements[0].Spec.IPAddressPools = []string{"b"}
	c2, _ := forAfter(res, c)
	if got := c2.L2Advertisements()[0].Pools; !cmp.Equal(got, []string{"a"}) {
		t.Errorf("kept L2 pools = %v, want [a]", got)
	}
}
