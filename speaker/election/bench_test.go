package election_test

import (
	"fmt"
	"net/netip"
	"testing"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker/election"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkElect measures a large cluster's whole election: 5,000 Services
// (one IP each, one in ten Local with three ready nodes) on 50 nodes, with
// two pools and three advertisements, one of them node-selected. Every
// speaker runs this on every change of the view, so it must stay well under
// the sub-second failover budget.
func BenchmarkElect(b *testing.B) {
	cfg := buildConfig(b,
		[]v1beta1.IPAddressPool{
			ipPool("v4", nil, "10.0.0.0/16"),
			ipPool("v6", nil, "fd00::/112"),
		},
		[]v1beta1.L2Advertisement{
			l2("all", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"v4"}}),
			l2("edge", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"v4", "v6"},
				NodeSelectors: []metav1.LabelSelector{sel("role", "edge")}, Interfaces: []string{"eth1"}}),
			l2("v6", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"v6"},
				NodeSelectors: []metav1.LabelSelector{sel("zone", "a"), sel("zone", "b")}, Interfaces: []string{"eth0"}}),
		})

	names := nodeNames(50)
	nodes := make([]election.Node, len(names))
	for i, n := range names {
		role := "worker"
		if i%5 == 0 {
			role = "edge"
		}
		nodes[i] = election.Node{Name: n, Labels: lbls("zone", string(rune('a'+i%4)), "role", role), Alive: i%17 != 0}
	}
	ips := append(addrs("10.0.1.0", 4000), addrs("fd00::1000", 1000)...)
	svcs := make([]election.Service, len(ips))
	for i, ip := range ips {
		svcs[i] = election.Service{Key: fmt.Sprintf("ns%d/svc%d", i%20, i), IPs: []netip.Addr{ip}}
		if i%10 == 0 {
			svcs[i].LocalOnly = true
			svcs[i].ReadyNodes = []string{names[i%50], names[(i+7)%50], names[(i+23)%50]}
		}
	}
	in := election.Input{Config: cfg, Nodes: nodes, Services: svcs}

	b.ReportAllocs()
	for b.Loop() {
		if as := election.Elect(in); len(as) != len(ips) {
			b.Fatalf("%d announcements, want %d", len(as), len(ips))
		}
	}
}
