package frr_test

import (
	"fmt"
	"net/netip"

	"github.com/portico-lb/portico/e2etest/frr"
)

// A VIP that two nodes announce is one route in the router's kernel table
// with both nodes as next hops.
func ExampleFIBRoute_Multipath() {
	ecmp := frr.FIBRoute{Protocol: "bgp", NextHops: []netip.Addr{netip.MustParseAddr("10.213.57.11"), netip.MustParseAddr("10.213.57.12")}}
	single := frr.FIBRoute{Protocol: "bgp", NextHops: ecmp.NextHops[:1]}
	fmt.Println(ecmp.Multipath(), single.Multipath())
	// Output: true false
}
