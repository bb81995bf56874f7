// Package bgp announces this node's Service addresses to BGP routers. Every
// node eligible for an address announces it, so routers spread traffic over
// them (ECMP); externalTrafficPolicy: Local and the exclusion label are
// already in the desired state and the plan.
//
// Announcer is the speaker's entry point (speaker.Announcer). It keeps the
// last configuration model and desired state it was handed; Run turns them
// into a plan (speaker/bgp/routes, pure) and applies the plan to the
// sessions (speaker/bgp/session, embedded GoBGP v3), again at every change
// and every RetryInterval, so a failed step is retried and session states
// are refreshed for Status. A model without BGPPeers for this node starts
// no GoBGP server at all. When Run's context ends, every session is closed
// with a Cease NOTIFICATION, so routers withdraw this node's routes at once.
package bgp
