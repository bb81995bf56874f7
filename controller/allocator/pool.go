package allocator

import (
	"cmp"
	"math"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/portico-lb/portico/internal/iprange"
)

// Pool is one address pool as the allocator sees it. Policy such as
// selectors or autoAssign is decided by the caller.
type Pool struct {
	Name string
	// Ranges may mix IPv4 and IPv6. Ranges of one pool may overlap (they are
	// merged); the caller guarantees ranges of different pools do not.
	Ranges []iprange.Range
	// AvoidBuggyIPs keeps IPv4 addresses ending in .0 or .255 out of
	// automatic picks and requested addresses, for clients whose firmware
	// drops them.
	AvoidBuggyIPs bool
}

// Band limits for the lower part of each range that automatic picks leave
// for requested addresses: min(max(bandMin, size/bandStep), bandMax), and
// none for ranges of bandMin addresses or fewer. The numbers are those of
// Kubernetes' calculateRangeOffset (KEP-3070), so operators meet one rule.
const (
	bandMin  = 16
	bandMax  = 256
	bandStep = 16
)

type poolState struct {
	name       string
	avoidBuggy bool
	ranges     []*rangeState // sorted by First, non-overlapping
}

// avoids reports whether the pool never hands out ip.
func (p *poolState) avoids(ip netip.Addr) bool {
	if !p.avoidBuggy || !ip.Is4() {
		return false
	}
	last := ip.As4()[3]
	return last == 0 || last == 255
}

// rangeState keeps the arithmetic the O(1) pick needs: how many addresses a
// range offers (computed, never enumerated) and how many of them are held.
// "Upper" means offsets at or above band, where automatic picks go first.
type rangeState struct {
	r       iprange.Range
	pool    *poolState
	size    u128
	band    uint64
	valid   u128 // addresses the pool may hand out (size minus avoided)
	validUp u128 // of those, at offsets >= band

	used      uint64 // held addresses in the range, avoided ones included
	usedValid uint64 // held addresses the pool may hand out
	usedUp    uint64 // of those, at offsets >= band
}

func newRangeState(r iprange.Range, p *poolState) *rangeState {
	hi, lo := iprange.Offset(r.First, r.Last)
	size := u128{hi, lo}.add(u128{0, 1})
	rs := &rangeState{r: r, pool: p, size: size, band: bandFor(size)}
	rs.valid = size
	rs.validUp = size.sub(u128{0, rs.band})
	if p.avoidBuggy && r.Is4() {
		first, last := v4(r.First), v4(r.Last)
		rs.valid = rs.valid.sub(u128{0, avoidedBetween(first, last)})
		rs.validUp = rs.validUp.sub(u128{0, avoidedBetween(first+rs.band, last)})
	}
	return rs
}

func bandFor(size u128) uint64 {
	if size.hi != 0 {
		return bandMax
	}
	if size.lo <= bandMin {
		return 0
	}
	return min(max(size.lo/bandStep, bandMin), bandMax)
}

// avoidedBetween counts the IPv4 addresses in [first, last] ending in .0 or
// .255, so Usage and "is it full" never walk the range.
func avoidedBetween(first, last uint64) uint64 {
	if first > last {
		return 0
	}
	upTo := func(n, k uint64) uint64 { // x in [0, n] with x%256 == k
		if n < k {
			return 0
		}
		return (n-k)/256 + 1
	}
	var n uint64
	for _, k := range []uint64{0, 255} {
		n += upTo(last, k)
		if first > 0 {
			n -= upTo(first-1, k)
		}
	}
	return n
}

func v4(a netip.Addr) uint64 {
	b := a.As4()
	return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
}

// count moves ip (which r contains) into or out of the held counters.
func (rs *rangeState) count(ip netip.Addr, hold bool) {
	d := uint64(1)
	if !hold {
		d = math.MaxUint64 // adding it wraps to -1
	}
	rs.used += d
	if rs.pool.avoids(ip) {
		return
	}
	rs.usedValid += d
	if hi, lo := iprange.Offset(rs.r.First, ip); hi != 0 || lo >= rs.band {
		rs.usedUp += d
	}
}

// upperFree and lowerFree say whether a band still has an address to give.
func (rs *rangeState) upperFree() bool { return (u128{0, rs.usedUp}).less(rs.validUp) }

func (rs *rangeState) lowerFree() bool {
	validLow := rs.valid.sub(rs.validUp).lo // at most bandMax
	return rs.usedValid-rs.usedUp < validLow
}

// upperWindow is the offsets [lo, lo+n) of the upper band. Ranges beyond
// 2^64 addresses (IPv6 shorter than /64) are picked from their first 2^64
// addresses only: still far more than memory could ever hold.
func (rs *rangeState) upperWindow() (lo, n uint64) {
	if rs.size.hi != 0 {
		return rs.band, -rs.band // 2^64 - band; band is bandMax here
	}
	return rs.band, rs.size.lo - rs.band
}

// SetPools replaces the pool set. Addresses already held stay held even when
// no pool contains them any more; the per-range counters are rebuilt from
// them, so the cost is O(held addresses × log ranges). A pool whose name
// repeats an earlier one is ignored, as are invalid ranges.
func (a *Allocator) SetPools(pools []Pool) {
	a.mu.Lock()
	defer a.mu.Unlock()

	a.pools = make(map[string]*poolState, len(pools))
	a.sorted = nil
	for _, p := range pools {
		if _, dup := a.pools[p.Name]; dup {
			continue
		}
		ps := &poolState{name: p.Name, avoidBuggy: p.AvoidBuggyIPs}
		for _, r := range mergeRanges(p.Ranges) {
			rs := newRangeState(r, ps)
			ps.ranges = append(ps.ranges, rs)
			a.sorted = append(a.sorted, rs)
		}
		a.pools[p.Name] = ps
	}
	slices.SortFunc(a.sorted, func(x, y *rangeState) int { return x.r.First.Compare(y.r.First) })
	for ip, h := range a.holders {
		h.rs = a.locate(ip)
		if h.rs != nil {
			h.rs.count(ip, true)
		}
		a.holders[ip] = h
	}
}

// mergeRanges drops invalid ranges and merges overlapping ones, so that each
// address is counted once.
func mergeRanges(in []iprange.Range) []iprange.Range {
	out := make([]iprange.Range, 0, len(in))
	for _, r := range in {
		if r.First.IsValid() && r.Last.IsValid() && r.First.Is4() == r.Last.Is4() &&
			!r.First.Is4In6() && !r.Last.Is4In6() && r.First.Compare(r.Last) <= 0 {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y iprange.Range) int {
		return cmp.Or(x.First.Compare(y.First), x.Last.Compare(y.Last))
	})
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && merged[n-1].Overlaps(r) {
			if merged[n-1].Last.Less(r.Last) {
				merged[n-1].Last = r.Last
			}
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// locate finds the range containing ip by binary search over all pools'
// ranges, relying on the caller's promise that pools do not overlap.
func (a *Allocator) locate(ip netip.Addr) *rangeState {
	i, _ := slices.BinarySearchFunc(a.sorted, ip, func(rs *rangeState, ip netip.Addr) int {
		if rs.r.First.Compare(ip) <= 0 {
			return -1
		}
		return 1
	})
	if i > 0 && a.sorted[i-1].r.Contains(ip) {
		return a.sorted[i-1]
	}
	return nil
}

// u128 holds range sizes: an IPv6 /64 has 2^64 addresses, one more than a
// uint64 holds, and Usage must still be exact below the saturation point.
type u128 struct{ hi, lo uint64 }

// add saturates at 2^128-1 (only ::/0 gets there).
func (x u128) add(y u128) u128 {
	lo, c := bits.Add64(x.lo, y.lo, 0)
	hi, c := bits.Add64(x.hi, y.hi, c)
	if c != 0 {
		return u128{math.MaxUint64, math.MaxUint64}
	}
	return u128{hi, lo}
}

// sub floors at zero.
func (x u128) sub(y u128) u128 {
	if x.less(y) {
		return u128{}
	}
	lo, b := bits.Sub64(x.lo, y.lo, 0)
	hi, _ := bits.Sub64(x.hi, y.hi, b)
	return u128{hi, lo}
}

func (x u128) less(y u128) bool { return x.hi < y.hi || x.hi == y.hi && x.lo < y.lo }

func (x u128) sat64() uint64 {
	if x.hi != 0 {
		return math.MaxUint64
	}
	return x.lo
}
