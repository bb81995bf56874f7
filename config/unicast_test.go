package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
)

// Addresses that layer 2 would never answer for, and routers never forward,
// are refused on the entry that holds them, naming what they include.
func TestPoolRefusesNonUnicast(t *testing.T) {
	const tail = "; only unicast addresses can be given to Services and answered for by ARP/NDP"
	tests := []struct {
		entry string
		msg   string // empty: accepted
	}{
		{"0.0.0.0/0", "0.0.0.0/0 includes the unspecified address (0.0.0.0/32)"},
		{"::/0", "::/0 includes the unspecified address (::/128)"},
		{"0.0.0.0/32", "0.0.0.0/32 includes the unspecified address (0.0.0.0/32)"},
		{"::/128", "::/128 includes the unspecified address (::/128)"},
		{"127.0.0.1/32", "127.0.0.1/32 includes loopback addresses (127.0.0.0/8)"},
		{"126.255.255.250-127.0.0.2", "126.255.255.250-127.0.0.2 includes loopback addresses (127.0.0.0/8)"},
		{"::1/128", "::1/128 includes the loopback address (::1/128)"},
		{"169.254.10.0/24", "169.254.10.0/24 includes link-local addresses (169.254.0.0/16)"},
		{"fe80::/64", "fe80::/64 includes link-local addresses (fe80::/10)"},
		{"224.0.0.0/24", "224.0.0.0/24 includes multicast addresses (224.0.0.0/4)"},
		{"239.255.255.255/32", "239.255.255.255/32 includes multicast addresses (224.0.0.0/4)"},
		{"ff02::1/128", "ff02::1/128 includes multicast addresses (ff00::/8)"},
		{"255.255.255.255/32", "255.255.255.255/32 includes the limited broadcast address (255.255.255.255/32)"},
		{"240.0.0.0/4", "240.0.0.0/4 includes the limited broadcast address (255.255.255.255/32)"},
		// Right next to the blocks, and private or documentation space: fine.
		{"0.0.0.1-0.0.0.255", ""},
		{"126.0.0.0/8", ""},
		{"128.0.0.0/16", ""},
		{"169.253.255.0/24", ""},
		{"223.255.255.0/24", ""},
		{"240.0.0.0/24", ""},
		{"::2-::ff", ""},
		{"fe7f::/16", ""},
		{"fec0::/10", ""},
		{"10.0.0.0/8", ""},
		{"fd00::/8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			in := ipPool("a", 0, "192.0.2.0/24", tt.entry)
			got, _, problems := buildPool(&in)
			if tt.msg == "" {
				if got == nil || len(problems) != 0 {
					t.Fatalf("refused: %v", problems)
				}
				return
			}
			diffProblems(t, problems, []Problem{perr(kindPool, "a", "spec.addresses[1]", v1beta1.ReasonNotUnicast, tt.msg+tail)})
			if got != nil {
				t.Errorf("pool in the model: %+v", got)
			}
		})
	}
}

// A pool that holds a Node's address still serves, with a warning on every
// entry and node: the node elected for such a Service would answer for
// another host's address.
func TestPoolWarnsAboutNodeAddresses(t *testing.T) {
	withAddrs := func(name string, addrs ...corev1.NodeAddress) corev1.Node {
		n := node(name)
		n.Status.Addresses = addrs
		return n
	}
	res := ClusterResources{
		Pools: []v1beta1.IPAddressPool{
			ipPool("lan", 0, "192.0.2.0/24", "2001:db8::/120", "198.51.100.0/24"),
			ipPool("clean", 1, "203.0.113.0/24"),
		},
		Nodes: []corev1.Node{
			withAddrs("node-b",
				corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.20"},
				corev1.NodeAddress{Type: corev1.NodeHostName, Address: "192.0.2.21"}, // not an IP the node answers for by itself
				corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "2001:db8::7"}),
			withAddrs("node-a",
				corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.10"},
				corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "not-an-ip"}),
		},
	}
	c, problems := For(res)
	w := func(field, msg string) Problem { return pwarn(kindPool, "lan", field, v1beta1.ReasonNodeAddress, msg) }
	diffProblems(t, problems, []Problem{
		w("spec.addresses[0]", `contains 192.0.2.10, the InternalIP of node "node-a"; a Service given it would take that address over from the node: leave it out of the pool`),
		w("spec.addresses[0]", `contains 192.0.2.20, the InternalIP of node "node-b"; a Service given it would take that address over from the node: leave it out of the pool`),
		w("spec.addresses[1]", `contains 2001:db8::7, the ExternalIP of node "node-b"; a Service given it would take that address over from the node: leave it out of the pool`),
	})
	if d := cmp.Diff([]string{"clean", "lan"}, poolNames(c.Pools())); d != "" {
		t.Errorf("pools in use (-want +got):\n%s", d)
	}
}
