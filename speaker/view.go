package speaker

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/announcer"
)

// clusterView is what the speaker reads from the API server's cache.
type clusterView struct {
	Config       *config.Config
	Services     []corev1.Service
	Slices       []discoveryv1.EndpointSlice
	Nodes        []corev1.Node
	Alive        map[string]bool
	ServeNoClass bool
}

// electionInput turns the cluster view into the announcer's input. It is a
// pure function so every speaker, given the same view, elects the same nodes.
func electionInput(v clusterView) announcer.Input {
	in := announcer.Input{Config: v.Config}
	for _, n := range v.Nodes {
		in.Nodes = append(in.Nodes, announcer.Node{Name: n.Name, Labels: n.Labels, Alive: v.Alive[n.Name]})
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
		in.Services = append(in.Services, announcer.Service{
			Key:        key,
			IPs:        ips,
			LocalOnly:  s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
			ReadyNodes: ready[key],
		})
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

// ownShare returns what this node must answer for: IP → interfaces (nil =
// any interface whose subnet holds the IP).
func ownShare(as []announcer.Announcement, node string) map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	for _, a := range announcer.ForNode(as, node) {
		out[a.IP] = a.Interfaces
	}
	return out
}
