package allocator

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// Port is one protocol/port pair an owner exposes on its address.
type Port struct {
	Protocol string
	Port     int32
}

// Owner is a Service asking for addresses.
type Owner struct {
	Key        string // "namespace/name", unique
	SharingKey string // empty = exclusive: the address cannot be shared
	// BackendKey must be equal among owners sharing an address. The caller
	// encodes what makes sharing safe (externalTrafficPolicy Local and the
	// selector); "" for Cluster.
	BackendKey string
	Ports      []Port
}

// Options configures New.
type Options struct {
	// Rand drives the random picks; tests seed it for reproducible
	// addresses. Nil means a generator seeded randomly.
	Rand *rand.Rand
}

func setOptionsDefaults(opts Options) Options {
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return opts
}

// Allocator tracks which owners hold which addresses. It is safe for
// concurrent use.
type Allocator struct {
	mu      sync.Mutex
	rng     *rand.Rand
	pools   map[string]*poolState
	sorted  []*rangeState // every pool's ranges, by First, for locate
	holders map[netip.Addr]holding
	owned   map[string][]netip.Addr // owner key → held addresses
	// shared indexes held addresses by sharing key, so that an automatic
	// pick with a sharing key finds its partners without scanning holders.
	shared map[string]map[netip.Addr]struct{}
	// joins counts every owner joining an address; see holding.since.
	joins uint64
}

// holding is one held address. All owners in it have the same non-empty
// SharingKey when there are several of them.
type holding struct {
	rs     *rangeState // nil when no current pool contains the address
	owners []Owner     // sorted by Key
	// since[i] orders owners[i]'s arrival on the address among all joins:
	// when an edit makes two holders incompatible, the earlier one keeps
	// the address (Settle).
	since []uint64
}

func (h holding) sharingKey() string {
	if len(h.owners) == 0 {
		return ""
	}
	return h.owners[0].SharingKey
}

// others returns the holders except the one with key.
func (h holding) others(key string) []Owner {
	i, found := slices.BinarySearchFunc(h.owners, key, byKey)
	if !found {
		return h.owners
	}
	return slices.Delete(slices.Clone(h.owners), i, i+1)
}

func byKey(o Owner, key string) int { return strings.Compare(o.Key, key) }

// New returns an Allocator with no pools.
func New(opts Options) *Allocator {
	opts = setOptionsDefaults(opts)
	return &Allocator{
		rng:     opts.Rand,
		pools:   map[string]*poolState{},
		holders: map[netip.Addr]holding{},
		owned:   map[string][]netip.Addr{},
		shared:  map[string]map[netip.Addr]struct{}{},
	}
}

// Restore records that owner already holds ip, as found in a Service's
// status when the controller starts. Pools, avoided addresses and pool
// policy are not checked: what is announced stays recorded. It fails only
// when ip is held by owners owner may not share with, and then it changes
// nothing, so duplicates are reported rather than silently fixed.
func (a *Allocator) Restore(owner Owner, ip netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if owner.Key == "" {
		return errors.New("allocator: owner has an empty key")
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return fmt.Errorf("allocator: restore %s: invalid address", owner.Key)
	}
	if h, ok := a.holders[ip]; ok {
		return a.join(ip, h.rs, owner)
	}
	return a.join(ip, a.locate(ip), owner)
}

// join adds owner to the holders of ip (rs is ip's range, used when ip is
// not held yet), or refreshes owner's entry when it already holds ip. Either
// way owner must be compatible with every other holder: only Settle's keep
// settles a disagreement by who came first, because only its caller is ready
// to decide the losers again.
func (a *Allocator) join(ip netip.Addr, rs *rangeState, owner Owner) error {
	h := a.holders[ip]
	if cerr := conflict(ip, owner, h.others(owner.Key)); cerr != nil {
		return cerr
	}
	if _, found := slices.BinarySearchFunc(h.owners, owner.Key, byKey); found {
		a.applyKeep(ip, owner, nil) // compatible with all: evicts nobody
		return nil
	}
	a.insertHolder(ip, rs, owner)
	return nil
}

// insertHolder adds owner, which does not hold ip yet, to ip's holders.
func (a *Allocator) insertHolder(ip netip.Addr, rs *rangeState, owner Owner) {
	h, held := a.holders[ip]
	if !held {
		h.rs = rs
		if rs != nil {
			rs.count(ip, true)
		}
	}
	oldKey := h.sharingKey()
	owner.Ports = slices.Clone(owner.Ports) // the caller may reuse its slice
	i, _ := slices.BinarySearchFunc(h.owners, owner.Key, byKey)
	h.owners = slices.Insert(h.owners, i, owner)
	a.joins++
	h.since = slices.Insert(h.since, i, a.joins)
	a.owned[owner.Key] = append(a.owned[owner.Key], ip)
	a.holders[ip] = h
	if newKey := h.sharingKey(); !held || newKey != oldKey {
		a.unindex(ip, oldKey)
		a.index(ip, newKey)
	}
}

// judgeKeep re-judges owner, which holds ip, under its current spec,
// changing nothing. Holders that joined before owner and no longer agree
// with it win: the conflict is returned. Otherwise the later holders that no
// longer agree with owner are returned, to lose ip when applyKeep runs.
func (a *Allocator) judgeKeep(ip netip.Addr, owner Owner) ([]Owner, *ConflictError) {
	h := a.holders[ip]
	i, _ := slices.BinarySearchFunc(h.owners, owner.Key, byKey)
	mine := h.since[i]
	var losers []Owner
	for j, other := range h.owners {
		if j == i || refuse(owner, other) == "" {
			continue
		}
		if h.since[j] < mine {
			return nil, conflict(ip, owner, []Owner{other})
		}
		losers = append(losers, other)
	}
	return losers, nil
}

// applyKeep records owner's current spec on ip, which it holds, and removes
// the losers judgeKeep found from ip.
func (a *Allocator) applyKeep(ip netip.Addr, owner Owner, losers []Owner) []Eviction {
	h := a.holders[ip]
	i, _ := slices.BinarySearchFunc(h.owners, owner.Key, byKey)
	oldKey := h.sharingKey()
	owner.Ports = slices.Clone(owner.Ports)
	h.owners[i] = owner
	a.holders[ip] = h
	if newKey := h.sharingKey(); newKey != oldKey {
		a.unindex(ip, oldKey)
		a.index(ip, newKey)
	}
	var evicted []Eviction
	for _, l := range losers {
		a.releaseAddr(l.Key, ip)
		evicted = append(evicted, Eviction{Key: l.Key, IP: ip, Reason: refuse(l, owner) + ", which holds it first"})
	}
	return evicted
}

// Eviction is an owner that lost a shared address because a holder that
// joined the address before it changed, and the two may no longer share.
type Eviction struct {
	Key    string
	IP     netip.Addr
	Reason string // from the evicted owner's side, e.g. "port TCP/80 already used by ns/a, which holds it first"
}

// Release frees every address the owner holds. Unknown keys are a no-op.
func (a *Allocator) Release(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ip := range a.owned[key] {
		a.dropHolder(key, ip)
	}
	delete(a.owned, key)
}

func (a *Allocator) releaseAddr(key string, ip netip.Addr) {
	if !slices.Contains(a.owned[key], ip) {
		return
	}
	a.dropHolder(key, ip)
	if mine := slices.DeleteFunc(a.owned[key], func(x netip.Addr) bool { return x == ip }); len(mine) == 0 {
		delete(a.owned, key)
	} else {
		a.owned[key] = mine
	}
}

// dropHolder removes key from the holders of ip, freeing ip when nobody is
// left; the caller updates a.owned.
func (a *Allocator) dropHolder(key string, ip netip.Addr) {
	h := a.holders[ip]
	i, found := slices.BinarySearchFunc(h.owners, key, byKey)
	if !found {
		return
	}
	oldKey := h.sharingKey()
	h.owners = slices.Delete(h.owners, i, i+1)
	h.since = slices.Delete(h.since, i, i+1)
	if len(h.owners) > 0 {
		if newKey := h.sharingKey(); newKey != oldKey {
			a.unindex(ip, oldKey)
			a.index(ip, newKey)
		}
		a.holders[ip] = h
		return
	}
	delete(a.holders, ip)
	if h.rs != nil {
		h.rs.count(ip, false)
	}
	a.unindex(ip, oldKey)
}

func (a *Allocator) index(ip netip.Addr, key string) {
	if key == "" {
		return
	}
	m := a.shared[key]
	if m == nil {
		m = map[netip.Addr]struct{}{}
		a.shared[key] = m
	}
	m[ip] = struct{}{}
}

func (a *Allocator) unindex(ip netip.Addr, key string) {
	if m := a.shared[key]; m != nil {
		delete(m, ip)
		if len(m) == 0 {
			delete(a.shared, key)
		}
	}
}

// Addresses returns the addresses the owner holds, sorted.
func (a *Allocator) Addresses(key string) []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.owned[key])
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// terms returns the spec the owner with key was last given or kept its
// addresses under, and false when it holds none. Its Ports are the
// allocator's own: read them, never change them.
func (a *Allocator) terms(key string) (Owner, bool) {
	ips := a.owned[key]
	if len(ips) == 0 {
		return Owner{}, false
	}
	h := a.holders[ips[0]]
	i, _ := slices.BinarySearchFunc(h.owners, key, byKey)
	return h.owners[i], true
}

func poolName(rs *rangeState) string {
	if rs == nil {
		return ""
	}
	return rs.pool.name
}

// Usage counts a pool's addresses. Assigned counts distinct held addresses
// inside the pool's ranges (shared ones once, restored avoided ones
// included); Available counts the addresses the pool could still hand out.
// Both saturate at math.MaxUint64.
type Usage struct {
	AssignedV4, AssignedV6   uint64
	AvailableV4, AvailableV6 uint64
}

// Usage returns the counters of the named pool; zero for an unknown pool.
// It costs O(ranges of the pool).
func (a *Allocator) Usage(pool string) Usage {
	a.mu.Lock()
	defer a.mu.Unlock()
	var u Usage
	p := a.pools[pool]
	if p == nil {
		return u
	}
	var free4, free6 u128
	for _, rs := range p.ranges {
		free := rs.valid.sub(u128{0, rs.usedValid})
		if rs.r.Is4() {
			u.AssignedV4 += rs.used
			free4 = free4.add(free)
		} else {
			u.AssignedV6 += rs.used
			free6 = free6.add(free)
		}
	}
	u.AvailableV4, u.AvailableV6 = free4.sat64(), free6.sat64()
	return u
}
