package allocator

import (
	"fmt"
	"net/netip"
	"slices"
)

// CheckInvariants lets the external tests verify the internal indexes after
// every step of a random run. It exists only in test builds.
func (a *Allocator) CheckInvariants() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	type counts struct{ used, usedValid, usedUp uint64 }
	want := map[*rangeState]counts{}
	for ip, h := range a.holders {
		if len(h.owners) == 0 {
			return fmt.Errorf("%s: held by nobody", ip)
		}
		if len(h.since) != len(h.owners) {
			return fmt.Errorf("%s: %d owners but %d join stamps", ip, len(h.owners), len(h.since))
		}
		if !slices.IsSortedFunc(h.owners, func(x, y Owner) int { return byKey(x, y.Key) }) {
			return fmt.Errorf("%s: owners not sorted", ip)
		}
		for _, o := range h.owners {
			if c := conflict(ip, o, h.others(o.Key)); c != nil {
				return fmt.Errorf("%s: incompatible holders: %v", ip, c)
			}
			if !slices.Contains(a.owned[o.Key], ip) {
				return fmt.Errorf("%s: %s holds it but owned does not say so", ip, o.Key)
			}
		}
		if h.rs != a.locate(ip) {
			return fmt.Errorf("%s: attributed to the wrong range", ip)
		}
		if k := h.sharingKey(); k != "" {
			if _, ok := a.shared[k][ip]; !ok {
				return fmt.Errorf("%s: missing from the sharing index of %q", ip, k)
			}
		}
		if h.rs != nil {
			c := want[h.rs]
			c.used++
			if !h.rs.pool.avoids(ip) {
				c.usedValid++
				if !ip.Less(mustAdd(h.rs.r.First, h.rs.band)) {
					c.usedUp++
				}
			}
			want[h.rs] = c
		}
	}
	for key, ips := range a.owned {
		for i, ip := range ips {
			if slices.Contains(ips[:i], ip) {
				return fmt.Errorf("%s: %s listed twice", key, ip)
			}
			if _, found := slices.BinarySearchFunc(a.holders[ip].owners, key, byKey); !found {
				return fmt.Errorf("%s: lists %s but does not hold it", key, ip)
			}
		}
	}
	for k, ips := range a.shared {
		for ip := range ips {
			if a.holders[ip].sharingKey() != k {
				return fmt.Errorf("%s: in the sharing index of %q by mistake", ip, k)
			}
		}
	}
	for _, rs := range a.sorted {
		if got := (counts{rs.used, rs.usedValid, rs.usedUp}); got != want[rs] {
			return fmt.Errorf("range %s: counters %+v, held addresses say %+v", rs.r, got, want[rs])
		}
	}
	return nil
}

func mustAdd(a netip.Addr, n uint64) netip.Addr {
	for range n {
		a = a.Next()
	}
	return a
}
