package election

import (
	"fmt"
	"slices"
	"strings"

	"github.com/portico-lb/portico/config"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// poolView is what the election of any IP of one pool needs: which nodes
// its advertisements let announce, and on which interfaces. It depends on
// the pool, the advertisements and the nodes, never on the IP, so Elect
// builds it once per pool.
type poolView struct {
	// eligible are the nodes that the pool's advertisements select and that
	// are not excluded from load balancers, alive or not, sorted by name.
	eligible []*Node
	// alive names the eligible nodes that are alive, sorted.
	alive []string
	// reason says why eligible is empty.
	reason string
	// interfaces maps each eligible node to its Announcement.Interfaces.
	interfaces map[string][]string
}

func newPoolView(pool string, all []*config.L2Advertisement, nodes []*Node) *poolView {
	var ads []*config.L2Advertisement
	for _, a := range all {
		if slices.Contains(a.Pools, pool) {
			ads = append(ads, a)
		}
	}
	v := &poolView{interfaces: make(map[string][]string)}
	if len(ads) == 0 {
		v.reason = fmt.Sprintf("no L2Advertisement selects pool %q", pool)
		return v
	}

	// Nodes drop out in stages so that, when none is left, the reason
	// names the stage that removed the last of them.
	selected, excluded := 0, 0
	for _, n := range nodes {
		ifaces, ok := interfacesFor(ads, n)
		if !ok {
			continue
		}
		selected++
		if _, ok := n.Labels[corev1.LabelNodeExcludeBalancers]; ok {
			// Any value excludes, as for Kubernetes' own service controller.
			excluded++
			continue
		}
		v.eligible = append(v.eligible, n)
		v.interfaces[n.Name] = ifaces
		if n.Alive {
			v.alive = append(v.alive, n.Name)
		}
	}
	switch {
	case len(nodes) == 0:
		v.reason = reasonNoneAlive
	case selected == 0:
		v.reason = "no node matches the nodeSelectors of " + describeAds(ads)
	case excluded == selected:
		v.reason = "every node that " + describeAds(ads) + " selects is labelled " + corev1.LabelNodeExcludeBalancers
	}
	return v
}

// interfacesFor reports whether any of ads lets n announce and, if so, the
// union of their interfaces; nil when one of them allows any interface,
// because a narrower list from another advertisement must not take away
// what that one grants.
func interfacesFor(ads []*config.L2Advertisement, n *Node) ([]string, bool) {
	var (
		out      []string
		selected bool
		anyIface bool
	)
	for _, a := range ads {
		if !selectsNode(a, n) {
			continue
		}
		selected = true
		if len(a.Interfaces) == 0 {
			anyIface = true
		}
		out = append(out, a.Interfaces...)
	}
	if !selected || anyIface {
		return nil, selected
	}
	slices.Sort(out)
	return slices.Compact(out), true
}

func selectsNode(a *config.L2Advertisement, n *Node) bool {
	if len(a.NodeSelectors) == 0 {
		return true
	}
	set := labels.Set(n.Labels)
	return slices.ContainsFunc(a.NodeSelectors, func(s labels.Selector) bool { return s.Matches(set) })
}

// describeAds names advertisements for a reason: `L2Advertisement "a"` or
// `L2Advertisements "a", "b"`.
func describeAds(ads []*config.L2Advertisement) string {
	names := make([]string, len(ads))
	for i, a := range ads {
		names[i] = fmt.Sprintf("%q", a.Name)
	}
	if len(ads) == 1 {
		return "L2Advertisement " + names[0]
	}
	return "L2Advertisements " + strings.Join(names, ", ")
}

// elect returns the winner for g and its interfaces, or why there is none,
// and the candidates it was chosen among (the alive eligible nodes, sorted;
// shared, not to be modified). sticky narrows the choice to g's current
// announcers, if any of them is a candidate.
func (v *poolView) elect(g *ipGroup, sticky bool) (node string, interfaces []string, reason string, candidates []string) {
	if v.reason != "" {
		return "", nil, v.reason, nil
	}
	cands := v.alive
	if g.localOnly {
		if len(g.ready) == 0 {
			return "", nil, reasonNoReady, nil
		}
		// Ready comes before alive: when the ready nodes are all down,
		// "no alive node" is what the user needs to hear.
		cands = nil
		ready := false
		for _, n := range v.eligible {
			if g.ready[n.Name] {
				ready = true
				if n.Alive {
					cands = append(cands, n.Name)
				}
			}
		}
		if !ready {
			return "", nil, reasonNoEligible, nil
		}
	}
	if len(cands) == 0 {
		return "", nil, reasonNoneAlive, nil
	}
	among := cands
	if sticky {
		if keep := intersect(g.current, cands); len(keep) > 0 {
			among = keep
		}
	}
	w := Winner(g.ip, among)
	// Callers get their own slice: the cached one is shared by every IP
	// this node wins in the pool.
	return w, slices.Clone(v.interfaces[w]), "", cands
}

// intersect returns the names in both a and b, in the order of a.
func intersect(a, b []string) []string {
	var out []string
	for _, n := range a {
		if slices.Contains(b, n) {
			out = append(out, n)
		}
	}
	return out
}
