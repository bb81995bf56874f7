package election_test

import (
	"fmt"
	"net/netip"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/election"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Every speaker runs Elect on the same view and announces its own share.
// Here web-tcp and web-udp share 192.0.2.15, so one node announces it for
// both; db is externalTrafficPolicy: Local with its only ready endpoint on
// node-c; 10.9.9.9 is in no pool.
func Example() {
	cfg, _ := config.For(config.ClusterResources{
		Pools: []v1beta1.IPAddressPool{{
			ObjectMeta: metav1.ObjectMeta{Name: "public"},
			Spec:       v1beta1.IPAddressPoolSpec{Addresses: []string{"192.0.2.0/24"}},
		}},
		L2Advertisements: []v1beta1.L2Advertisement{{
			ObjectMeta: metav1.ObjectMeta{Name: "lan"},
			Spec:       v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public"}, Interfaces: []string{"eth0"}},
		}},
	})

	ip := netip.MustParseAddr
	as := election.Elect(election.Input{
		Config: cfg,
		Nodes: []election.Node{
			{Name: "node-a", Alive: true},
			{Name: "node-b", Alive: true},
			{Name: "node-c", Alive: true},
		},
		Services: []election.Service{
			{Key: "shop/web-tcp", IPs: []netip.Addr{ip("192.0.2.15")}},
			{Key: "shop/web-udp", IPs: []netip.Addr{ip("192.0.2.15")}},
			{Key: "shop/db", IPs: []netip.Addr{ip("192.0.2.20")}, LocalOnly: true, ReadyNodes: []string{"node-c"}},
			{Key: "shop/legacy", IPs: []netip.Addr{ip("10.9.9.9")}},
		},
	})
	for _, a := range as {
		if a.Node == "" {
			fmt.Printf("%s %v: not announced: %s\n", a.IP, a.Services, a.Reason)
			continue
		}
		fmt.Printf("%s %v: %s on %v\n", a.IP, a.Services, a.Node, a.Interfaces)
	}
	for _, a := range election.ForNode(as, "node-c") {
		fmt.Println("node-c announces", a.IP)
	}
	// Output:
	// 10.9.9.9 [shop/legacy]: not announced: the IP is in no IPAddressPool
	// 192.0.2.15 [shop/web-tcp shop/web-udp]: node-b on [eth0]
	// 192.0.2.20 [shop/db]: node-c on [eth0]
	// node-c announces 192.0.2.20
}
