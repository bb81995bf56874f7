// Package frr runs FRRouting (Debian's FRR 8.4: zebra, bgpd and, for BFD,
// bfdd) inside a netlab host, with configuration the harness writes: the
// lab's BGP router (DESIGN §5: ASN 64512, peering with every node over IPv4
// and IPv6) and, in tests, reference BGP speakers in node namespaces.
//
//	r, err := frr.Start(ctx, frr.Config{Host: router, Neighbors: …})
//	defer r.Stop()
//	routes, err := r.Routes(ctx, frr.IPv4) // bgpd's table, from vtysh JSON
//	fib, err := r.FIB(ctx, frr.IPv4)       // the namespace's kernel routes
//	bfd, err := r.BFDPeers(ctx)            // bfdd's sessions, from vtysh JSON
//
// Each instance keeps everything in a directory of its own: bgpd.conf,
// zebra.conf and bfdd.conf, the vty sockets (--vty_socket), the zebra
// socket (-z), bfdd's control socket (--bfdctl), pid files (-i) and logs.
// bfdd runs only when the Config has a BFD profile; bgpd asks it, through
// zebra, for a session per neighbor with "bfd profile". vtysh talks to those sockets only, and TCP vty ports
// are off, so instances in several labs and the machine's own FRR service
// (which the harness never starts) never meet. The daemons are processes of
// the lab (netlab.Host.Start): Stop ends them and removes the directory,
// and Lab.Destroy kills them at the latest. Every wait is bounded.
//
// The configuration is an eBGP/iBGP route server's minimum done right for
// FRR 8.4: "no bgp default ipv4-unicast" with every neighbor activated in
// its own address family only, "no bgp ebgp-requires-policy", ECMP over up
// to 64 paths whatever their AS (multipath-relax), and IPv6 next hops that
// prefer the peer's global address; renderBGPD says why for each line.
//
// Like all of e2etest it observes from outside: it imports e2etest/netlab
// and the standard library, never controller/, config/ or speaker/.
package frr
