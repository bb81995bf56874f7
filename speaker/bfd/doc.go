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
//   - manager.go and conn.go, the sockets: a Manager owns one listener per
//     address family and hop mode, one goroutine per listener for
//     reception and one per session for its timers, and demultiplexes
//     packets to sessions by discriminator or by peer address.
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
