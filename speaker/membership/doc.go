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
// Locking: a Membership has no lock of its own. Its state is in three
// parts, each guarded by one mutex that covers that part's fields and
// nothing else; no code holds two of them at once, so there is no lock
// order.
//
//   - lifecycle (lifecycle.go) owns Run's start and end, Leave, and
//     memberlist: it alone creates memberlist, lends it out for joins and
//     metadata updates, and calls its Leave and Shutdown. Its mutex is never
//     held across a call into memberlist; shutdown waits for a Leave under
//     way on a channel, since memberlist panics on a Leave after Shutdown.
//   - registry (registry.go) owns this speaker's record: publish, withdraw,
//     list, and the last error of each. Its mutex is never held across a
//     call to the API server; withdraw cancels the publish in flight and
//     waits for it on a channel, so a renewal never re-creates a withdrawn
//     record.
//   - view (view.go) owns who is alive: the members each source reports,
//     the admission table and holdDown, which is the one alive set and has
//     no lock of its own. memberlist calls the view from its delegates with
//     its own locks held, so the view never blocks, never does I/O and never
//     calls memberlist; it hands work to Run's loops through coalescing
//     channels (changed, verdictChanged, recheck, republish) instead.
//
// What may block: Run, until ctx ends and then for its own leave; Leave,
// for about its timeout (memberlist's leave and the record's withdraw run
// side by side, and the withdraw first waits out the publish it cancelled);
// lifecycle.shutdown, for a Leave under way; the joins in Run's loops, up to
// tcpTimeout each. Alive, Changed, Healthy and the metrics never wait for
// the network.
//
// The package reports who is alive and nothing more: it decides nothing
// about IP addresses, pools or announcements, and imports no other Portico
// package. speaker/election turns Alive() into what this node announces.
package membership
