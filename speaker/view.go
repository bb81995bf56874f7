package speaker

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/election"
)

// clusterView is what the speaker reads from the API server's cache.
type clusterView struct {
	Config       *config.Config
	Services     []corev1.Service
	Slices       []discoveryv1.EndpointSlice
	Nodes        []corev1.Node
	Alive        map[string]bool
	ServeNoClass bool
	// Sticky asks for the sticky election (Options.Sticky).
	Sticky bool
}

// electionInput turns the cluster view into the announcer's input. It is a
// pure function so every speaker, given the same view, elects the same nodes.
func electionInput(v clusterView) election.Input {
	in := election.Input{Config: v.Config, Sticky: v.Sticky}
	for _, n := range v.Nodes {
		in.Nodes = append(in.Nodes, election.Node{Name: n.Name, Labels: n.Labels, Alive: v.Alive[n.Name]})
	}
	ready := readyNodesByService(v.Slices)
	for i := range v.Services {
		s := &v.Services[i]
		if !v1beta1.Serves(s, v.ServeNoClass) {
			continue
		}
		ips := v1beta1.IngressAddrs(s)
		if len(ips) == 0 {
			continue
		}
		key := s.Namespace + "/" + s.Name
		svc := election.Service{
			Key:        key,
			IPs:        ips,
			LocalOnly:  s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
			ReadyNodes: ready[key],
		}
		if v.Sticky {
			svc.AnnouncedBy = announcedBy(s)
		}
		in.Services = append(in.Services, svc)
	}
	return in
}

// readyNodesByService returns, per Service key, the nodes with at least one
// ready endpoint, the way kube-proxy judges externalTrafficPolicy: Local.
func readyNodesByService(slices_ []discoveryv1.EndpointSlice) map[string][]string {
	out := map[string][]string{}
	for _, es := range slices_ {
		svc := es.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		key := es.Namespace + "/" + svc
		for _, ep := range es.Endpoints {
			if ep.NodeName == nil || *ep.NodeName == "" {
				continue
			}
			// A nil Ready means ready (discovery/v1 semantics).
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if !slices.Contains(out[key], *ep.NodeName) {
				out[key] = append(out[key], *ep.NodeName)
			}
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// announcedBy returns, per IP, the node that s's announced conditions name
// as its announcer. A condition that is not True, or names an IP the
// Service no longer has, names nobody.
//
// The condition is the one record of who announces that every speaker sees
// alike: the announcing speaker writes it, all of them watch Services, and
// a speaker's own memory would differ from node to node.
func announcedBy(s *corev1.Service) map[netip.Addr]string {
	var out map[netip.Addr]string
	for _, ip := range v1beta1.IngressAddrs(s) {
		node := v1beta1.AnnouncingNode(s, ip)
		if node == "" {
			continue
		}
		if out == nil {
			out = map[netip.Addr]string{}
		}
		out[ip] = node
	}
	return out
}
