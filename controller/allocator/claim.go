package allocator

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Claim is everything one owner asks for in one decision. Settle judges it
// as a whole against the owner's current spec, so that no address is taken
// only to be given back when another part of the claim fails.
type Claim struct {
	Owner Owner
	// Families lists the address families wanted, in the owner's order
	// (false = IPv4). Held addresses of other families are released.
	Families []bool
	// Requested names the addresses wanted, at most one per family, each of
	// a family in Families. When it is set nothing is picked automatically
	// and the claim is all or nothing.
	Requested []netip.Addr
	// RequireAll makes an automatic claim all or nothing too: unless every
	// family gets an address, none does. Without it each family stands
	// alone.
	RequireAll bool
	// The pools the owner may use, by what it may do there. The caller's
	// policy (selectors, autoAssign, a disabled or a named pool) decides
	// the lists; which pool an address lies in is the allocator's to say.
	//
	// KeepIn: an address the owner holds may stay in these (disabled pools
	// belong here). TakeFrom: a requested address it does not hold yet may
	// come from these. PickFrom: automatic picks come from these, in
	// priority order.
	KeepIn, TakeFrom, PickFrom []string
}

// Grant answers one slot of a claim: a requested address, or a family.
type Grant struct {
	IP netip.Addr // invalid when the slot is not granted
	// Pool is IP's pool. When a requested or held address is refused with
	// ErrNotInPools, it names the pool the address lies in ("" for none), so
	// that the caller can say which part of its policy excludes it.
	Pool string
	Err  error // why the slot is not granted; nil for a granted slot
}

// Outcome is what Settle decided and did.
type Outcome struct {
	// Grants has one entry per requested address when the claim names
	// addresses, else one per family, in the claim's order. When the claim
	// fails as a whole, the slots that could have been granted have neither
	// IP nor Err, and the owner holds nothing.
	Grants []Grant
	// Evicted lists the owners that lost a shared address to this one,
	// which joined it first and may no longer share it with them.
	Evicted []Eviction
	// Lost lists the held addresses this owner lost to a holder that joined
	// first and may no longer share with it, where no Grant says so (an
	// automatic claim picks another address instead). Key is the owner's.
	Lost []Eviction
	// Freed is true when the owner let go of an address or holds one on new
	// terms (ports or keys), so that an owner waiting for one may fit now.
	Freed bool
}

// plan is one slot's answer, worked out before anything changes.
type plan struct {
	ip     netip.Addr
	rs     *rangeState
	kept   bool    // the owner holds ip already
	losers []Owner // holders that joined ip after the owner and may no longer share it
	sameAs int     // 1 + the slot a repeated family copies; 0 otherwise
	inPool string  // for ErrNotInPools: the pool ip lies in
	err    error
}

// Settle grants the claim, or as much of it as the claim allows, under one
// lock: it keeps what the owner holds where it may still hold it (its pool
// is in KeepIn and every holder that joined first still agrees with its
// current spec), takes requested addresses from TakeFrom, picks the missing
// families from PickFrom, and releases every other address the owner holds.
// Nothing is taken before every slot is judged.
func (a *Allocator) Settle(c Claim) Outcome {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := c.Owner.Key
	held := slices.Clone(a.owned[key])
	slices.SortFunc(held, netip.Addr.Compare)
	terms, hadTerms := a.terms(key)

	var plans []plan
	var lost []Eviction
	switch {
	case key == "":
		err := errors.New("allocator: owner has an empty key")
		slots := len(c.Requested)
		if slots == 0 {
			slots = len(c.Families)
		}
		for range slots {
			plans = append(plans, plan{err: err})
		}
	case len(c.Requested) > 0:
		plans = a.planRequested(c, held)
	default:
		plans, lost = a.planFamilies(c, held)
	}

	failed, granted := false, false
	for _, p := range plans {
		failed = failed || p.err != nil
		granted = granted || p.err == nil
	}
	out := Outcome{Grants: make([]Grant, 0, len(plans)), Lost: lost}
	if failed && (len(c.Requested) > 0 || c.RequireAll || !granted) {
		for _, p := range plans {
			out.Grants = append(out.Grants, Grant{Pool: p.inPool, Err: p.err})
		}
		for _, ip := range held {
			a.releaseAddr(key, ip)
		}
		out.Freed = len(held) > 0
		return out
	}

	mine := make([]netip.Addr, 0, len(plans))
	for _, p := range plans {
		switch {
		case p.err != nil:
			out.Grants = append(out.Grants, Grant{Pool: p.inPool, Err: p.err})
			continue
		case p.sameAs > 0:
			out.Grants = append(out.Grants, out.Grants[p.sameAs-1])
			continue
		case p.kept:
			out.Evicted = append(out.Evicted, a.applyKeep(p.ip, c.Owner, p.losers)...)
		default:
			a.insertHolder(p.ip, p.rs, c.Owner)
		}
		mine = append(mine, p.ip)
		out.Grants = append(out.Grants, Grant{IP: p.ip, Pool: poolName(p.rs)})
	}
	for _, ip := range held {
		if !slices.Contains(mine, ip) {
			a.releaseAddr(key, ip)
			out.Freed = true
		}
	}
	if hadTerms && len(mine) > 0 && !sameTerms(terms, c.Owner) {
		out.Freed = true
	}
	return out
}

func fam(is6 bool) int {
	if is6 {
		return 1
	}
	return 0
}

func sameTerms(a, b Owner) bool {
	return a.SharingKey == b.SharingKey && a.BackendKey == b.BackendKey && slices.Equal(a.Ports, b.Ports)
}

// planRequested answers each requested address: one the owner holds is
// kept if its pool is in KeepIn, any other is taken from TakeFrom.
func (a *Allocator) planRequested(c Claim, held []netip.Addr) []plan {
	plans := make([]plan, 0, len(c.Requested))
	var seen [2]bool // IPv4, IPv6
	for _, ip := range c.Requested {
		ip = ip.Unmap()
		is6 := ip.Is6()
		switch {
		case !ip.IsValid():
			plans = append(plans, plan{err: errors.New("allocator: requested an invalid address")})
		case !slices.Contains(c.Families, is6):
			plans = append(plans, plan{err: fmt.Errorf("allocator: requested %s, but %s is not a family claimed", ip, family(is6))})
		case seen[fam(is6)]:
			plans = append(plans, plan{err: fmt.Errorf("allocator: requested a second %s address, %s", family(is6), ip)})
		case slices.Contains(held, ip):
			plans = append(plans, a.planKeep(c.Owner, ip, c.KeepIn))
		default:
			plans = append(plans, a.planTake(c.Owner, ip, c.TakeFrom))
		}
		seen[fam(is6)] = true
	}
	return plans
}

// planFamilies answers each family: the first held address of the family
// that may be kept, else an automatic pick. Held addresses lost to an
// earlier holder are returned, as the pick hides why they went.
func (a *Allocator) planFamilies(c Claim, held []netip.Addr) ([]plan, []Eviction) {
	plans := make([]plan, 0, len(c.Families))
	var lost []Eviction
	for i, is6 := range c.Families {
		if j := slices.Index(c.Families, is6); j < i {
			plans = append(plans, plan{sameAs: j + 1, err: plans[j].err})
			continue
		}
		var p plan
		kept := false
		for _, ip := range held {
			if ip.Is6() != is6 {
				continue
			}
			if p = a.planKeep(c.Owner, ip, c.KeepIn); p.err == nil {
				kept = true
				break
			}
			if cerr, ok := errors.AsType[*ConflictError](p.err); ok {
				lost = append(lost, Eviction{Key: c.Owner.Key, IP: ip, Reason: cerr.Reason})
			}
		}
		if !kept {
			p = a.planPick(c.Owner, c.PickFrom, is6)
		}
		plans = append(plans, p)
	}
	return plans, lost
}

// planKeep judges an address the owner holds: its pool must be in pools
// (avoided addresses stay, as Restore keeps them) and no holder that joined
// it before the owner may disagree with the owner's current spec. Later
// holders that disagree become losers.
func (a *Allocator) planKeep(owner Owner, ip netip.Addr, pools []string) plan {
	rs := a.holders[ip].rs
	if rs == nil || !slices.Contains(pools, rs.pool.name) {
		return plan{inPool: poolName(rs), err: notInPools(ip, pools, poolName(rs))}
	}
	losers, cerr := a.judgeKeep(ip, owner)
	if cerr != nil {
		return plan{err: cerr}
	}
	return plan{ip: ip, rs: rs, kept: true, losers: losers}
}

// planTake judges a requested address the owner does not hold: it must lie
// in one of pools, not be avoided by its pool, and be free or held only by
// owners the owner may share it with.
func (a *Allocator) planTake(owner Owner, ip netip.Addr, pools []string) plan {
	rs := a.locate(ip)
	if rs == nil || !slices.Contains(pools, rs.pool.name) {
		return plan{inPool: poolName(rs), err: notInPools(ip, pools, poolName(rs))}
	}
	if rs.pool.avoids(ip) {
		return plan{inPool: rs.pool.name, err: avoided(ip, rs.pool.name)}
	}
	if cerr := conflict(ip, owner, a.holders[ip].owners); cerr != nil {
		return plan{err: cerr}
	}
	return plan{ip: ip, rs: rs}
}

// planPick chooses an address of the family for the owner, which holds
// none it may keep: one its sharing partners hold, else a free one from the
// first of pools, in order, that has one. Unknown pool names are skipped.
// The error wraps ErrFull when the pools are exhausted and ErrNoFamily when
// none of them has a range of the family.
func (a *Allocator) planPick(owner Owner, pools []string, is6 bool) plan {
	if owner.SharingKey != "" {
		if ip, rs := a.sharedCandidate(owner, pools, is6); ip.IsValid() {
			return plan{ip: ip, rs: rs}
		}
	}
	hasFamily := false
	for _, name := range pools {
		p := a.pools[name]
		if p == nil {
			continue
		}
		// Upper bands of every range first, so that a pool's requested
		// addresses are the last thing it gives away.
		for _, upper := range []bool{true, false} {
			for _, rs := range p.ranges {
				if rs.r.First.Is6() != is6 {
					continue
				}
				hasFamily = true
				var lo, n, used uint64
				switch {
				case upper && rs.upperFree():
					lo, n = rs.upperWindow()
					used = rs.usedUp
				case !upper && rs.lowerFree():
					lo, n, used = 0, rs.band, rs.usedValid-rs.usedUp
				default:
					continue
				}
				ip, err := a.pick(rs, lo, n, used)
				if err != nil {
					return plan{err: err}
				}
				return plan{ip: ip, rs: rs}
			}
		}
	}
	if !hasFamily {
		return plan{err: fmt.Errorf("%w: %s in pools %q", ErrNoFamily, family(is6), pools)}
	}
	return plan{err: fmt.Errorf("%w: %s in pools %q", ErrFull, family(is6), pools)}
}

// sharedCandidate returns the address to share with owner, preferring pool
// priority and then the lowest address so the choice is reproducible.
// Addresses the owner holds already are not candidates: Settle judged them
// with planKeep.
func (a *Allocator) sharedCandidate(owner Owner, pools []string, is6 bool) (netip.Addr, *rangeState) {
	var best netip.Addr
	var bestRS *rangeState
	bestPrio := len(pools)
	for ip := range a.shared[owner.SharingKey] {
		h := a.holders[ip]
		if ip.Is6() != is6 || h.rs == nil || h.rs.pool.avoids(ip) {
			continue
		}
		if _, mine := slices.BinarySearchFunc(h.owners, owner.Key, byKey); mine {
			continue
		}
		prio := slices.Index(pools, h.rs.pool.name)
		if prio < 0 || prio > bestPrio || prio == bestPrio && best.Less(ip) {
			continue
		}
		if conflict(ip, owner, h.owners) != nil {
			continue
		}
		best, bestRS, bestPrio = ip, h.rs, prio
	}
	return best, bestRS
}
