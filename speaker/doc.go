// Package speaker runs on every node and makes the addresses the controller
// assigned reachable. It composes the sub-packages, each with one job:
// membership (which speakers are alive), election (which node announces
// each address, and this node's desired state: pure functions), layer2
// (ARP/NDP answers for this node's share), and bgp (routes to BGP peers
// from every eligible node).
//
// This package only watches the API server, feeds the election and hands
// its desired state (speaker/announce) to every Announcer in
// Options.Announcers; it never writes a Service's spec or addresses. It
// turns the announcers' per-address status into the Service's announced
// condition (rendered by api/v1beta1.AnnouncedMessage) and Events, one per
// change of announcing node or status. For an announcer with BGP sessions
// it writes this node's BGPNodeStatus (in Options.Namespace) when a session
// changes, an Event on the BGPPeer per transition, and the session
// metrics. For main it
// also reads the gossip keys from their Secret, creating it if it is missing
// (GossipKeys, SetupGossip), and tells whether the speaker is ready
// (Speaker.Ready).
package speaker
