package speaker

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker/election"
)

func lb(ns, name string, etpLocal bool, class *string, ips ...string) corev1.Service {
	s := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: class}}
	if etpLocal {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func slice(ns, svc string, eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
	return discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-x",
		Labels: map[string]string{discoveryv1.LabelServiceName: svc}}, Endpoints: eps}
}

func ep(node string, ready *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{NodeName: ptr.To(node), Conditions: discoveryv1.EndpointConditions{Ready: ready}}
}

func TestElectionInput(t *testing.T) {
	view := clusterView{
		Services: []corev1.Service{
			lb("a", "web", false, nil, "192.0.2.1"),
			lb("a", "local", true, ptr.To(v1beta1.LoadBalancerClass), "192.0.2.2", "2001:db8::2"),
			lb("a", "pending", false, nil),
			lb("a", "other-class", false, ptr.To("example.com/lb"), "192.0.2.3"),
			{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "cip"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}},
		},
		Slices: []discoveryv1.EndpointSlice{
			slice("a", "local", ep("node-2", nil), ep("node-1", ptr.To(true)), ep("node-3", ptr.To(false)), ep("node-1", nil)),
			slice("b", "local", ep("node-9", nil)), // same name, other namespace
		},
		Nodes: []corev1.Node{
			{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{"zone": "x"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "node-2"}},
		},
		Alive:        map[string]bool{"node-1": true},
		ServeNoClass: true,
	}
	got := electionInput(view)
	want := election.Input{
		Nodes: []election.Node{{Name: "node-1", Labels: map[string]string{"zone": "x"}, Alive: true}, {Name: "node-2"}},
		Services: []election.Service{
			{Key: "a/web", IPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
			{Key: "a/local", IPs: []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::2")}, LocalOnly: true, ReadyNodes: []string{"node-1", "node-2"}},
		},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("electionInput (-want +got):\n%s", diff)
	}
	view.ServeNoClass = false
	if got := electionInput(view); len(got.Services) != 1 || got.Services[0].Key != "a/local" {
		t.Errorf("with IgnoreNoClass: services %+v, want only a/local", got.Services)
	}
}

func TestGainedIPs(t *testing.T) {
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::1")
	before := map[netip.Addr][]string{a: nil, b: {"eth0"}}
	after := map[netip.Addr][]string{b: {"eth1"}, c: nil}
	if diff := cmp.Diff([]netip.Addr{c}, gainedIPs(before, after), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("gainedIPs (-want +got):\n%s", diff)
	}
}

func announced(condType string, status metav1.ConditionStatus, msg string) metav1.Condition {
	return metav1.Condition{Type: condType, Status: status, Reason: "Announced", Message: msg}
}

// TestAnnouncedBy: the sticky election reads back, per IP, the node the
// announcing speaker wrote into the Service's condition, and nothing from a
// condition that does not say the Service's current IP is announced.
func TestAnnouncedBy(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	msg := func(ip netip.Addr, node string) string {
		return announcedMessage(election.Announcement{IP: ip, Interfaces: []string{"eth0"}}, node)
	}
	for _, tc := range []struct {
		name  string
		conds []metav1.Condition
		want  map[netip.Addr]string
	}{{
		name: "both families, each by its own node",
		conds: []metav1.Condition{
			announced(v1beta1.ServiceConditionAnnouncedIPv4, metav1.ConditionTrue, msg(v4, "node-1")),
			announced(v1beta1.ServiceConditionAnnouncedIPv6, metav1.ConditionTrue, msg(v6, "node-2.example.com")),
		},
		want: map[netip.Addr]string{v4: "node-1", v6: "node-2.example.com"},
	}, {
		name:  "any interface",
		conds: []metav1.Condition{announced(v1beta1.ServiceConditionAnnouncedIPv4, metav1.ConditionTrue, announcedMessage(election.Announcement{IP: v4}, "node-1"))},
		want:  map[netip.Addr]string{v4: "node-1"},
	}, {
		name:  "not announced",
		conds: []metav1.Condition{announced(v1beta1.ServiceConditionAnnouncedIPv4, metav1.ConditionFalse, "192.0.2.1 is not announced: no alive node is eligible")},
	}, {
		name:  "an IP the Service no longer has",
		conds: []metav1.Condition{announced(v1beta1.ServiceConditionAnnouncedIPv4, metav1.ConditionTrue, msg(netip.MustParseAddr("192.0.2.99"), "node-1"))},
	}, {
		name:  "a message in another form",
		conds: []metav1.Condition{announced(v1beta1.ServiceConditionAnnouncedIPv4, metav1.ConditionTrue, "announced somewhere")},
	}, {
		name: "no conditions",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := lb("a", "web", false, nil, v4.String(), v6.String())
			s.Status.Conditions = tc.conds
			if diff := cmp.Diff(tc.want, announcedBy(&s), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("announcedBy (-want +got):\n%s", diff)
			}
		})
	}
}

// TestElectionInputSticky: only a sticky view hands the named announcers to
// the election.
func TestElectionInputSticky(t *testing.T) {
	s := lb("a", "web", false, nil, "192.0.2.1")
	s.Status.Conditions = []metav1.Condition{announced(v1beta1.ServiceConditionAnnouncedIPv4, metav1.ConditionTrue,
		announcedMessage(election.Announcement{IP: netip.MustParseAddr("192.0.2.1")}, "node-2"))}
	view := clusterView{Services: []corev1.Service{s}, ServeNoClass: true}
	if got := electionInput(view); got.Sticky || got.Services[0].AnnouncedBy != nil {
		t.Errorf("not sticky: Sticky %v, AnnouncedBy %v; want neither", got.Sticky, got.Services[0].AnnouncedBy)
	}
	view.Sticky = true
	got := electionInput(view)
	if !got.Sticky || got.Services[0].AnnouncedBy[netip.MustParseAddr("192.0.2.1")] != "node-2" {
		t.Errorf("sticky: Sticky %v, AnnouncedBy %v; want node-2 for 192.0.2.1", got.Sticky, got.Services[0].AnnouncedBy)
	}
}

// announcedMessage is the message the speaker writes when node announces a
// by layer 2.
func announcedMessage(a election.Announcement, node string) string {
	return v1beta1.AnnouncedMessage{IP: a.IP, Announced: true, Node: node, Method: "ARP/NDP", Interfaces: a.Interfaces}.String()
}
