package election

import (
	"slices"

	"github.com/portico-lb/portico/config"
	corev1 "k8s.io/api/core/v1"
)

// bgpPools returns the pools that some BGPAdvertisement announces. Which
// nodes and peers announce them is the advertisement's business, decided
// by speaker/bgp/routes from the node's labels: the election only says
// which addresses the node may announce at all.
func bgpPools(cfg *config.Config) map[string]bool {
	out := map[string]bool{}
	for _, a := range cfg.BGPAdvertisements() {
		for _, p := range a.Pools {
			out[p] = true
		}
	}
	return out
}

// bgpEligible reports whether n may announce g's IP over BGP, where every
// eligible node announces (ECMP) and nobody is elected: n is alive, not
// excluded from load balancers, and, if some Service on the IP is
// LocalOnly, has a ready endpoint of every such Service. Layer 2's rules
// (L2Advertisements, one winner) play no part.
func bgpEligible(n *Node, g *ipGroup) bool {
	if n == nil || !n.Alive {
		return false
	}
	if _, ok := n.Labels[corev1.LabelNodeExcludeBalancers]; ok {
		return false
	}
	return !g.localOnly || g.ready[n.Name]
}

// bgpCandidates returns the alive nodes that are not excluded from load
// balancers, sorted: the nodes BGP may announce any address from, before
// externalTrafficPolicy: Local narrows them per address.
func bgpCandidates(nodes []*Node) []string {
	var out []string
	for _, n := range nodes {
		if _, excluded := n.Labels[corev1.LabelNodeExcludeBalancers]; n.Alive && !excluded {
			out = append(out, n.Name)
		}
	}
	return out
}

// bgpReporter returns the node that speaks for g's BGP announcement when no
// node answers for it in layer 2: the Winner among the nodes BGP announces
// it from (cands narrowed by g's ready nodes), or "" and why none may.
func bgpReporter(g *ipGroup, cands []string) (node, reason string) {
	if g.localOnly {
		if len(g.ready) == 0 {
			return "", reasonNoReady
		}
		var ready []string
		for _, n := range cands {
			if g.ready[n] {
				ready = append(ready, n)
			}
		}
		if len(ready) == 0 {
			return "", reasonNoEligible
		}
		cands = ready
	}
	if len(cands) == 0 {
		return "", reasonNoneAlive
	}
	return Winner(g.ip, cands), ""
}

// findNode returns the entry of nodes (sorted by name) named name, or nil.
func findNode(nodes []*Node, name string) *Node {
	i, ok := slices.BinarySearchFunc(nodes, name, func(n *Node, name string) int {
		switch {
		case n.Name < name:
			return -1
		case n.Name > name:
			return 1
		}
		return 0
	})
	if !ok {
		return nil
	}
	return nodes[i]
}
