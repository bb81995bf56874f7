package speaker

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-lb/portico/speaker/bgp/routes"
)

// thisNode gives BGP the node's labels and its first IPv4 InternalIP, the
// default router ID: never an ExternalIP, never IPv6.
func TestThisNode(t *testing.T) {
	node := func(name string, addrs ...corev1.NodeAddress) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"zone": name}},
			Status: corev1.NodeStatus{Addresses: addrs}}
	}
	in := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a} }
	ext := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: a} }
	nodes := []corev1.Node{
		node("a", ext("203.0.113.1"), in("fd00::1"), in("10.0.0.1"), in("10.0.0.2")),
		node("v6", in("fd00::2")),
		node("mapped", in("::ffff:10.0.0.3")),
	}
	for _, tc := range []struct {
		name string
		want netip.Addr
	}{
		{"a", netip.MustParseAddr("10.0.0.1")},
		{"v6", netip.Addr{}},
		{"mapped", netip.MustParseAddr("10.0.0.3")},
	} {
		got, ip := thisNode(nodes, tc.name)
		if ip != tc.want {
			t.Errorf("%s: router ID %v, want %v", tc.name, ip, tc.want)
		}
		if diff := cmp.Diff(routes.Node{Name: tc.name, Labels: map[string]string{"zone": tc.name}}, got); diff != "" {
			t.Errorf("%s: node (-want +got):\n%s", tc.name, diff)
		}
	}
	if got, ip := thisNode(nodes, "gone"); got.Name != "gone" || got.Labels != nil || ip.IsValid() {
		t.Errorf("unknown node: %+v %v; want the name only", got, ip)
	}
}
