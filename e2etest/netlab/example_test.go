package netlab_test

import (
	"fmt"
	"net/netip"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// The addressing plan: a host's IPv6 address ends in the same digits as its
// IPv4 address, and pools for VIPs come from the LAN itself.
func ExampleLab_Addr() {
	l := &netlab.Lab{
		LANv4: netip.MustParsePrefix("10.213.57.0/24"),
		LANv6: netip.MustParsePrefix("fd00:213:57::/64"),
	}
	for _, h := range []struct {
		what string
		id   int
	}{{"gateway", 1}, {"node-1", 11}, {"node-3", 13}, {"client", 100}, {"first VIP", netlab.PoolFirst}, {"last VIP", netlab.PoolLast}} {
		v4, v6 := l.Addr(h.id)
		fmt.Printf("%-9s %-13s %s\n", h.what, v4, v6)
	}
	// Output:
	// gateway   10.213.57.1   fd00:213:57::1
	// node-1    10.213.57.11  fd00:213:57::11
	// node-3    10.213.57.13  fd00:213:57::13
	// client    10.213.57.100 fd00:213:57::100
	// first VIP 10.213.57.200 fd00:213:57::200
	// last VIP  10.213.57.254 fd00:213:57::254
}

// BGP VIPs come from ranges of their own, off every lab's LAN.
func ExampleBGPVIPv4() {
	fmt.Println(netlab.BGPVIPv4(), netlab.BGPVIPv6())
	// Output: 198.51.100.0/24 2001:db8:b6::/64
}
