package netlab

import (
	"context"
	"net/netip"
)

// The BGP VIP ranges: addresses for pools announced by BGP rather than
// answered by ARP/NDP. They lie outside the LAN on purpose, so nothing is
// on-link and the only way to them is a route, learnt by the router and
// handed to the client by AddRouter. They are documentation ranges (RFC 5737,
// RFC 3849), the same in every lab: they are routed only inside a lab's
// namespaces, never in the root namespace, so labs running at once do not
// collide.
func BGPVIPv4() netip.Prefix { return netip.MustParsePrefix("198.51.100.0/24") }

// BGPVIPv6 is the IPv6 BGP VIP range; see BGPVIPv4.
func BGPVIPv6() netip.Prefix { return netip.MustParsePrefix("2001:db8:b6::/64") }

// idRouter is the router's host ID: .2 on the LAN, fd00:213:X::2.
const idRouter = 2

// AddRouter adds the router host (namespace "<prefix>-router", ID 2) and
// makes it one: IPv4 and IPv6 forwarding on, no ICMP redirects sent, and
// in the client (if the lab has one) routes for BGPVIPv4 and BGPVIPv6 via
// the router's LAN addresses, with redirects ignored. So traffic from the
// client to a BGP VIP goes client → router → the node the router's FIB
// names, and the client never learns a shortcut to the node. What runs
// BGP in it is up to the caller (e2etest/frr).
func (l *Lab) AddRouter(ctx context.Context) (*Host, error) {
	r, err := l.AddHost(ctx, "router", idRouter)
	if err != nil {
		return nil, err
	}
	// The router sends the client's packets back out of the link they came
	// in on, which is exactly when Linux sends a redirect naming the node.
	for _, kv := range [][2]string{
		{"net.ipv4.ip_forward", "1"}, {"net.ipv6.conf.all.forwarding", "1"},
		{"net.ipv4.conf.all.send_redirects", "0"}, {"net/ipv4/conf/" + r.Interface + "/send_redirects", "0"},
	} {
		if err := r.Sysctl(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	c := l.Client
	if c == nil {
		return r, nil
	}
	for _, kv := range [][2]string{
		{"net.ipv4.conf.all.accept_redirects", "0"}, {"net/ipv4/conf/" + c.Interface + "/accept_redirects", "0"},
		{"net.ipv6.conf.all.accept_redirects", "0"}, {"net/ipv6/conf/" + c.Interface + "/accept_redirects", "0"},
	} {
		if err := c.Sysctl(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	for _, args := range [][]string{
		{"-4", "route", "replace", BGPVIPv4().String(), "via", r.IPv4.String(), "dev", c.Interface},
		{"-6", "route", "replace", BGPVIPv6().String(), "via", r.IPv6.String(), "dev", c.Interface},
	} {
		if _, err := l.run(ctx, c.Name, append([]string{"-n", c.Namespace}, args...)...); err != nil {
			return nil, err
		}
	}
	return r, nil
}
