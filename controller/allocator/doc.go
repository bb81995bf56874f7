// Package allocator decides which LoadBalancer addresses Services hold.
//
// An Allocator is a pure, in-memory data structure: the controller feeds it
// the current pools (SetPools), rebuilds it from every Service's status at
// start-up (Restore), and then asks it for addresses (Allocate for an
// automatic pick, Assign for a requested address) and gives them back
// (Release, ReleaseAddr). Usage reports per-pool counters for status and
// metrics.
//
// Memory is proportional to the number of held addresses, never to pool
// size, and an automatic pick costs O(1) expected time whether the pool is an
// IPv4 /24 or an IPv6 /64: the allocator keeps arithmetic counters per range,
// probes random offsets and falls back to a walk that is bounded by the
// number of held addresses. Automatic picks prefer the upper part of each
// range so that the low addresses users tend to request stay free (the idea
// of KEP-3070 in Kubernetes' Service IP allocator).
//
// Policy stays with the caller: which pools an owner may use (selectors,
// autoAssign), whether a pool is disabled, and what a BackendKey encodes.
// The allocator enforces only that no address is handed out twice, except to
// owners that may share it.
//
// An Allocator is safe for concurrent use. IPv4-mapped IPv6 addresses are
// treated as the IPv4 addresses they map.
//
// The package imports no Kubernetes package and makes no API calls; its only
// project dependency is internal/iprange.
package allocator
