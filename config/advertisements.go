package config

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// L2Advertisement is a validated L2Advertisement. It must not be modified.
type L2Advertisement struct {
	Name string
	// Pools names the pools of the same Config that it announces, sorted.
	// References are resolved: empty means none.
	Pools []string
	// NodeSelectors select the nodes that may announce; empty means all.
	NodeSelectors []labels.Selector
	// Interfaces, sorted, limit the interfaces announcements go out of;
	// empty means any interface whose subnet contains the address.
	Interfaces []string
}

// BGPAdvertisement is a validated BGPAdvertisement with its defaults applied.
// It must not be modified.
type BGPAdvertisement struct {
	Name string
	// Pools names the pools of the same Config that it announces, sorted.
	// References are resolved: empty means none.
	Pools []string
	// NodeSelectors select the nodes that announce; empty means all.
	NodeSelectors []labels.Selector
	// Peers names the BGPPeers of the same Config it announces to, sorted;
	// resolved like Pools, so empty means none.
	Peers []string
	// AggregationLength (default 32) and AggregationLengthV6 (default 128)
	// are the prefix lengths announced for IPv4 and IPv6 addresses.
	AggregationLength   int
	AggregationLengthV6 int
	// LocalPref is nil when unset.
	LocalPref *uint32
	// Communities are standard communities (well-known names resolved),
	// LargeCommunities RFC 8092 ones; both sorted, without duplicates.
	Communities      []uint32
	LargeCommunities [][3]uint32
}

// poolSource is how an advertisement chose its pools, parsed.
type poolSource struct {
	names     []string
	selectors []labels.Selector
}

// advInputs is what resolving an advertisement's references needs.
type advInputs struct {
	pools       map[string]*Pool
	poolList    []*Pool         // pools, sorted by name
	poolObjects map[string]bool // every IPAddressPool object, used or not
	peers       map[string]*BGPPeer
	peerObjects map[string]bool
	nodes       []corev1.Node
}

const maxInterfaceName = 15 // Linux IFNAMSIZ minus the terminating NUL

// buildL2 validates one L2Advertisement spec, the one written or the last
// valid one, against the pools of the Config being built.
func buildL2(name string, spec *v1beta1.L2AdvertisementSpec, env advInputs) (*L2Advertisement, []Problem) {
	o := object{kindL2Adv, name}
	a := &L2Advertisement{Name: name}
	var problems []Problem

	src, ps := parsePoolSource(o, spec.IPAddressPools, spec.IPAddressPoolSelectors)
	problems = append(problems, ps...)
	if len(ps) == 0 {
		a.Pools, ps = choosePools(o, src, env)
		problems = append(problems, ps...)
	}
	a.NodeSelectors, ps = parseSelectors(o, "spec.nodeSelectors", spec.NodeSelectors)
	problems = append(problems, ps...)
	problems = append(problems, nodeSelectorWarnings(o, spec.NodeSelectors, a.NodeSelectors, env.nodes)...)

	for i, name := range spec.Interfaces {
		if name == "" || len(name) > maxInterfaceName || name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n") {
			problems = append(problems, o.errorf(indexed("spec.interfaces", i), v1beta1.ReasonInvalid,
				"%q is not an interface name (1 to %d characters, no '/', ':' or spaces)", name, maxInterfaceName))
		}
	}
	a.Interfaces = slices.Compact(slices.Sorted(slices.Values(spec.Interfaces)))

	if hasError(problems) {
		return nil, problems
	}
	return a, problems
}

// buildBGP validates one BGPAdvertisement spec against the pools and peers
// of the Config being built. With keep, the spec is the last valid version,
// standing in for an invalid one: pools that its aggregation lengths no
// longer fit are dropped from it rather than announced with addresses
// outside them, and that is no error.
func buildBGP(name string, spec *v1beta1.BGPAdvertisementSpec, env advInputs, keep bool) (*BGPAdvertisement, []Problem) {
	o := object{kindBGPAdv, name}
	a := &BGPAdvertisement{Name: name, AggregationLength: 32, AggregationLengthV6: 128}
	var problems []Problem

	if l := spec.AggregationLength; l != nil {
		a.AggregationLength = int(*l)
		if *l < 0 || *l > 32 {
			problems = append(problems, o.errorf("spec.aggregationLength", v1beta1.ReasonInvalid, "%d is not an IPv4 prefix length (0 to 32)", *l))
		}
	}
	if l := spec.AggregationLengthV6; l != nil {
		a.AggregationLengthV6 = int(*l)
		if *l < 0 || *l > 128 {
			problems = append(problems, o.errorf("spec.aggregationLengthV6", v1beta1.ReasonInvalid, "%d is not an IPv6 prefix length (0 to 128)", *l))
		}
	}
	if lp := spec.LocalPref; lp != nil {
		if *lp < 0 || *lp > math.MaxUint32 {
			problems = append(problems, o.errorf("spec.localPref", v1beta1.ReasonInvalid, "%d does not fit in 32 bits", *lp))
		} else {
			v := uint32(*lp)
			a.LocalPref = &v
		}
	}
	var ps []Problem
	a.Communities, a.LargeCommunities, ps = parseCommunities(o, spec.Communities)
	problems = append(problems, ps...)

	src, ps := parsePoolSource(o, spec.IPAddressPools, spec.IPAddressPoolSelectors)
	problems = append(problems, ps...)
	if len(ps) == 0 {
		a.Pools, ps = choosePools(o, src, env)
		problems = append(problems, ps...)
		if keep {
			a.Pools = slices.DeleteFunc(a.Pools, func(name string) bool {
				return len(aggregationProblems(o, a, env.pools[name])) > 0
			})
		} else if !hasError(problems) {
			// This version is out already; judging pools by lengths that
			// may be out of range would only add noise.
			problems = append(problems, checkAggregation(o, a, env.pools)...)
		}
	}
	a.NodeSelectors, ps = parseSelectors(o, "spec.nodeSelectors", spec.NodeSelectors)
	problems = append(problems, ps...)
	problems = append(problems, nodeSelectorWarnings(o, spec.NodeSelectors, a.NodeSelectors, env.nodes)...)

	a.Peers, ps = choosePeers(o, spec.Peers, env)
	problems = append(problems, ps...)
	problems = append(problems, localPrefWarnings(o, a, env)...)

	if hasError(problems) {
		return nil, problems
	}
	return a, problems
}

func parsePoolSource(o object, names []string, sels []metav1.LabelSelector) (poolSource, []Problem) {
	s, problems := parseSelectors(o, "spec.ipAddressPoolSelectors", sels)
	return poolSource{names: slices.Clone(names), selectors: s}, problems
}

// choosePools returns the names of the pools src chooses among those in
// use, and warns about references that choose nothing: the advertisement
// still applies to the pools that exist.
func choosePools(o object, src poolSource, env advInputs) ([]string, []Problem) {
	if len(src.names) == 0 && len(src.selectors) == 0 {
		out := make([]string, len(env.poolList))
		for i, p := range env.poolList {
			out[i] = p.Name
		}
		return out, nil
	}
	var (
		out      []string
		problems []Problem
	)
	for i, name := range src.names {
		switch {
		case env.pools[name] != nil:
			out = append(out, name)
		case env.poolObjects[name]:
			problems = append(problems, o.warnf(indexed("spec.ipAddressPools", i), v1beta1.ReasonPoolNotFound,
				"IPAddressPool %q is not in use (see its status)", name))
		default:
			problems = append(problems, o.warnf(indexed("spec.ipAddressPools", i), v1beta1.ReasonPoolNotFound,
				"IPAddressPool %q not found", name))
		}
	}
	for i, sel := range src.selectors {
		found := false
		for _, p := range env.poolList {
			if sel.Matches(labels.Set(p.Labels)) {
				out = append(out, p.Name)
				found = true
			}
		}
		if !found {
			problems = append(problems, o.warnf(indexed("spec.ipAddressPoolSelectors", i), v1beta1.ReasonSelectsNothing,
				"selects no IPAddressPool in use (%s)", describeSelector(sel)))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), problems
}

// choosePeers returns the names of the peers in use among those named, or
// of every peer in use when none is named.
func choosePeers(o object, names []string, env advInputs) ([]string, []Problem) {
	if len(names) == 0 {
		return slices.Sorted(maps.Keys(env.peers)), nil
	}
	var (
		out      []string
		problems []Problem
	)
	for i, name := range names {
		switch {
		case env.peers[name] != nil:
			out = append(out, name)
		case env.peerObjects[name]:
			problems = append(problems, o.warnf(indexed("spec.peers", i), v1beta1.ReasonPeerNotFound, "BGPPeer %q is not in use (see its status)", name))
		default:
			problems = append(problems, o.warnf(indexed("spec.peers", i), v1beta1.ReasonPeerNotFound, "BGPPeer %q not found", name))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), problems
}

// localPrefWarnings warns when a sets localPref and announces to eBGP peers:
// LOCAL_PREF goes to iBGP peers only (RFC 4271 5.1.5), so the speakers leave
// it out on those sessions, and the condition says so instead of letting
// the value look applied everywhere.
func localPrefWarnings(o object, a *BGPAdvertisement, env advInputs) []Problem {
	if a.LocalPref == nil {
		return nil
	}
	var ebgp []string
	for _, name := range a.Peers { // sorted
		if p := env.peers[name]; p != nil && p.MyASN != p.PeerASN {
			ebgp = append(ebgp, strconv.Quote(name))
		}
	}
	if len(ebgp) == 0 {
		return nil
	}
	return []Problem{o.warnf("spec.localPref", v1beta1.ReasonLocalPrefIgnored,
		"ignored for the eBGP peers %s: LOCAL_PREF is sent to iBGP peers only (RFC 4271 5.1.5)", strings.Join(ebgp, ", "))}
}
