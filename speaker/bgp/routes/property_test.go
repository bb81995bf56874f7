package routes_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/bgp/routes"
	"k8s.io/apimachinery/pkg/labels"
)

// TestForProperties builds random configurations and walks a random desired
// state through edits, checking after every step what must always hold.
func TestForProperties(t *testing.T) {
	const seeds, steps = 500, 20
	routesSeen := 0
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		cfg := build(t, randomResources(rng))
		node := routes.Node{Name: "node", Labels: map[string]string{"rack": fmt.Sprint(rng.IntN(3))}}
		if rng.IntN(10) == 0 {
			node.Labels[routes.ExcludeLabel] = ""
		}
		desired := announce.Desired{}
		for step := range steps {
			// The speaker restarts now and then (not settled again
			// until its membership says so) and settles later.
			switch {
			case rng.IntN(8) == 0:
				node.Settled = false
			case rng.IntN(3) == 0:
				node.Settled = true
			}
			ip := randomAddr(rng)
			switch rng.IntN(4) {
			case 0:
				delete(desired, ip)
			default:
				desired[ip] = announce.Want{Eligible: rng.IntN(4) != 0, Elected: rng.IntN(2) == 0}
			}
			if err := checkPlan(cfg, node, desired); err != nil {
				t.Fatalf("seed %d, step %d: %v", seed, step, err)
			}
			for _, rs := range routes.For(cfg, node, desired) {
				routesSeen += len(rs)
			}
		}
	}
	// The generator must exercise the rules, not only empty plans.
	if routesSeen < seeds*steps/4 {
		t.Errorf("only %d routes over %d plans: the generator is too sparse", routesSeen, seeds*steps)
	}
	t.Logf("%d routes over %d plans", routesSeen, seeds*steps)
}

var (
	propPools = []struct{ name, v4, v6 string }{
		{"p0", "192.0.2.0/24", "2001:db8:0::/64"},
		{"p1", "198.51.100.0/24", "2001:db8:1::/64"},
		{"p2", "203.0.113.0/24", ""},
	}
	propPeers = []struct {
		name string
		addr string
	}{{"r0", "10.0.0.1"}, {"r1", "10.0.0.2"}, {"r6", "fd00::1"}}
)

func randomResources(rng *rand.Rand) config.ClusterResources {
	var res config.ClusterResources
	for _, p := range propPools {
		addrs := []string{p.v4}
		if p.v6 != "" {
			addrs = append(addrs, p.v6)
		}
		res.Pools = append(res.Pools, pool(p.name, addrs...))
	}
	for _, p := range propPeers {
		if rng.IntN(4) == 0 {
			continue
		}
		peerASN := int64(64512)
		if rng.IntN(2) == 0 {
			peerASN = 65001
		}
		res.BGPPeers = append(res.BGPPeers, peer(p.name, 64512, peerASN, p.addr, func(s *v1beta1.BGPPeerSpec) {
			if rng.IntN(3) == 0 {
				s.NodeSelectors = sel("rack", fmt.Sprint(rng.IntN(3)))
			}
			s.GracefulRestart = rng.IntN(3) == 0
		}))
	}
	for i := range rng.IntN(4) {
		res.BGPAdvertisements = append(res.BGPAdvertisements, adv(fmt.Sprintf("a%d", i), func(a *v1beta1.BGPAdvertisementSpec) {
			for _, p := range propPools {
				if rng.IntN(2) == 0 {
					a.IPAddressPools = append(a.IPAddressPools, p.name)
				}
			}
			for _, p := range propPeers {
				if rng.IntN(3) == 0 {
					a.Peers = append(a.Peers, p.name)
				}
			}
			if rng.IntN(3) == 0 {
				a.NodeSelectors = sel("rack", fmt.Sprint(rng.IntN(3)))
			}
			if rng.IntN(3) == 0 {
				a.AggregationLength = ptr(int32(24 + rng.IntN(9)))
				a.AggregationLengthV6 = ptr(int32(64 + rng.IntN(65)))
			}
			if rng.IntN(2) == 0 {
				a.LocalPref = ptr(int64(rng.IntN(300)))
			}
			for range rng.IntN(3) {
				a.Communities = append(a.Communities, fmt.Sprintf("65000:%d", rng.IntN(4)))
			}
			if rng.IntN(4) == 0 {
				a.Communities = append(a.Communities, "large:1:2:3")
			}
		}))
	}
	return res
}

// randomAddr is in one of the pools most of the time, and in none or
// IPv4-mapped now and then.
func randomAddr(rng *rand.Rand) netip.Addr {
	switch rng.IntN(10) {
	case 0:
		return netip.AddrFrom4([4]byte{100, 64, 0, byte(rng.IntN(4))})
	case 1:
		return netip.AddrFrom16(netip.MustParseAddr("::ffff:192.0.2.0").As16()).Next()
	}
	p := propPools[rng.IntN(len(propPools))]
	if p.v6 != "" && rng.IntN(2) == 0 {
		b := netip.MustParsePrefix(p.v6).Addr().As16()
		b[15] = byte(rng.IntN(8))
		return netip.AddrFrom16(b)
	}
	b := netip.MustParsePrefix(p.v4).Addr().As4()
	b[3] = byte(rng.IntN(8))
	return netip.AddrFrom4(b)
}

// checkPlan computes the plan twice (once from a copy of desired built in
// another order) and checks it against the rules of For.
func checkPlan(cfg *config.Config, node routes.Node, desired announce.Desired) error {
	plan := routes.For(cfg, node, desired)
	again := announce.Desired{}
	keys := make([]netip.Addr, 0, len(desired))
	for ip := range desired {
		keys = append(keys, ip)
	}
	slices.SortFunc(keys, func(a, b netip.Addr) int { return b.Compare(a) })
	for _, ip := range keys {
		again[ip] = desired[ip]
	}
	if d := cmp.Diff(plan, routes.For(cfg, node, again), cmpOpts); d != "" {
		return fmt.Errorf("not deterministic (-first +second):\n%s", d)
	}

	_, excluded := node.Labels[routes.ExcludeLabel]
	set := labels.Set(node.Labels)
	for _, p := range cfg.BGPPeers() {
		_, in := plan[p.Name]
		// A graceful-restart session before the node settled would end
		// in an End-of-RIB without the routes the router kept.
		if want := !excluded && selectsAll(p.NodeSelectors, set) && (!p.GracefulRestart || node.Settled); in != want {
			return fmt.Errorf("peer %s (gracefulRestart %v, node settled %v): in plan %v, want %v", p.Name, p.GracefulRestart, node.Settled, in, want)
		}
	}
	covered := map[string]map[netip.Addr]bool{}
	for name, rs := range plan {
		p := cfg.BGPPeer(name)
		if p == nil {
			return fmt.Errorf("plan names unknown peer %q", name)
		}
		covered[name] = map[netip.Addr]bool{}
		for i, r := range rs {
			if i > 0 && !prefixLess(rs[i-1].Prefix, r.Prefix) {
				return fmt.Errorf("peer %s: %s after %s: not sorted or duplicated", name, r.Prefix, rs[i-1].Prefix)
			}
			if r.Prefix.Addr().Is4() != p.Address.Is4() {
				return fmt.Errorf("peer %s: %s is of the other family", name, r.Prefix)
			}
			if len(r.Addrs) == 0 || len(r.Advertisements) == 0 {
				return fmt.Errorf("peer %s: %s has no address or no advertisement", name, r.Prefix)
			}
			if !slices.IsSorted(r.Communities) || len(slices.Compact(slices.Clone(r.Communities))) != len(r.Communities) {
				return fmt.Errorf("peer %s: %s communities %v not sorted and unique", name, r.Prefix, r.Communities)
			}
			if p.MyASN != p.PeerASN && r.HasLocalPref {
				return fmt.Errorf("peer %s: %s carries LOCAL_PREF on eBGP", name, r.Prefix)
			}
			for _, ip := range r.Addrs {
				covered[name][ip] = true
				if w, ok := desired[ip]; !ok || !w.Eligible {
					if w, ok = desired[netip.AddrFrom16(ip.As16())]; !ok || !w.Eligible {
						return fmt.Errorf("peer %s: %s announces %s, which is not eligible", name, r.Prefix, ip)
					}
				}
				pl := cfg.PoolContaining(ip)
				if pl == nil || !r.Prefix.Contains(ip) {
					return fmt.Errorf("peer %s: %s announces %s, in no pool or outside the prefix", name, r.Prefix, ip)
				}
				if !someAdvertises(cfg, r.Advertisements, pl.Name, name, set) {
					return fmt.Errorf("peer %s: %s: no advertisement of %v announces pool %s to it", name, r.Prefix, r.Advertisements, pl.Name)
				}
			}
		}
	}
	// Nothing eligible that an advertisement owes a peer is missing.
	for ip, w := range desired {
		ip = ip.Unmap()
		pl := cfg.PoolContaining(ip)
		if !w.Eligible || pl == nil {
			continue
		}
		for name := range plan {
			if ip.Is4() == cfg.BGPPeer(name).Address.Is4() && someAdvertises(cfg, nil, pl.Name, name, set) && !covered[name][ip] {
				return fmt.Errorf("peer %s: eligible %s is not announced", name, ip)
			}
		}
	}
	return nil
}

// someAdvertises reports whether an advertisement (among names; nil: any)
// that selects the node announces pool to peer.
func someAdvertises(cfg *config.Config, names []string, pool, peer string, node labels.Set) bool {
	for _, a := range cfg.BGPAdvertisements() {
		if (names == nil || slices.Contains(names, a.Name)) && selectsAll(a.NodeSelectors, node) &&
			slices.Contains(a.Pools, pool) && slices.Contains(a.Peers, peer) {
			return true
		}
	}
	return false
}

func selectsAll(sels []labels.Selector, set labels.Set) bool {
	if len(sels) == 0 {
		return true
	}
	return slices.ContainsFunc(sels, func(s labels.Selector) bool { return s.Matches(set) })
}

func prefixLess(a, b netip.Prefix) bool {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c < 0
	}
	return a.Bits() < b.Bits()
}
