// Package probe holds the decisions behind ExternalService health checks,
// free of I/O so that each can be tested exhaustively: hysteresis per target
// address (Tracker), the choice of the one primary under Primary routing
// (Elect), the refusal of targets no probe or Service may point at (Refuse,
// the CVE-2021-25740 class), and when to resolve a DNS name again and how
// long to keep its last addresses (NameTracker).
//
// The probes themselves (TCP, MySQL, Redis), their scheduler and the DNS
// client live in the sub-packages prober, scheduler and resolver; they hand
// this package Results and resolved addresses, and the externalservice
// reconciler turns its answers into status and EndpointSlices.
//
// The package imports only the standard library and api/v1beta1 (for the
// status vocabulary it reports in), never a client, a clock or a socket:
// every function takes the time it needs as an argument.
package probe
