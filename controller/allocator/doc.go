// Package allocator decides which LoadBalancer addresses Services hold.
//
// An Allocator is a pure, in-memory data structure: the controller feeds it
// the current pools (SetPools), rebuilds it from every Service's status at
// start-up (Restore), and then settles each Service's Claim (Settle): which
// held addresses it keeps, which requested address it takes, which address
// is picked for a family that has none, and what it lets go. Release frees
// a deleted Service's addresses. Usage reports per-pool counters for status
// and metrics.
//
// The allocator is the one authority on whether an owner may hold an
// address: every answer is checked against the owner's current ports,
// sharing key, backend key and families, and against the pools the claim
// allows, and a claim is judged as a whole before anything changes, so no
// address is taken only to be given back.
//
// Memory is proportional to the number of held addresses, never to pool
// size, and an automatic pick costs O(1) expected time whether the pool is an
// IPv4 /24 or an IPv6 /64: the allocator keeps arithmetic counters per range,
// probes random offsets and falls back to a walk that is bounded by the
// number of held addresses. Automatic picks prefer the upper part of each
// range so that the low addresses users tend to request stay free (the idea
// of KEP-3070 in Kubernetes' Service IP allocator).
//
// Policy stays with the caller: which pools an owner may keep, take and pick
// from (selectors, autoAssign, a disabled pool, a named pool), and what a
// BackendKey encodes. Which pool an address lies in is the allocator's.
// The allocator enforces only that no address is handed out twice, except to
// owners that may share it.
//
// An Allocator is safe for concurrent use. IPv4-mapped IPv6 addresses are
// treated as the IPv4 addresses they map.
//
// The package imports no Kubernetes package and makes no API calls; its only
// project dependency is internal/iprange (imports_test.go holds it to that).
package allocator
