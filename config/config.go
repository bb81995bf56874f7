package config

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterResources is a snapshot of everything the model is built from. It
// has json tags so that it can be dumped for debugging; Secrets are left out
// of dumps because they hold BGP passwords.
type ClusterResources struct {
	Pools             []v1beta1.IPAddressPool    `json:"pools"`
	L2Advertisements  []v1beta1.L2Advertisement  `json:"l2Advertisements"`
	BGPPeers          []v1beta1.BGPPeer          `json:"bgpPeers"`
	BGPAdvertisements []v1beta1.BGPAdvertisement `json:"bgpAdvertisements"`
	// Secrets hold BGP passwords.
	Secrets []corev1.Secret `json:"-"`
	// Nodes are only used to warn about node selectors that select no node.
	Nodes []corev1.Node `json:"nodes"`
	// InstallNamespace is Portico's namespace, where Secret references
	// without a namespace point.
	InstallNamespace string `json:"installNamespace"`
}

// Config is the validated model of every Portico object that is in use. It
// is immutable: For builds it, and nothing changes it afterwards, so it can
// be shared between goroutines. The methods of a nil Config return nothing.
type Config struct {
	pools map[string]*Pool
	// lastValid holds the last valid version of every pool object, in use
	// or not; see overlap.go.
	lastValid  map[string]*Pool
	byPriority []*Pool
	l2         []*L2Advertisement
	peers      map[string]*BGPPeer
	bgp        []*BGPAdvertisement
}

// For builds the model from a snapshot. previous is the Config the last call
// returned, or nil (at startup).
//
// An object with errors is left out, unless previous holds a valid version
// of it: then that version stays, so an invalid edit never takes away what a
// valid configuration gave out. The object's Problems say which happened. A
// deleted object is gone from the model whatever previous holds. For pools,
// previous also remembers versions that gave way to an overlapping pool, and
// which pools were in use; overlap.go explains how that decides overlaps.
//
// Problems are sorted by kind and name. For does not modify res or previous,
// and the result does not depend on the order of the objects in res.
func For(res ClusterResources, previous *Config) (*Config, []Problem) {
	var problems []Problem

	var cands []*poolCandidate
	poolObjects := make(map[string]bool)
	for _, in := range uniqueByName(res.Pools, func(p *v1beta1.IPAddressPool) *metav1.ObjectMeta { return &p.ObjectMeta }) {
		poolObjects[in.Name] = true
		cur, spec, ps := buildPool(in)
		cands = append(cands, &poolCandidate{
			name: in.Name, created: in.CreationTimestamp.Time,
			current: cur, spec: spec, problems: ps,
			prev: previous.lastValidPool(in.Name), inUse: previous.Pool(in.Name) != nil,
		})
	}
	pools, lastValid, ps := resolvePools(cands)
	problems = append(problems, ps...)

	peers := make(map[string]*BGPPeer)
	peerObjects := make(map[string]bool)
	penv := peerInputs{secrets: res.Secrets, installNamespace: res.InstallNamespace, nodes: res.Nodes}
	for _, in := range uniqueByName(res.BGPPeers, func(p *v1beta1.BGPPeer) *metav1.ObjectMeta { return &p.ObjectMeta }) {
		peerObjects[in.Name] = true
		p, ps := buildPeer(in, penv)
		if p == nil {
			// A peer has nothing to re-resolve: its last valid version,
			// password included, is kept as it was.
			if p = previous.BGPPeer(in.Name); p != nil {
				ps = append([]Problem{object{kindPeer, in.Name}.lastValidInUse()}, ps...)
			}
		}
		if p != nil {
			peers[in.Name] = p
		}
		problems = append(problems, ps...)
	}

	c := &Config{pools: pools, lastValid: lastValid, peers: peers}
	env := advInputs{
		pools: pools, poolList: c.Pools(), poolObjects: poolObjects,
		peers: peers, peerObjects: peerObjects, nodes: res.Nodes,
	}
	for _, in := range uniqueByName(res.L2Advertisements, func(a *v1beta1.L2Advertisement) *metav1.ObjectMeta { return &a.ObjectMeta }) {
		a, ps := buildL2(in, env)
		if a == nil {
			if prev := findByName(previous.L2Advertisements(), in.Name, l2Name); prev != nil {
				a = keepL2(prev, env)
				ps = append([]Problem{object{kindL2Adv, in.Name}.lastValidInUse()}, ps...)
			}
		}
		if a != nil {
			c.l2 = append(c.l2, a)
		}
		problems = append(problems, ps...)
	}
	for _, in := range uniqueByName(res.BGPAdvertisements, func(a *v1beta1.BGPAdvertisement) *metav1.ObjectMeta { return &a.ObjectMeta }) {
		a, ps := buildBGP(in, env)
		if a == nil {
			if prev := findByName(previous.BGPAdvertisements(), in.Name, bgpName); prev != nil {
				a = keepBGP(prev, env)
				ps = append([]Problem{object{kindBGPAdv, in.Name}.lastValidInUse()}, ps...)
			}
		}
		if a != nil {
			c.bgp = append(c.bgp, a)
		}
		problems = append(problems, ps...)
	}

	c.byPriority = slices.SortedFunc(maps.Values(pools), byPriority)
	sortProblems(problems)
	return c, problems
}

// uniqueByName returns pointers to the objects sorted by name. Names are
// unique in a cluster; should a snapshot still hold two objects of one name,
// only the oldest is used, so that the result does not depend on their order.
func uniqueByName[T any](objs []T, meta func(*T) *metav1.ObjectMeta) []*T {
	out := make([]*T, len(objs))
	for i := range objs {
		out[i] = &objs[i]
	}
	slices.SortStableFunc(out, func(a, b *T) int {
		ma, mb := meta(a), meta(b)
		return cmp.Or(cmp.Compare(ma.Name, mb.Name),
			ma.CreationTimestamp.Compare(mb.CreationTimestamp.Time),
			cmp.Compare(ma.UID, mb.UID))
	})
	return slices.CompactFunc(out, func(a, b *T) bool { return meta(a).Name == meta(b).Name })
}

func findByName[T any](objs []*T, name string, nameOf func(*T) string) *T {
	for _, o := range objs {
		if nameOf(o) == name {
			return o
		}
	}
	return nil
}

func l2Name(a *L2Advertisement) string   { return a.Name }
func bgpName(a *BGPAdvertisement) string { return a.Name }

// byPriority orders pools for assignment: lower priority first, pools
// without one after all that have one, then by name.
func byPriority(a, b *Pool) int {
	switch {
	case a.Priority != nil && b.Priority != nil:
		if c := cmp.Compare(*a.Priority, *b.Priority); c != 0 {
			return c
		}
	case a.Priority != nil:
		return -1
	case b.Priority != nil:
		return 1
	}
	return cmp.Compare(a.Name, b.Name)
}

// Pool returns the pool called name, or nil when it is not in use.
func (c *Config) Pool(name string) *Pool {
	if c == nil {
		return nil
	}
	return c.pools[name]
}

func (c *Config) lastValidPool(name string) *Pool {
	if c == nil {
		return nil
	}
	return c.lastValid[name]
}

// Pools returns every pool in use, sorted by name, disabled ones included.
func (c *Config) Pools() []*Pool {
	if c == nil {
		return nil
	}
	return slices.SortedFunc(maps.Values(c.pools), func(a, b *Pool) int { return cmp.Compare(a.Name, b.Name) })
}

// PoolContaining returns the pool that a belongs to, disabled or not, or nil.
// There is at most one, because pools in use never overlap.
func (c *Config) PoolContaining(a netip.Addr) *Pool {
	if c == nil {
		return nil
	}
	for _, p := range c.byPriority {
		if p.Contains(a) {
			return p
		}
	}
	return nil
}

// AutoPools returns the pools to try, in order, for a Service that requests
// no address: enabled, autoAssign and allowing s; sorted by priority (lower
// first, pools without one last), then name.
func (c *Config) AutoPools(s ServiceInfo) []*Pool {
	return c.filter(func(p *Pool) bool { return p.AutoAssign && p.Allows(s) })
}

// PoolsFor returns the enabled pools that allow s, whatever their autoAssign,
// in the order of AutoPools. Requested addresses and the pool annotation are
// checked against these.
func (c *Config) PoolsFor(s ServiceInfo) []*Pool {
	return c.filter(func(p *Pool) bool { return p.Allows(s) })
}

func (c *Config) filter(keep func(*Pool) bool) []*Pool {
	if c == nil {
		return nil
	}
	var out []*Pool
	for _, p := range c.byPriority {
		if !p.Disabled && keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// L2Advertisements returns the layer 2 advertisements in use, sorted by name.
func (c *Config) L2Advertisements() []*L2Advertisement {
	if c == nil {
		return nil
	}
	return slices.Clone(c.l2)
}

// BGPPeer returns the peer called name, or nil when it is not in use.
func (c *Config) BGPPeer(name string) *BGPPeer {
	if c == nil {
		return nil
	}
	return c.peers[name]
}

// BGPPeers returns the peers in use, sorted by name.
func (c *Config) BGPPeers() []*BGPPeer {
	if c == nil {
		return nil
	}
	return slices.SortedFunc(maps.Values(c.peers), func(a, b *BGPPeer) int { return cmp.Compare(a.Name, b.Name) })
}

// BGPAdvertisements returns the BGP advertisements in use, sorted by name.
func (c *Config) BGPAdvertisements() []*BGPAdvertisement {
	if c == nil {
		return nil
	}
	return slices.Clone(c.bgp)
}
