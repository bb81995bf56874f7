// Package bfd is Portico's Bidirectional Forwarding Detection: RFC 5880 in
// asynchronous mode, over UDP single hop (RFC 5881) and multihop (RFC
// 5883), IPv4 and IPv6. A BGP session uses it to learn within a fraction
// of a second that its peer, or the path to it, has gone (RFC 5882).
//
// Three parts, kept apart:
//   - packet.go, the Control packet (Packet) and the reception checks that
//     need only its bytes; no I/O.
//   - session.go, the state machine of one session (the state variables,
//     reception procedure, Poll Sequence, Detection Time and jittered
//     transmission of RFC 5880 §6.8); no I/O and no clock, every event
//     carries its time.
//   - conn.go, the sockets: a wildcard listener per address family and hop
//     mode (UDP 3784 single hop, 4784 multihop) that reports each packet's
//     TTL, and a transmit socket per session on a source port in
//     49152–65535 that sends with TTL 255.
//   - manager.go and runner.go, the Manager: it demultiplexes received
//     packets to sessions by Your Discriminator (by source address while
//     that is zero), checks the TTL (255 single hop, Peer.MinTTL
//     multihop) and the source, and gives each session a goroutine that
//     owns its state machine and transmits on its timer. Reception and
//     transmission never wait on the rest of the process; receiving does
//     not allocate.
//
// A BGP session consumes it so (RFC 5882): Add a Peer for the neighbour
// when its BFD is configured and keep the BGP session administratively
// down until OnStateChange reports Up; on a change to Down (or AdminDown)
// bring the BGP session down at once, and let it come back only with BFD
// Up again. Timer edits go through Update, which renegotiates with a Poll
// Sequence and keeps the session Up. On shutdown, Remove (or end Run's
// context) first: the peer then sees AdminDown, Diag 7, and goes Down
// with "neighbor signaled session down" rather than counting a failure,
// before BGP sends its Cease. Status gives the state, the Detection Time
// in force and counters for the BGP status object and metrics.
//
// Not implemented, on purpose: Demand mode (bfd.DemandMode is always off;
// a peer's Demand bit is honoured), the Echo function (Required Min Echo RX
// is sent as 0) and authentication (a packet with the A bit is refused).
// Portico's BFD runs beside its BGP in the speaker process, so it sends the
// C bit clear.
//
// The caller passes plain values (Peer, Timers): bfd must not import a
// Kubernetes client, Portico's API types or its config model.
package bfd
