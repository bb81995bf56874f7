// Package netlab builds the test lab's hosts out of Linux network namespaces:
// one namespace per host (node-1 … node-N, client, the router and later
// databases), each with an eth0 veth whose other end is a port of one bridge
// in the root namespace. Later code starts speakers, kube-proxy and pods in
// those namespaces with Host.Start, Host.Command and Host.Do.
//
//	client ─┐
//	node-1 ─┤
//	node-2 ─┼─ bridge (root namespace: the gateway/API server address)
//	node-3 ─┘
//
// # Names
//
// Every name carries the lab's prefix, "pt" plus four lowercase characters
// (random hex by default, for example pt3f2a), so concurrent and crashed runs
// never collide and Cleanup can find leftovers without touching anything
// else: namespaces are "<prefix>-<host>" (pt3f2a-node-1), the bridge is
// "<prefix>br" and each root-side veth is "<prefix><tag>" where tag is the
// host name's first letter and trailing digits (pt3f2an1, pt3f2ac). Inside
// its namespace every host's link is called eth0.
//
// # Addressing
//
// The LAN is one IPv4 subnet (default 10.213.X.0/24) and one IPv6 subnet
// (default fd00:213:X::/64), X random and chosen so that it overlaps no route
// or address of the root namespace. A host with ID n gets the IPv4 address
// base+n and the IPv6 address whose last group is written with the same
// digits (ID 11: 10.213.X.11 and fd00:213:X::11), so the two read alike:
//
//	.1         the bridge: gateway and API server address (root namespace)
//	.2         router (AddRouter)
//	.11–.99    node-1 … node-89
//	.100       client
//	.101–.199  other hosts (databases, …)
//	.200–.254  PoolFirst–PoolLast: addresses for IPAddressPools (VIPs)
//
// Lab pools are carved from the LAN subnet on purpose: a VIP is then on-link
// for every host, so the client ARPs (IPv4) or sends a Neighbor Solicitation
// (IPv6) for it and the elected node's answer is what the tests observe. No
// host has a default route, so traffic to anything outside the lab fails at
// once instead of leaving the machine. A test that wants a pool from another
// subnet adds an on-link route in the client (ip route add <pool> dev eth0),
// which makes the client resolve those addresses the same way.
//
// BGP VIPs come from their own ranges instead, BGPVIPv4 (198.51.100.0/24)
// and BGPVIPv6 (2001:db8:b6::/64), outside every LAN: AddRouter adds the
// router at .2 and routes those ranges in the client via it, so the client
// reaches a BGP VIP only through the route the router learnt by BGP
// (e2etest/frr runs FRR in the router).
//
// # Root tier
//
// Everything here needs root. Tests call internal/roottier.Require, which runs
// the root tier when the process is root and -short is not set (so `make
// test`, run as root in CI, runs it and `make test-unit` does not), skips with
// the reason otherwise, and turns that skip into a failure when PORTICO_E2E=1
// (for CI jobs that must not silently skip); PORTICO_E2E=0 always skips.
//
// # Imports
//
// Like all of e2etest, netlab observes Portico from outside: it may import
// api/ and internal/ (kubeapi, netns, roottier) from this module and never
// controller/, config/ or speaker/. It needs only the ip command (iproute2),
// golang.org/x/sys and apimachinery's wait (Poll, e2etest's one poll loop).
package netlab
