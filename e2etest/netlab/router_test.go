package netlab

import (
	"net/netip"
	"testing"
	"time"
)

// TestAddRouter: with a static route in the router standing in for what BGP
// would install, the client reaches an address on node-1's loopback from
// both BGP VIP ranges through the router, and not without that route.
func TestAddRouter(t *testing.T) {
	l := newLab(t, Options{Nodes: 1})
	r, err := l.AddRouter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v4, v6 := l.Addr(idRouter); r.IPv4 != v4 || r.IPv6 != v6 || r.Namespace != l.Prefix+"-router" {
		t.Errorf("router is %s %s in %s, want %s %s in %s-router", r.IPv4, r.IPv6, r.Namespace, v4, v6, l.Prefix)
	}
	n := l.Nodes[0]
	const port = 7002
	serve(t, n, port) // on every address, so also the VIPs added below
	for _, vip := range []netip.Addr{BGPVIPv4().Addr().Next(), BGPVIPv6().Addr().Next()} {
		if l.LANv4.Contains(vip) || l.LANv6.Contains(vip) {
			t.Fatalf("BGP VIP %s is on the LAN", vip)
		}
		via := n.IPv4
		if vip.Is6() {
			via = n.IPv6
		}
		host := netip.PrefixFrom(vip, vip.BitLen()).String()
		if _, err := l.run(t.Context(), n.Name, "-n", n.Namespace, "addr", "add", host, "dev", "lo"); err != nil {
			t.Fatal(err)
		}
		addr := netip.AddrPortFrom(vip, port)
		if got, err := ask(l.Client, addr, 300*time.Millisecond); err == nil {
			t.Fatalf("client reached %s (%q) with no route in the router", addr, got)
		}
		if _, err := l.run(t.Context(), r.Name, "-n", r.Namespace, "route", "add", host, "via", via.String()); err != nil {
			t.Fatal(err)
		}
		if got, err := ask(l.Client, addr, time.Second); err != nil || got != n.Name {
			t.Errorf("client → %s through the router: %q, %v; want %q", addr, got, err, n.Name)
		}
	}
}
