// Package election decides which node announces each Service IP in layer 2.
//
// Elect takes one view of the cluster — the configuration model, the speaker
// nodes with their membership state, and the Services with their IPs — and
// returns, for every distinct IP, the node that answers ARP/NDP for it and
// the interfaces it answers on, or why no node does. ForNode picks out one
// node's share. The layer2 package applies that share; it never decides.
//
// The winner for an IP is the rendezvous (highest-random-weight) hash winner
// among the nodes eligible for it, keyed by the IP alone (see Winner). So:
//   - every speaker that sees the same view elects the same nodes, without
//     talking to the others;
//   - Services sharing an IP are always announced by the same node;
//   - a node that joins or leaves moves only the IPs it wins or won.
//
// BGP elects nobody: every eligible node announces (Desire marks them
// Eligible). For an address that no node answers for in layer 2 but a
// BGPAdvertisement announces, Announcement.BGPNode names the one of them,
// the Winner again, that speaks for the announcement in the Service's
// condition.
//
// A sticky election (Input.Sticky) moves even less: an IP stays with the
// node its Services' status names as announcer while that node is alive
// and eligible, so a node that comes back takes nothing back, and each
// failure moves an address once. The cost is balance: addresses do not
// return to their rendezvous winners. The named announcer is part of the
// input, read from the API server like everything else, so the election
// stays a function of the view that every speaker computes alike.
//
// The hash is part of the protocol between speakers: two versions that hash
// differently elect different nodes during a rolling upgrade, and both would
// answer for the same IP. It must not change.
//
// The package is a pure function of its input: it does no I/O, reads no
// clock, keeps no package-level state, and imports no Kubernetes client —
// only the config model, API types and label selectors (TestImports holds
// it to that). Its callers watch the cluster and membership and call Elect
// again whenever their view changes.
package election
