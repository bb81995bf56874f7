package allocator

import (
	"errors"
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

// The single-step entry points below exist only in test builds. Production
// code claims through Settle; these let the tests drive the same steps
// (planKeep, planPick, join, applyKeep, releaseAddr) one
// at a time, as the allocator's tests were written against them.

// ErrNotHeld means Keep was asked about an address the owner does not hold.
var ErrNotHeld = errors.New("allocator: address not held")

// Allocate gives owner one automatically chosen address of the family: the
// one it holds already, else what planPick chooses.
func (a *Allocator) Allocate(owner Owner, pools []string, is6 bool) (netip.Addr, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if owner.Key == "" {
		return netip.Addr{}, "", errors.New("allocator: owner has an empty key")
	}
	var mine netip.Addr
	for _, ip := range a.owned[owner.Key] {
		if ip.Is6() == is6 && (!mine.IsValid() || ip.Less(mine)) {
			mine = ip
		}
	}
	if mine.IsValid() {
		h := a.holders[mine]
		if err := a.join(mine, h.rs, owner); err != nil {
			return netip.Addr{}, "", err
		}
		return mine, poolName(h.rs), nil
	}
	p := a.planPick(owner, pools, is6)
	if p.err != nil {
		return netip.Addr{}, "", p.err
	}
	a.insertHolder(p.ip, p.rs, owner)
	return p.ip, poolName(p.rs), nil
}

// Assign gives owner the address ip from one of pools, or refreshes the
// owner's spec on it when it holds ip already.
func (a *Allocator) Assign(owner Owner, ip netip.Addr, pools []string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if owner.Key == "" {
		return "", errors.New("allocator: owner has an empty key")
	}
	ip = ip.Unmap()
	rs := a.locate(ip)
	if rs == nil || !slices.Contains(pools, rs.pool.name) {
		return "", notInPools(ip, pools, poolName(rs))
	}
	if rs.pool.avoids(ip) {
		return "", avoided(ip, rs.pool.name)
	}
	if err := a.join(ip, rs, owner); err != nil {
		return "", err
	}
	return rs.pool.name, nil
}

// Keep re-judges an address owner holds, as Settle does, and releases it
// when it may not be kept.
func (a *Allocator) Keep(owner Owner, ip netip.Addr, pools []string) ([]Eviction, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ip = ip.Unmap()
	if !slices.Contains(a.owned[owner.Key], ip) {
		return nil, fmt.Errorf("%w: %s does not hold %s", ErrNotHeld, owner.Key, ip)
	}
	p := a.planKeep(owner, ip, pools)
	if p.err != nil {
		a.releaseAddr(owner.Key, ip)
		return nil, p.err
	}
	return a.applyKeep(ip, owner, p.losers), nil
}

// ReleaseAddr frees one address of the owner.
func (a *Allocator) ReleaseAddr(key string, ip netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.releaseAddr(key, ip.Unmap())
}

// PoolOf returns the current pool containing ip, whether or not ip is held.
func (a *Allocator) PoolOf(ip netip.Addr) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rs := a.locate(ip.Unmap())
	return poolName(rs), rs != nil
}
