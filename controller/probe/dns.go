package probe

import (
	"net/netip"
	"slices"
	"time"
)

// DNSPolicy bounds how often names are resolved and how long a name that
// stops resolving keeps its last addresses.
type DNSPolicy struct {
	// MinTTL and MaxTTL clamp the record TTL used as the delay before the
	// next resolution: a TTL of 0 must not turn into a query loop, and a
	// TTL of a day must not hide a moved database for a day.
	MinTTL, MaxTTL time.Duration
	// Grace is how long the last addresses of a name that fails to resolve
	// (an error, NXDOMAIN, no A or AAAA record) are kept, so that a DNS
	// outage does not empty the Service.
	Grace time.Duration
}

// Defaults filled in by withDefaults.
const (
	defaultMinTTL = 5 * time.Second
	defaultMaxTTL = 5 * time.Minute
	defaultGrace  = 10 * time.Minute
)

// withDefaults fills the unset fields, and raises MaxTTL to MinTTL when they
// are crossed.
func (p DNSPolicy) withDefaults() DNSPolicy {
	if p.MinTTL <= 0 {
		p.MinTTL = defaultMinTTL
	}
	if p.MaxTTL <= 0 {
		p.MaxTTL = max(defaultMaxTTL, p.MinTTL)
	}
	p.MaxTTL = max(p.MaxTTL, p.MinTTL)
	if p.Grace < 0 {
		p.Grace = 0
	} else if p.Grace == 0 {
		p.Grace = defaultGrace
	}
	return p
}

// Resolution is what a name stands for after one lookup.
type Resolution struct {
	// Addrs are the addresses to probe and publish, sorted.
	Addrs []netip.Addr
	// Stale is true when the lookup failed and Addrs are the last ones that
	// resolved, kept until Until.
	Stale bool
	Until time.Time
	// Next is the delay before the next lookup.
	Next time.Duration
}

// NameTracker follows one DNS name through its lookups. The zero value is
// not usable; call NewNameTracker.
type NameTracker struct {
	policy DNSPolicy
	last   []netip.Addr
	lastOK time.Time
}

// NewNameTracker returns a tracker for a name never resolved.
func NewNameTracker(p DNSPolicy) *NameTracker {
	return &NameTracker{policy: p.withDefaults()}
}

// Update records a lookup finished at now that returned addrs with the
// smallest TTL among their records, or failed with err (no addresses counts
// as a failure), and says what the name stands for.
func (n *NameTracker) Update(now time.Time, addrs []netip.Addr, ttl time.Duration, err error) Resolution {
	if err == nil && len(addrs) > 0 {
		n.last = slices.Clone(addrs)
		slices.SortFunc(n.last, netip.Addr.Compare)
		n.last = slices.Compact(n.last)
		n.lastOK = now
		return Resolution{Addrs: slices.Clone(n.last), Next: min(max(ttl, n.policy.MinTTL), n.policy.MaxTTL)}
	}
	// Retry soon, so a name that comes back is followed within MinTTL.
	r := Resolution{Next: n.policy.MinTTL}
	if until := n.lastOK.Add(n.policy.Grace); len(n.last) > 0 && now.Before(until) {
		r.Addrs, r.Stale, r.Until = slices.Clone(n.last), true, until
		// Look again when the grace ends, at the latest, so the stale
		// addresses are dropped on time.
		r.Next = min(r.Next, until.Sub(now))
	} else {
		n.last = nil
	}
	return r
}
