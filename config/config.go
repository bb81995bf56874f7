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
//
// The objects' status.lastValid fields are part of the input: they are what
// the controller decided before (see Decisions), and they make the model a
// function of API state alone.
type ClusterResources struct {
	Pools             []v1beta1.IPAddressPool    `json:"pools"`
	L2Advertisements  []v1beta1.L2Advertisement  `json:"l2Advertisements"`
	BGPPeers          []v1beta1.BGPPeer          `json:"bgpPeers"`
	BGPAdvertisements []v1beta1.BGPAdvertisement `json:"bgpAdvertisements"`
	// Secrets hold BGP passwords.
	Secrets []corev1.Secret `json:"-"`
	// Nodes are used to warn about node selectors that select no node and
	// about pools that contain a Node's address.
	Nodes []corev1.Node `json:"nodes"`
	// InstallNamespace is Portico's namespace, where Secret references
	// without a namespace point.
	InstallNamespace string `json:"installNamespace"`
}

// Config is the validated model of every Portico object that is in use. It
// is immutable: For builds it, and nothing changes it afterwards, so it can
// be shared between goroutines. The methods of a nil Config return nothing.
type Config struct {
	pools      map[string]*Pool
	byPriority []*Pool
	l2         []*L2Advertisement
	peers      map[string]*BGPPeer
	bgp        []*BGPAdvertisement
	decisions  Decisions
}

// Decisions is what the controller, the single writer, records in each
// object's status.lastValid after building a Config, by object name. Given
// the objects back with these statuses, For builds the same Config; so a
// restarted controller, a new leader and every speaker agree on the model
// without remembering anything. A name that is missing means "no valid
// version": status.lastValid is cleared.
type Decisions struct {
	Pools             map[string]*v1beta1.IPAddressPoolVersion
	L2Advertisements  map[string]*v1beta1.L2AdvertisementVersion
	BGPAdvertisements map[string]*v1beta1.BGPAdvertisementVersion
	BGPPeers          map[string]*v1beta1.BGPPeerVersion
}

// For builds the model from a snapshot of API state, statuses included.
//
// An object with errors is left out, unless its status.lastValid holds a
// valid version: then that version stays, so an invalid edit never takes
// away what a valid configuration gave out. The object's Problems say which
// happened. A deleted object is gone from the model. For pools,
// status.lastValid also says whether that version was in use, which decides
// overlaps; overlap.go explains how.
//
// Problems are sorted by kind and name. For does not modify res, and the
// result does not depend on the order of the objects in res.
func For(res ClusterResources) (*Config, []Problem) {
	var problems []Problem
	d := Decisions{
		Pools:             map[string]*v1beta1.IPAddressPoolVersion{},
		L2Advertisements:  map[string]*v1beta1.L2AdvertisementVersion{},
		BGPAdvertisements: map[string]*v1beta1.BGPAdvertisementVersion{},
		BGPPeers:          map[string]*v1beta1.BGPPeerVersion{},
	}

	var cands []*poolCandidate
	poolObjects := make(map[string]bool)
	nodeAddrs := nodeAddresses(res.Nodes)
	for _, in := range uniqueByName(res.Pools, func(p *v1beta1.IPAddressPool) *metav1.ObjectMeta { return &p.ObjectMeta }) {
		poolObjects[in.Name] = true
		problems = append(problems, nodeAddressWarnings(in, nodeAddrs)...)
		cands = append(cands, newPoolCandidate(in))
	}
	pools, versions, ps := resolvePools(cands)
	d.Pools = versions
	problems = append(problems, ps...)

	peers := make(map[string]*BGPPeer)
	peerObjects := make(map[string]bool)
	penv := peerInputs{secrets: res.Secrets, installNamespace: res.InstallNamespace, nodes: res.Nodes}
	for _, in := range uniqueByName(res.BGPPeers, func(p *v1beta1.BGPPeer) *metav1.ObjectMeta { return &p.ObjectMeta }) {
		peerObjects[in.Name] = true
		o := object{kindPeer, in.Name}
		p, ps := buildPeer(in.Name, &in.Spec, penv)
		v := &v1beta1.BGPPeerVersion{Generation: in.Generation, Spec: *in.Spec.DeepCopy()}
		if p == nil {
			// The password is read again from the Secret the last valid
			// version names: status never holds one.
			if v = in.Status.LastValid.DeepCopy(); v != nil {
				p, ps = fromLastValid(o, ps, v.Generation, &v.Spec, func(s *v1beta1.BGPPeerSpec) (*BGPPeer, []Problem) {
					return buildPeer(in.Name, s, penv)
				})
			}
		}
		if p != nil {
			peers[in.Name] = p
		}
		if v != nil {
			d.BGPPeers[in.Name] = v
		}
		problems = append(problems, ps...)
	}

	c := &Config{pools: pools, peers: peers}
	env := advInputs{
		pools: pools, poolList: c.Pools(), poolObjects: poolObjects,
		peers: peers, peerObjects: peerObjects, nodes: res.Nodes,
	}
	for _, in := range uniqueByName(res.L2Advertisements, func(a *v1beta1.L2Advertisement) *metav1.ObjectMeta { return &a.ObjectMeta }) {
		o := object{kindL2Adv, in.Name}
		a, ps := buildL2(in.Name, &in.Spec, env)
		v := &v1beta1.L2AdvertisementVersion{Generation: in.Generation, Spec: *in.Spec.DeepCopy()}
		if a == nil {
			if v = in.Status.LastValid.DeepCopy(); v != nil {
				a, ps = fromLastValid(o, ps, v.Generation, &v.Spec, func(s *v1beta1.L2AdvertisementSpec) (*L2Advertisement, []Problem) {
					return buildL2(in.Name, s, env)
				})
			}
		}
		if a != nil {
			c.l2 = append(c.l2, a)
		}
		if v != nil {
			d.L2Advertisements[in.Name] = v
		}
		problems = append(problems, ps...)
	}
	for _, in := range uniqueByName(res.BGPAdvertisements, func(a *v1beta1.BGPAdvertisement) *metav1.ObjectMeta { return &a.ObjectMeta }) {
		o := object{kindBGPAdv, in.Name}
		a, ps := buildBGP(in.Name, &in.Spec, env, false)
		v := &v1beta1.BGPAdvertisementVersion{Generation: in.Generation, Spec: *in.Spec.DeepCopy()}
		if a == nil {
			if v = in.Status.LastValid.DeepCopy(); v != nil {
				a, ps = fromLastValid(o, ps, v.Generation, &v.Spec, func(s *v1beta1.BGPAdvertisementSpec) (*BGPAdvertisement, []Problem) {
					return buildBGP(in.Name, s, env, true)
				})
			}
		}
		if a != nil {
			c.bgp = append(c.bgp, a)
		}
		if v != nil {
			d.BGPAdvertisements[in.Name] = v
		}
		problems = append(problems, ps...)
	}

	c.decisions = d
	c.byPriority = slices.SortedFunc(maps.Values(pools), byPriority)
	sortProblems(problems)
	return c, problems
}

// fromLastValid builds the recorded last valid version (generation, spec)
// of an object whose spec as written is invalid, and adds to ps, the
// problems of the spec as written, which of the two is in use. One rule for
// every kind: the recorded version stands in when it still builds, and
// otherwise the object is out of the model with the reason.
func fromLastValid[S, M any](o object, ps []Problem, generation int64, spec *S, build func(*S) (*M, []Problem)) (*M, []Problem) {
	m, lps := build(spec)
	if m == nil {
		return nil, append(ps, lastValidUnusable(o, generation, lps))
	}
	return m, append([]Problem{o.lastValidInUse()}, ps...)
}

// lastValidUnusable says why a recorded last valid version cannot stand in
// for an invalid spec either: a status written by hand or by an older
// Portico with other rules, or a BGPPeer whose password Secret is gone.
func lastValidUnusable(o object, generation int64, ps []Problem) Problem {
	why := "it is invalid"
	for _, p := range ps {
		if !p.Warning {
			why = p.Message
			if p.Field != "" {
				why = p.Field + ": " + p.Message
			}
			break
		}
	}
	return o.errorf("status.lastValid", v1beta1.ReasonInvalid,
		"the last valid version (generation %d) cannot be used either: %s", generation, why)
}

// Decisions returns what the controller must record in each object's
// status.lastValid; see Decisions. The result is the caller's to modify.
func (c *Config) Decisions() Decisions {
	if c == nil {
		return Decisions{}
	}
	return Decisions{
		Pools:             cloneVersions(c.decisions.Pools, (*v1beta1.IPAddressPoolVersion).DeepCopy),
		L2Advertisements:  cloneVersions(c.decisions.L2Advertisements, (*v1beta1.L2AdvertisementVersion).DeepCopy),
		BGPAdvertisements: cloneVersions(c.decisions.BGPAdvertisements, (*v1beta1.BGPAdvertisementVersion).DeepCopy),
		BGPPeers:          cloneVersions(c.decisions.BGPPeers, (*v1beta1.BGPPeerVersion).DeepCopy),
	}
}

func cloneVersions[V any](m map[string]*V, deepCopy func(*V) *V) map[string]*V {
	out := make(map[string]*V, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
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
