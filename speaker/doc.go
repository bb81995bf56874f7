// Package speaker runs on every node and makes the addresses the controller
// assigned reachable. It composes the sub-packages, each with one job:
// membership (which speakers are alive), election (which node announces
// each address: a pure function), layer2 (ARP/NDP answers for this node's
// share), and, later, bgp.
//
// This package only watches the API server, feeds the election and applies
// its decision; it never writes a Service's spec or addresses. It reports
// what it announces as a Service status condition and Events. For main it
// also reads the gossip keys from their Secret, creating it if it is missing
// (GossipKeys, SetupGossip), and tells whether the speaker is ready
// (Speaker.Ready).
package speaker
