// Package membership tells a speaker which speakers are alive, with
// sub-second failure detection.
//
// Every speaker is one member of a memberlist (SWIM gossip) cluster, named
// after its node. Speakers find each other through the API server: each
// keeps a Lease portico-speaker-<node> in its namespace (portico-speaker) whose
// annotations carry its memberlist address and its node's subnets, lists
// the Leases of the others and joins the addresses it does not know yet.
// From then on memberlist's probes decide who is alive; the Leases are only
// read again to find newcomers, admit members and heal partitions, so an API server
// outage moves nothing.
//
// Gossip is encrypted and authenticated when Config.SecretKey is set, and a
// member counts only if its name is a Node with a fresh Lease whose
// memberlist address is the member's (admission.go): a host on the LAN
// cannot join without the key, nor move anything with it unless it can also
// write Leases.
//
// If memberlist cannot run (its port cannot be bound), the speaker falls
// back to the Leases: a node counts as alive while its Lease keeps being
// renewed, and Healthy reports ErrDegraded. Nodes in this state advertise no
// memberlist address, and the other speakers judge them by their Lease too,
// so every speaker still sees the same set.
//
// A node that joins, or comes back, is alive at once but Stable only after
// it has been up for Config.HoldDown (see holddown.go for the rules,
// including when a speaker counts itself). Consumers that elect announcing
// nodes should elect among Stable members, so a flapping node does not drag
// addresses back and forth.
//
// Partitions: each speaker publishes in its memberlist metadata which peers
// it counts out (a verdict). When the sides of a partition meet again, the
// smaller side starts over as if it had restarted, so both sides agree that
// the addresses stay where they moved for one hold-down. A speaker cut off
// from half of the cluster or more rejoins its lost peers every 200 ms,
// without the API server.
//
// The package reports who is alive and nothing more: it decides nothing
// about IP addresses, pools or announcements, and imports no other Portico
// package. speaker/election turns Alive() into what this node announces.
package membership
