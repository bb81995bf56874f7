package allocator

import (
	"fmt"
	"net/netip"

	"github.com/portico-lb/portico/internal/iprange"
)

// randomProbes bounds the random tries before the walk. At half full a probe
// fails with probability 1/2, so 32 failures in a row (2^-32) practically
// happen only in nearly full windows, where the walk is short anyway.
const randomProbes = 32

// pick returns a free address the pool may hand out among the offsets
// [lo, lo+n) of rs, where used held addresses lie and the counters promise
// at least one more valid address. It never looks at the rest of the range
// and never remembers which offsets it tried.
func (a *Allocator) pick(rs *rangeState, lo, n, used uint64) (netip.Addr, error) {
	for range randomProbes {
		ip, _ := iprange.Add(rs.r.First, lo+a.rng.Uint64N(n))
		if a.usable(rs, ip) {
			return ip, nil
		}
	}
	// Walk from a random start with wraparound. Among used+1 consecutive
	// valid candidates at least one is free (pigeonhole), so the walk stops
	// after seeing more held addresses than the counters know about, and
	// after n steps at most; avoided addresses are at most 2 in 256.
	k := a.rng.Uint64N(n)
	var taken uint64
	for range n {
		ip, _ := iprange.Add(rs.r.First, lo+k)
		if !rs.pool.avoids(ip) {
			if _, held := a.holders[ip]; !held {
				return ip, nil
			}
			taken++
			if taken > used {
				break
			}
		}
		if k++; k == n {
			k = 0
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: pool %q range %s: %d held addresses met where %d are counted",
		errAccounting, rs.pool.name, rs.r, taken, used)
}

func (a *Allocator) usable(rs *rangeState, ip netip.Addr) bool {
	if rs.pool.avoids(ip) {
		return false
	}
	_, held := a.holders[ip]
	return !held
}
