package election

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/announce"
	"k8s.io/apimachinery/pkg/labels"
)

// Node is a node that runs a speaker, as membership sees it.
type Node struct {
	Name   string
	Labels map[string]string
	// Alive is true while the node's speaker is up and stable, as membership
	// reports it. A node that is not alive is never elected.
	Alive bool
}

// Service is what the election needs to know about a LoadBalancer Service.
type Service struct {
	// Key is "namespace/name".
	Key string
	// IPs are the addresses in status.loadBalancer.ingress.
	IPs []netip.Addr
	// LocalOnly is externalTrafficPolicy: Local.
	LocalOnly bool
	// ReadyNodes name the nodes with a ready local endpoint of the Service.
	// They only matter when LocalOnly is set.
	ReadyNodes []string
	// AnnouncedBy names, per IP, the node that the Service's status says
	// announces it (the speakers' announced condition). Only a sticky
	// election reads them: they are the "current announcer" that every
	// speaker sees alike, because it is API state and not a speaker's memory.
	AnnouncedBy map[netip.Addr]string
}

// Input is one view of the cluster. Elect does not modify it.
type Input struct {
	Config   *config.Config
	Nodes    []Node
	Services []Service
	// Sticky keeps each IP with the node its Services name as announcer
	// (Service.AnnouncedBy) while that node is alive and eligible; see Elect.
	Sticky bool
}

// Announcement says which node answers for one IP, and where.
type Announcement struct {
	IP netip.Addr
	// Node is the node that announces the IP; "" when no node is eligible.
	Node string
	// Interfaces, sorted, are the only interfaces Node announces the IP on;
	// nil means any interface whose subnet holds the IP.
	Interfaces []string
	// Services are the keys of the Services using the IP, sorted.
	Services []string
	// Reason says, when Node and BGPNode are "", why no node announces the
	// IP.
	Reason string
	// BGPNode is set when Node is "" but a BGPAdvertisement announces the
	// IP's pool, so every node BGP may announce it from does: it is the one
	// of them that speaks for the announcement (in the Service's
	// condition), the Winner among them.
	BGPNode string
}

// Reasons for an IP that no node announces. They are shown to users (in
// speaker logs and Service events), so they say what to fix.
const (
	reasonNoPool     = "the IP is in no IPAddressPool"
	reasonNoneAlive  = "no alive node is eligible"
	reasonNoReady    = "no node has a ready endpoint (externalTrafficPolicy: Local)"
	reasonNoEligible = "no node that may announce the IP has a ready endpoint (externalTrafficPolicy: Local)"
)

// Elect decides, for every distinct IP of in.Services, which node announces
// it. The result has one Announcement per IP, sorted by IP, and depends only
// on the content of in, not on the order of its slices: every speaker that
// sees the same view computes the same result.
//
// A node is eligible for an IP when
//   - the IP is in a pool that an L2Advertisement selects, and the nodeSelectors
//     of one such advertisement match the node's labels (no selectors: every node);
//   - the node is not labelled node.kubernetes.io/exclude-from-external-load-balancers;
//   - the node is alive;
//   - if any Service on the IP is LocalOnly, the node is in the ReadyNodes of
//     every LocalOnly Service on the IP.
//
// Among the eligible nodes, Winner picks the announcer. With in.Sticky, an
// eligible node that a Service on the IP names as its announcer keeps the IP
// instead (Winner picks among them should the Services name several): an
// address stays where it is while its announcer lives, and a node that
// comes back takes nothing back. Only when no named node is eligible does
// the IP go to the Winner among all eligible nodes, which is where every
// speaker moves it, as the announcer's death is the same news to all.
//
// Invalid addresses are skipped, IPv4-mapped IPv6 addresses count as their
// IPv4 address, and zones are dropped. Nodes without a name are ignored;
// should a name appear twice, the entry that is not alive (then the one
// whose labels sort first) is used, so that the result still does not
// depend on the order.
func Elect(in Input) []Announcement {
	as, _ := elect(in, "")
	return as
}

// Desire elects as Elect does and also returns node's desired state: the
// addresses node is elected for and those it is eligible for. node is
// eligible for an address when it is one of the alive nodes the layer 2
// winner was chosen among, or when a BGPAdvertisement announces the
// address's pool and node is alive, not excluded from load balancers and,
// for externalTrafficPolicy: Local, holds a ready endpoint (see
// bgpEligible): BGP announces from every such node, so no L2Advertisement
// is needed and no node is elected for it. The BGP announcer narrows that
// by its advertisements' node selectors and peers.
func Desire(in Input, node string) ([]Announcement, announce.Desired) {
	return elect(in, node)
}

// elect is Elect, and Desire's desired state for node when node is set.
func elect(in Input, node string) ([]Announcement, announce.Desired) {
	nodes := canonicalNodes(in.Nodes)
	groups := groupByIP(in.Services)
	ads := in.Config.L2Advertisements()
	// Pools are few and IPs many: what depends only on the pool is worked
	// out once per pool.
	views := make(map[string]*poolView)
	self := findNode(nodes, node)
	bgp := bgpPools(in.Config)
	bgpCands := bgpCandidates(nodes)

	out := make([]Announcement, 0, len(groups))
	desired := announce.Desired{}
	for _, g := range groups {
		a := Announcement{IP: g.ip, Services: g.keys}
		p := in.Config.PoolContaining(g.ip)
		if p == nil {
			a.Reason = reasonNoPool
			out = append(out, a)
			continue
		}
		v := views[p.Name]
		if v == nil {
			v = newPoolView(p.Name, ads, nodes)
			views[p.Name] = v
		}
		var cands []string
		a.Node, a.Interfaces, a.Reason, cands = v.elect(g, in.Sticky)
		if a.Node == "" && bgp[p.Name] {
			if a.BGPNode, a.Reason = bgpReporter(g, bgpCands); a.Reason != "" {
				a.Reason = "no node may announce it over BGP: " + a.Reason
			}
		}
		out = append(out, a)
		if node == "" {
			continue
		}
		// cands is sorted: v.alive is, and the Local filter keeps the
		// order of v.eligible, sorted by name.
		if _, eligible := slices.BinarySearch(cands, node); eligible {
			desired[g.ip] = announce.Want{Elected: a.Node == node, Eligible: true, Interfaces: slices.Clone(v.interfaces[node])}
		} else if bgp[p.Name] && bgpEligible(self, g) {
			desired[g.ip] = announce.Want{Eligible: true}
		}
	}
	return out, desired
}

// ForNode returns the announcements that node makes, in the order of as.
// ForNode(as, "") returns those that no node makes.
func ForNode(as []Announcement, node string) []Announcement {
	var out []Announcement
	for _, a := range as {
		if a.Node == node {
			out = append(out, a)
		}
	}
	return out
}

// ipGroup is one distinct IP with the Services using it.
type ipGroup struct {
	ip   netip.Addr
	keys []string
	// localOnly is set when some Service on the IP is LocalOnly; ready then
	// holds the nodes in the ReadyNodes of every such Service. Services
	// sharing an IP share a selector, so the sets are normally equal; when
	// they are not, only a node that serves all of them may announce.
	localOnly bool
	ready     map[string]bool
	// current are the nodes the Services name as the IP's announcer, sorted.
	current []string
}

func groupByIP(svcs []Service) []*ipGroup {
	byIP := make(map[netip.Addr]*ipGroup)
	for i := range svcs {
		s := &svcs[i]
		for _, ip := range s.IPs {
			if !ip.IsValid() {
				continue
			}
			ip = ip.Unmap().WithZone("")
			g := byIP[ip]
			if g == nil {
				g = &ipGroup{ip: ip}
				byIP[ip] = g
			}
			g.keys = append(g.keys, s.Key)
			if n := announcerOf(s.AnnouncedBy, ip); n != "" {
				g.current = append(g.current, n)
			}
			if s.LocalOnly {
				g.addLocal(s.ReadyNodes)
			}
		}
	}
	out := make([]*ipGroup, 0, len(byIP))
	for _, g := range byIP {
		slices.Sort(g.keys)
		g.keys = slices.Compact(g.keys)
		slices.Sort(g.current)
		g.current = slices.Compact(g.current)
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *ipGroup) int { return a.ip.Compare(b.ip) })
	return out
}

// announcerOf returns the node that m names for ip, whichever spelling of
// the address m uses as its key.
func announcerOf(m map[netip.Addr]string, ip netip.Addr) string {
	if n, ok := m[ip]; ok {
		return n
	}
	for k, n := range m {
		if k.Unmap().WithZone("") == ip {
			return n
		}
	}
	return ""
}

// addLocal intersects the ready set with one more LocalOnly Service's
// ReadyNodes. Intersection commutes, so the order of Services does not
// matter.
func (g *ipGroup) addLocal(ready []string) {
	if !g.localOnly {
		g.localOnly = true
		g.ready = make(map[string]bool, len(ready))
		for _, n := range ready {
			g.ready[n] = true
		}
		return
	}
	for n := range g.ready {
		if !slices.Contains(ready, n) {
			delete(g.ready, n)
		}
	}
}

// canonicalNodes returns one entry per node name, sorted by name.
func canonicalNodes(in []Node) []*Node {
	out := make([]*Node, 0, len(in))
	for i := range in {
		if in[i].Name != "" {
			out = append(out, &in[i])
		}
	}
	slices.SortFunc(out, func(a, b *Node) int {
		if c := cmp.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		// Only for a name listed twice, which membership should not do.
		// Prefer the entry that is not alive: a node whose state is in
		// doubt should not take VIPs.
		if a.Alive != b.Alive {
			if !a.Alive {
				return -1
			}
			return 1
		}
		return cmp.Compare(labels.Set(a.Labels).String(), labels.Set(b.Labels).String())
	})
	return slices.CompactFunc(out, func(a, b *Node) bool { return a.Name == b.Name })
}
