// Package session is BGP's impure part: it holds the BGP sessions of one
// node with embedded GoBGP v3 and announces to each peer the routes that
// speaker/bgp/routes planned for it. It never decides what to announce.
//
// # One GoBGP server per peer
//
// Sessions runs one GoBGP BgpServer per BGPPeer, each with the peer as its
// only neighbor. GoBGP keeps a single global RIB per server and keys
// neighbors by address, and Portico needs per peer:
//   - its own attributes for a prefix (communities and local preference
//     come from the advertisements that name that peer; one local path per
//     prefix per server cannot differ by neighbor);
//   - its own router ID and local AS (BGPPeer.routerID, myASN);
//   - two peers on one address with different ports (a router running two
//     instances, or a test).
//
// The alternatives GoBGP v3 offers inside one server are export policies
// with one statement per (peer, prefix) to rewrite attributes, or one VRF
// per peer with its own route targets. Both keep one router ID and one
// neighbor per address, and both make a change of one peer's routes a
// policy or VRF edit that touches the shared server. A server per peer is a
// few goroutines and a tiny RIB, peers are a handful per node, and
// resetting one peer is stopping its server: nothing else is touched.
//
// GoBGP v3's Serve loop never returns, so a server is never freed. Sessions
// keeps the servers of closed sessions and starts them again (StopBgp, then
// StartBgp with a fresh RIB) for the next peer: the number of servers is the
// largest number of peers held at once, however often peers change.
//
// Known flaw of GoBGP v3.37.0: StartBgp writes two package-level variables
// (table.SelectionOptions, table.UseMultiplePaths) that other servers read
// while they process routes, so `go test -race` reports a race whenever a
// second server starts in the process (the tests' routers included). Every
// server here writes the same defaults; a fix belongs upstream, or in one
// server per process once GoBGP can give neighbors their own router ID.
//
// No server listens: every session dials out (GoBGP's ListenPort -1).
// Close and removed peers end with a Cease NOTIFICATION (GoBGP's StopBgp,
// subcode Peer De-configured), so routers withdraw at once rather than at
// hold time.
//
// A peer's BFD settings (PeerConfig.BFD) are not GoBGP's: a change of BFD
// alone (timers, passive, BFD turned on or off) keeps the session, because
// BFD agrees on new timers with a poll sequence of its own and a BGP reset
// for it would be the outage BFD is there to shorten. Every other change
// resets the session (compare decides).
//
// GoBGP's logs go to a logr.Logger; the ones that explain a failed session
// (a NOTIFICATION sent or received, a refused connection, an expired hold
// timer) also become the peer's LastError in plain words.
package session
