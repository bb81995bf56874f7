// Package layer2 makes this node answer ARP (IPv4) and NDP (IPv6) for the
// service IPs it has won, and announces each take-over with gratuitous ARP and
// unsolicited Neighbor Advertisements.
//
// The VIPs are never added to an interface: kube-proxy's rules take the
// traffic once a frame reaches the node, so the kernel does not know the
// addresses and will not answer for them. A Responders does it instead, with
// one raw ARP socket and one ICMPv6 socket per interface that needs them.
//
// The package only applies a decision taken elsewhere: speaker/election
// computes which (IP, interfaces) this node announces and hands the whole set
// to Responders.Set. Run opens and closes the per-interface responders, re-lists
// interfaces every RescanInterval (new links, flaps, addresses), and Healthy
// names the interfaces that could not be bound and why.
//
// Wire formats stay in github.com/mdlayher/arp and github.com/mdlayher/ndp.
// Which interface answers for which IPs is planned by package plan, pure and
// held to it by its import check; what to answer, and with what, is decided
// by pure functions kept apart from the sockets. Both are unit-tested and
// fuzzed without privileges; the socket code is tested through a fake
// net.PacketConn and the sockets field, and, as root, in network namespaces.
//
// The speaker drives it through speaker.Announcer: Announce takes this
// node's desired state (speaker/announce) and keeps the addresses it is
// elected for, Status reports per address whether it is answered.
//
// layer2 must not import a Kubernetes client or any Portico API type: its
// input is a map of netip.Addr to interface names (or speaker/announce's
// data, which is no more than that), nothing more.
package layer2
