package routes

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/announce"
	"k8s.io/apimachinery/pkg/labels"
)

// ExcludeLabel on a Node keeps it from announcing anything, as it keeps
// cloud load balancers from sending it traffic.
const ExcludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// LocalPrefIgnored is why a route to an eBGP peer carries no LOCAL_PREF
// although an advertisement sets one, in words for a status.
const LocalPrefIgnored = "localPref is sent to iBGP peers only (RFC 4271 5.1.5); this peer is eBGP"

// Node is what planning needs to know of this node.
type Node struct {
	Name   string
	Labels map[string]string
	// Settled: membership has counted the node alive (past its hold-down)
	// since the speaker started. Until then desired holds nothing the node
	// may announce, and a gracefulRestart peer gets no session (see For).
	// A later hold-down leaves open sessions be: it withdraws routes, which
	// an UPDATE does as well as closing would.
	Settled bool
}

// Plan is, by BGPPeer name, the routes to announce to that peer, sorted by
// prefix. It has an entry, possibly empty, for every peer this node opens a
// session to, and none for any other.
type Plan map[string][]Route

// Route is one prefix announced to one peer, with the union of what every
// advertisement that announces it to that peer asks for.
type Route struct {
	Prefix netip.Prefix
	// Addrs are the desired addresses the prefix announces, sorted.
	Addrs []netip.Addr
	// Advertisements name the BGPAdvertisements behind the route, sorted.
	Advertisements []string
	// Communities and LargeCommunities are sorted, without duplicates.
	Communities      []uint32
	LargeCommunities [][3]uint32
	// LocalPref is sent when HasLocalPref is set: the highest of the
	// advertisements' values, so the most preferred wins. On an eBGP
	// session it is never set; LocalPrefIgnored says so instead.
	LocalPref        uint32
	HasLocalPref     bool
	LocalPrefIgnored bool
}

// For returns the plan of node. A peer is in it when its nodeSelectors
// select the node (none: every node), the node is not labelled
// ExcludeLabel and, for a peer with gracefulRestart, the node is Settled. An address of desired is announced to a peer when it is
// Eligible, of the peer's address family, and some BGPAdvertisement whose
// nodeSelectors select the node names the peer and the address's pool; the
// prefix is the address masked to that advertisement's aggregation length.
// The result depends only on its arguments, not on map order.
func For(cfg *config.Config, node Node, desired announce.Desired) Plan {
	plan := Plan{}
	if _, excluded := node.Labels[ExcludeLabel]; excluded {
		return plan
	}
	set := labels.Set(node.Labels)
	peers := map[string]*config.BGPPeer{}
	for _, p := range cfg.BGPPeers() {
		// A graceful-restart session ends its first updates with an
		// End-of-RIB, and a router that kept this node's routes across a
		// restart drops every one not sent by then (RFC 4724 §4.2). A
		// speaker that has not settled announces nothing, so opening the
		// session then would flap the very routes graceful restart is there
		// to keep; it opens once the node knows its routes.
		if p.GracefulRestart && !node.Settled {
			continue
		}
		if selects(p.NodeSelectors, set) {
			peers[p.Name] = p
			plan[p.Name] = nil
		}
	}
	if len(peers) == 0 {
		return plan
	}

	// Addresses by pool, so each advertisement looks at its pools only.
	byPool := map[string][]netip.Addr{}
	for ip, w := range desired {
		if !w.Eligible {
			continue
		}
		ip = ip.Unmap().WithZone("")
		if p := cfg.PoolContaining(ip); p != nil {
			byPool[p.Name] = append(byPool[p.Name], ip)
		}
	}

	acc := map[string]map[netip.Prefix]*Route{}
	for _, a := range cfg.BGPAdvertisements() {
		if !selects(a.NodeSelectors, set) {
			continue
		}
		for _, peerName := range a.Peers {
			peer := peers[peerName]
			if peer == nil {
				continue
			}
			for _, pool := range a.Pools {
				for _, ip := range byPool[pool] {
					if ip.Is4() != peer.Address.Is4() {
						// A next hop of the other family would need RFC 8950
						// on both sides; a dual-stack router has a session
						// per family.
						continue
					}
					add(acc, peer, a, ip)
				}
			}
		}
	}
	for name, routes := range acc {
		out := make([]Route, 0, len(routes))
		for _, r := range routes {
			out = append(out, finish(r))
		}
		slices.SortFunc(out, func(a, b Route) int { return comparePrefix(a.Prefix, b.Prefix) })
		plan[name] = out
	}
	return plan
}

// selects reports whether node selectors select set; none select every node.
func selects(sels []labels.Selector, set labels.Set) bool {
	if len(sels) == 0 {
		return true
	}
	for _, s := range sels {
		if s.Matches(set) {
			return true
		}
	}
	return false
}

func add(acc map[string]map[netip.Prefix]*Route, peer *config.BGPPeer, a *config.BGPAdvertisement, ip netip.Addr) {
	bits := a.AggregationLength
	if ip.Is6() {
		bits = a.AggregationLengthV6
	}
	pfx, err := ip.Prefix(bits)
	if err != nil {
		// config validates the lengths; a model built otherwise must not
		// make this announce a wrong prefix, nor take the speaker down.
		return
	}
	m := acc[peer.Name]
	if m == nil {
		m = map[netip.Prefix]*Route{}
		acc[peer.Name] = m
	}
	r := m[pfx]
	if r == nil {
		r = &Route{Prefix: pfx}
		m[pfx] = r
	}
	r.Addrs = append(r.Addrs, ip)
	r.Advertisements = append(r.Advertisements, a.Name)
	r.Communities = append(r.Communities, a.Communities...)
	r.LargeCommunities = append(r.LargeCommunities, a.LargeCommunities...)
	if a.LocalPref != nil {
		if peer.MyASN != peer.PeerASN {
			r.LocalPrefIgnored = true
		} else if !r.HasLocalPref || *a.LocalPref > r.LocalPref {
			r.LocalPref, r.HasLocalPref = *a.LocalPref, true
		}
	}
}

// finish sorts and deduplicates what several advertisements added.
func finish(r *Route) Route {
	out := *r
	slices.SortFunc(out.Addrs, netip.Addr.Compare)
	out.Addrs = slices.Compact(out.Addrs)
	slices.Sort(out.Advertisements)
	out.Advertisements = slices.Compact(out.Advertisements)
	slices.Sort(out.Communities)
	out.Communities = slices.Compact(out.Communities)
	slices.SortFunc(out.LargeCommunities, func(a, b [3]uint32) int { return slices.Compare(a[:], b[:]) })
	out.LargeCommunities = slices.Compact(out.LargeCommunities)
	return out
}

// comparePrefix orders by address, then length: IPv4 before IPv6.
func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}
