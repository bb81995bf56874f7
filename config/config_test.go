package config

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func withAllocation(p v1beta1.IPAddressPool, f func(*v1beta1.ServiceAllocation)) v1beta1.IPAddressPool {
	return modPool(p, func(p *v1beta1.IPAddressPool) {
		if p.Spec.AllocateTo == nil {
			p.Spec.AllocateTo = &v1beta1.ServiceAllocation{}
		}
		f(p.Spec.AllocateTo)
	})
}

func priority(p v1beta1.IPAddressPool, prio int32) v1beta1.IPAddressPool {
	return withAllocation(p, func(a *v1beta1.ServiceAllocation) { a.Priority = ptr(prio) })
}

// orderingPools exercises every rule of AutoPools and PoolsFor.
func orderingPools() []v1beta1.IPAddressPool {
	return []v1beta1.IPAddressPool{
		ipPool("no-prio-b", 0, "10.0.1.0/24"),
		ipPool("no-prio-a", 1, "10.0.2.0/24"),
		priority(ipPool("prio-5", 2, "10.0.3.0/24"), 5),
		priority(ipPool("prio-1-b", 3, "10.0.4.0/24"), 1),
		priority(ipPool("prio-1-a", 4, "10.0.5.0/24"), 1),
		priority(ipPool("prio-neg", 5, "10.0.6.0/24"), -3),
		priority(modPool(ipPool("disabled", 6, "10.0.7.0/24"), func(p *v1beta1.IPAddressPool) { p.Spec.Disabled = true }), -10),
		priority(modPool(ipPool("manual", 7, "10.0.8.0/24"), func(p *v1beta1.IPAddressPool) { p.Spec.AutoAssign = ptr(false) }), -10),
		withAllocation(priority(ipPool("web-only", 8, "10.0.9.0/24"), 0), func(a *v1beta1.ServiceAllocation) {
			a.Namespaces = []string{"web"}
		}),
		withAllocation(priority(ipPool("blue-ns", 9, "10.0.10.0/24"), 0), func(a *v1beta1.ServiceAllocation) {
			a.NamespaceSelectors = []metav1.LabelSelector{labelSelector("team", "blue")}
		}),
		withAllocation(priority(ipPool("edge-svc", 10, "10.0.11.0/24"), 0), func(a *v1beta1.ServiceAllocation) {
			a.ServiceSelectors = []metav1.LabelSelector{labelSelector("tier", "edge")}
		}),
		withAllocation(ipPool("web-edge", 11, "10.0.12.0/24"), func(a *v1beta1.ServiceAllocation) {
			a.Namespaces = []string{"web"}
			a.ServiceSelectors = []metav1.LabelSelector{labelSelector("tier", "edge")}
		}),
	}
}

func TestAutoPoolsAndPoolsFor(t *testing.T) {
	c := mustFor(t, ClusterResources{Pools: orderingPools()}, nil)
	unrestricted := []string{"prio-neg", "prio-1-a", "prio-1-b", "prio-5", "no-prio-a", "no-prio-b"}
	tests := []struct {
		name     string
		svc      ServiceInfo
		auto     []string
		poolsFor []string
	}{{
		name:     "plain namespace: priority, then name; no priority last",
		svc:      ServiceInfo{Namespace: "default"},
		auto:     unrestricted,
		poolsFor: append([]string{"manual"}, unrestricted...),
	}, {
		name:     "listed namespace",
		svc:      ServiceInfo{Namespace: "web"},
		auto:     []string{"prio-neg", "web-only", "prio-1-a", "prio-1-b", "prio-5", "no-prio-a", "no-prio-b"},
		poolsFor: []string{"manual", "prio-neg", "web-only", "prio-1-a", "prio-1-b", "prio-5", "no-prio-a", "no-prio-b"},
	}, {
		name:     "selected namespace",
		svc:      ServiceInfo{Namespace: "db", NamespaceLabels: map[string]string{"team": "blue"}},
		auto:     []string{"prio-neg", "blue-ns", "prio-1-a", "prio-1-b", "prio-5", "no-prio-a", "no-prio-b"},
		poolsFor: []string{"manual", "prio-neg", "blue-ns", "prio-1-a", "prio-1-b", "prio-5", "no-prio-a", "no-prio-b"},
	}, {
		name: "selected service in a listed namespace",
		svc:  ServiceInfo{Namespace: "web", Labels: map[string]string{"tier": "edge"}},
		auto: []string{"prio-neg", "edge-svc", "web-only", "prio-1-a", "prio-1-b", "prio-5", "no-prio-a", "no-prio-b", "web-edge"},
		poolsFor: []string{"manual", "prio-neg", "edge-svc", "web-only", "prio-1-a", "prio-1-b", "prio-5",
			"no-prio-a", "no-prio-b", "web-edge"},
	}, {
		name:     "selected service elsewhere",
		svc:      ServiceInfo{Namespace: "db", Labels: map[string]string{"tier": "edge"}},
		auto:     []string{"prio-neg", "edge-svc", "prio-1-a", "prio-1-b", "prio-5", "no-prio-a", "no-prio-b"},
		poolsFor: []string{"manual", "prio-neg", "edge-svc", "prio-1-a", "prio-1-b", "prio-5", "no-prio-a", "no-prio-b"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.auto, poolNames(c.AutoPools(tt.svc))); d != "" {
				t.Errorf("AutoPools (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.poolsFor, poolNames(c.PoolsFor(tt.svc))); d != "" {
				t.Errorf("PoolsFor (-want +got):\n%s", d)
			}
		})
	}
}

func TestPoolsIncludesDisabled(t *testing.T) {
	c := mustFor(t, ClusterResources{Pools: orderingPools()}, nil)
	want := []string{"blue-ns", "disabled", "edge-svc", "manual", "no-prio-a", "no-prio-b", "prio-1-a", "prio-1-b",
		"prio-5", "prio-neg", "web-edge", "web-only"}
	if d := cmp.Diff(want, poolNames(c.Pools())); d != "" {
		t.Errorf("Pools (-want +got):\n%s", d)
	}
	if p := c.Pool("disabled"); p == nil || !p.Disabled {
		t.Errorf(`Pool("disabled") = %+v`, p)
	}
	if p := c.Pool("nope"); p != nil {
		t.Errorf(`Pool("nope") = %+v, want nil`, p)
	}
}

func TestPoolContaining(t *testing.T) {
	c := mustFor(t, ClusterResources{Pools: orderingPools()}, nil)
	for addr, want := range map[string]string{
		"10.0.1.0":   "no-prio-b",
		"10.0.7.255": "disabled", // disabled pools still own their addresses
		"10.0.8.9":   "manual",
		"10.0.13.1":  "",
		"fd00::1":    "",
	} {
		got := ""
		if p := c.PoolContaining(netip.MustParseAddr(addr)); p != nil {
			got = p.Name
		}
		if got != want {
			t.Errorf("PoolContaining(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestNilConfig(t *testing.T) {
	var c *Config
	svc := ServiceInfo{Namespace: "x"}
	if c.Pool("a") != nil || c.Pools() != nil || c.PoolContaining(netip.MustParseAddr("192.0.2.1")) != nil ||
		c.AutoPools(svc) != nil || c.PoolsFor(svc) != nil || c.L2Advertisements() != nil ||
		c.BGPPeer("p") != nil || c.BGPPeers() != nil || c.BGPAdvertisements() != nil {
		t.Error("a nil Config returned something")
	}
}

func TestEmptySnapshot(t *testing.T) {
	c, problems := For(ClusterResources{})
	if c == nil || len(problems) != 0 || len(c.Pools()) != 0 {
		t.Errorf("For(empty) = %+v, %v", c, problems)
	}
}

func TestAccessorsReturnCopies(t *testing.T) {
	res := advFixture()
	res.L2Advertisements = []v1beta1.L2Advertisement{l2Adv("l2", v1beta1.L2AdvertisementSpec{})}
	res.BGPAdvertisements = []v1beta1.BGPAdvertisement{bgpAdv("bgp", v1beta1.BGPAdvertisementSpec{})}
	c, _ := For(res)
	c.Pools()[0] = nil
	c.L2Advertisements()[0] = nil
	c.BGPAdvertisements()[0] = nil
	c.BGPPeers()[0] = nil
	c.AutoPools(ServiceInfo{})[0] = nil
	if c.Pools()[0] == nil || c.L2Advertisements()[0] == nil || c.BGPAdvertisements()[0] == nil ||
		c.BGPPeers()[0] == nil || c.AutoPools(ServiceInfo{})[0] == nil {
		t.Error("changing a returned slice changed the Config")
	}
}

// richSnapshot has at least one of everything, valid and invalid, so that
// order-independence is checked on every path.
func richSnapshot() ClusterResources {
	res := advFixture()
	res.Pools = append(res.Pools, orderingPools()...)
	res.Pools = append(res.Pools,
		ipPool("overlap-old", 0, "172.16.0.0/16"),
		ipPool("overlap-new", 5, "172.16.1.0/24"),
		ipPool("overlap-same-1", 7, "172.17.0.0/24"),
		ipPool("overlap-same-0", 7, "172.17.0.128/25"),
	)
	res.BGPPeers = append(res.BGPPeers, modPeer(bgpPeer("pw", "192.0.2.252"), func(s *v1beta1.BGPPeerSpec) {
		s.PasswordSecret = &v1beta1.SecretReference{Name: "bgp"}
	}))
	res.Secrets = []corev1.Secret{secret(installNS, "bgp", map[string]string{"password": "x"}), secret("b", "c", nil)}
	res.InstallNamespace = installNS
	res.L2Advertisements = []v1beta1.L2Advertisement{
		l2Adv("l2-all", v1beta1.L2AdvertisementSpec{}),
		l2Adv("l2-some", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"a", "missing"}, Interfaces: []string{"eth1", "eth0"}}),
		l2Adv("l2-bad", v1beta1.L2AdvertisementSpec{Interfaces: []string{"x/y"}}),
	}
	res.BGPAdvertisements = []v1beta1.BGPAdvertisement{
		bgpAdv("bgp-all", v1beta1.BGPAdvertisementSpec{Communities: []string{"no-peer", "1:1"}}),
		bgpAdv("bgp-some", v1beta1.BGPAdvertisementSpec{Peers: []string{"r2", "gone"}, IPAddressPoolSelectors: []metav1.LabelSelector{labelSelector("zone", "east")}}),
		bgpAdv("bgp-bad", v1beta1.BGPAdvertisementSpec{AggregationLength: ptr(int32(8))}),
	}
	return res
}

// shuffled returns res with every list in a random order.
func shuffled(res ClusterResources, rng *rand.Rand) ClusterResources {
	shuffle := func(n int, swap func(i, j int)) { rng.Shuffle(n, swap) }
	res.Pools = slices.Clone(res.Pools)
	shuffle(len(res.Pools), func(i, j int) { res.Pools[i], res.Pools[j] = res.Pools[j], res.Pools[i] })
	res.BGPPeers = slices.Clone(res.BGPPeers)
	shuffle(len(res.BGPPeers), func(i, j int) { res.BGPPeers[i], res.BGPPeers[j] = res.BGPPeers[j], res.BGPPeers[i] })
	res.L2Advertisements = slices.Clone(res.L2Advertisements)
	shuffle(len(res.L2Advertisements), func(i, j int) {
		res.L2Advertisements[i], res.L2Advertisements[j] = res.L2Advertisements[j], res.L2Advertisements[i]
	})
	res.BGPAdvertisements = slices.Clone(res.BGPAdvertisements)
	shuffle(len(res.BGPAdvertisements), func(i, j int) {
		res.BGPAdvertisements[i], res.BGPAdvertisements[j] = res.BGPAdvertisements[j], res.BGPAdvertisements[i]
	})
	res.Secrets = slices.Clone(res.Secrets)
	shuffle(len(res.Secrets), func(i, j int) { res.Secrets[i], res.Secrets[j] = res.Secrets[j], res.Secrets[i] })
	res.Nodes = slices.Clone(res.Nodes)
	shuffle(len(res.Nodes), func(i, j int) { res.Nodes[i], res.Nodes[j] = res.Nodes[j], res.Nodes[i] })
	return res
}

// view is everything a Config shows through its methods.
type view struct {
	Pools    []*Pool
	Auto     []*Pool
	L2       []*L2Advertisement
	Peers    []*BGPPeer
	BGP      []*BGPAdvertisement
	Problems []Problem
}

func viewOf(c *Config, problems []Problem) view {
	return view{c.Pools(), c.AutoPools(ServiceInfo{Namespace: "web"}), c.L2Advertisements(), c.BGPPeers(), c.BGPAdvertisements(), problems}
}

func TestOrderDoesNotMatter(t *testing.T) {
	res := richSnapshot()
	c, problems := For(res)
	want := viewOf(c, problems)
	if len(problems) == 0 || len(c.Pools()) == 0 || len(c.BGPAdvertisements()) == 0 {
		t.Fatalf("the snapshot should exercise problems and every kind: %+v", want)
	}
	// An edited snapshot on top of the first Config exercises kept versions.
	edited := richSnapshot()
	edited.Pools[0].Spec.Addresses = []string{"broken"}
	edited.L2Advertisements[0].Spec.Interfaces = []string{""}
	cPrev, problemsPrev := forAfter(edited, c)
	wantPrev := viewOf(cPrev, problemsPrev)

	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		c, problems := For(shuffled(res, rng))
		if d := cmp.Diff(want, viewOf(c, problems), cmpOpts); d != "" {
			t.Fatalf("shuffle %d changed the result (-want +got):\n%s", i, d)
		}
		c, problems = forAfter(shuffled(edited, rng), c)
		if d := cmp.Diff(wantPrev, viewOf(c, problems), cmpOpts); d != "" {
			t.Fatalf("shuffle %d changed the result with a previous Config (-want +got):\n%s", i, d)
		}
	}
}

func TestForDoesNotModifyInput(t *testing.T) {
	res := richSnapshot()
	before := cloneResources(res)
	c, _ := For(res)
	if d := cmp.Diff(before, res); d != "" {
		t.Errorf("For changed its input (-before +after):\n%s", d)
	}
	prevBefore := viewOf(c, nil)
	edited := richSnapshot()
	edited.Pools[0].Spec.Addresses = []string{"broken"}
	forAfter(edited, c)
	if d := cmp.Diff(prevBefore, viewOf(c, nil), cmpOpts); d != "" {
		t.Errorf("For changed the previous Config (-before +after):\n%s", d)
	}
}

func cloneResources(res ClusterResources) ClusterResources {
	out := res
	out.Pools = nil
	for _, p := range res.Pools {
		out.Pools = append(out.Pools, *p.DeepCopy())
	}
	out.L2Advertisements = nil
	for _, a := range res.L2Advertisements {
		out.L2Advertisements = append(out.L2Advertisements, *a.DeepCopy())
	}
	out.BGPPeers = nil
	for _, p := range res.BGPPeers {
		out.BGPPeers = append(out.BGPPeers, *p.DeepCopy())
	}
	out.BGPAdvertisements = nil
	for _, a := range res.BGPAdvertisements {
		out.BGPAdvertisements = append(out.BGPAdvertisements, *a.DeepCopy())
	}
	out.Secrets = nil
	for _, s := range res.Secrets {
		out.Secrets = append(out.Secrets, *s.DeepCopy())
	}
	out.Nodes = nil
	for _, n := range res.Nodes {
		out.Nodes = append(out.Nodes, *n.DeepCopy())
	}
	return out
}

func TestDuplicateNames(t *testing.T) {
	// The API server never gives two objects one name, but a hand-made
	// snapshot can. The oldest wins, whatever the order.
	older := ipPool("a", 0, "192.0.2.0/24")
	newer := ipPool("a", 1, "198.51.100.0/24")
	for _, pools := range [][]v1beta1.IPAddressPool{{older, newer}, {newer, older}} {
		c := mustFor(t, ClusterResources{Pools: pools}, nil)
		if d := cmp.Diff([]*Pool{model("a", 0, "192.0.2.0/24")}, c.Pools(), cmpOpts); d != "" {
			t.Errorf("pools (-want +got):\n%s", d)
		}
	}
}

func TestProblemsSorted(t *testing.T) {
	_, problems := For(richSnapshot())
	sorted := slices.IsSortedFunc(problems, func(a, b Problem) int {
		return strings.Compare(a.Kind+"/"+a.Name, b.Kind+"/"+b.Name)
	})
	if !sorted {
		t.Errorf("problems are not sorted by kind and name: %v", problems)
	}
}

func TestProblemError(t *testing.T) {
	for _, tt := range []struct {
		p    Problem
		want string
	}{{
		p:    perr(kindPool, "a", "spec.addresses[1]", v1beta1.ReasonOverlap, `overlaps pool "b" (192.0.2.0/24)`),
		want: `IPAddressPool "a": spec.addresses[1]: overlaps pool "b" (192.0.2.0/24)`,
	}, {
		p:    lastValid(kindPeer, "p"),
		want: `BGPPeer "p": ` + lastValidMsg,
	}, {
		p:    pwarn(kindL2Adv, "x", "spec.nodeSelectors[0]", v1beta1.ReasonSelectsNothing, "selects no node (a=b)"),
		want: `L2Advertisement "x": spec.nodeSelectors[0]: selects no node (a=b)`,
	}} {
		var err error = tt.p
		if got := err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestResourcesJSON(t *testing.T) {
	res := richSnapshot()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, key := range []string{`"pools":`, `"l2Advertisements":`, `"bgpPeers":`, `"bgpAdvertisements":`, `"nodes":`, `"installNamespace":"portico-system"`} {
		if !strings.Contains(s, key) {
			t.Errorf("dump lacks %s", key)
		}
	}
	if strings.Contains(s, `"secrets"`) || strings.Contains(s, "basic-auth") || strings.Contains(s, "eA==") {
		t.Errorf("dump contains Secrets: %s", s)
	}
	var back ClusterResources
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Pools) != len(res.Pools) || len(back.BGPPeers) != len(res.BGPPeers) {
		t.Errorf("round trip lost objects")
	}
}

func TestByPriority(t *testing.T) {
	pools := []*Pool{
		{Name: "none-b"},
		{Name: "max", Priority: ptr(int32(2147483647))},
		{Name: "one-b", Priority: ptr(int32(1))},
		{Name: "none-a"},
		{Name: "min", Priority: ptr(int32(-2147483648))},
		{Name: "one-a", Priority: ptr(int32(1))},
		{Name: "zero", Priority: ptr(int32(0))},
	}
	slices.SortFunc(pools, byPriority)
	want := []string{"min", "zero", "one-a", "one-b", "max", "none-a", "none-b"}
	if d := cmp.Diff(want, poolNames(pools)); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
}

func TestUniqueByName(t *testing.T) {
	meta := func(p *v1beta1.IPAddressPool) *metav1.ObjectMeta { return &p.ObjectMeta }
	withUID := func(p v1beta1.IPAddressPool, uid string) v1beta1.IPAddressPool {
		p.UID = types.UID(uid)
		return p
	}
	in := []v1beta1.IPAddressPool{
		ipPool("b", 0, "x"),
		withUID(ipPool("a", 5, "newer"), "1"),
		withUID(ipPool("a", 1, "older, uid 2"), "2"),
		withUID(ipPool("a", 1, "older, uid 1"), "1"),
		ipPool("c", 0, "y"),
	}
	got := uniqueByName(in, meta)
	var names []string
	for _, p := range got {
		names = append(names, p.Name+"="+p.Spec.Addresses[0])
	}
	if d := cmp.Diff([]string{"a=older, uid 1", "b=x", "c=y"}, names); d != "" {
		t.Errorf("uniqueByName (-want +got):\n%s", d)
	}
	if &in[3] != got[0] {
		t.Error("uniqueByName copied the object instead of pointing at it")
	}
	if in[0].Name != "b" || in[1].Spec.Addresses[0] != "newer" {
		t.Error("uniqueByName reordered its input")
	}
}

func TestPoolContainingAfterOverlap(t *testing.T) {
	// The addresses of a pool that gave way belong to the winner.
	c, _ := For(ClusterResources{Pools: []v1beta1.IPAddressPool{
		ipPool("old", 0, "192.0.2.0/24", "fd00::/64"),
		ipPool("new", 1, "192.0.2.128/25", "198.51.100.0/24"),
	}})
	for addr, want := range map[string]string{
		"192.0.2.200":   "old",
		"fd00::1234":    "old",
		"198.51.100.10": "", // new's own addresses are in no pool in use
	} {
		got := ""
		if p := c.PoolContaining(netip.MustParseAddr(addr)); p != nil {
			got = p.Name
		}
		if got != want {
			t.Errorf("PoolContaining(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestAutoPoolsAfterLastValidVersion(t *testing.T) {
	// A kept version keeps its place in the order: its priority is the one
	// it had, not the one of the invalid edit.
	res := ClusterResources{Pools: []v1beta1.IPAddressPool{
		priority(ipPool("a", 0, "192.0.2.0/24"), 5),
		priority(ipPool("b", 1, "198.51.100.0/24"), 3),
	}}
	c1 := mustFor(t, res, nil)
	res.Pools[0] = priority(ipPool("a", 0, "192.0.2.0/24", "nonsense"), 1)
	c2, _ := forAfter(res, c1)
	if d := cmp.Diff([]string{"b", "a"}, poolNames(c2.AutoPools(ServiceInfo{}))); d != "" {
		t.Errorf("AutoPools (-want +got):\n%s", d)
	}
}
