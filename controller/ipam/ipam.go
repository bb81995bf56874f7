package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/controller/allocator"
)

// IPAM is safe for concurrent use.
type IPAM struct {
	mu       sync.Mutex
	cfg      *config.Config
	problems []config.Problem
	alloc    *allocator.Allocator
	// pending holds Services waiting for an address, retried when one frees.
	pending map[string]struct{}
	// duplicates holds Services whose status addresses another Service
	// already held at start-up, with those addresses and what they asked
	// for then: a changed request is decided afresh.
	duplicates map[string]duplicate
	// moved says why a Service lost an address, for the message of its
	// next decision.
	moved map[string]loss
}

type duplicate struct {
	addrs []netip.Addr
	ask   ask
}

type loss struct {
	addr   netip.Addr
	reason string
}

// New returns an IPAM with an empty configuration.
func New(alloc *allocator.Allocator) *IPAM {
	m := &IPAM{
		alloc:      alloc,
		pending:    map[string]struct{}{},
		duplicates: map[string]duplicate{},
		moved:      map[string]loss{},
	}
	m.cfg, _ = config.For(config.ClusterResources{})
	return m
}

// SetConfig installs a new model and the problems found building it.
// Allocations are kept; Services are re-evaluated by their next Decide.
func (m *IPAM) SetConfig(cfg *config.Config, problems []config.Problem) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg = cfg
	m.problems = problems
	pools := make([]allocator.Pool, 0, len(cfg.Pools()))
	for _, p := range cfg.Pools() {
		pools = append(pools, allocator.Pool{Name: p.Name, Ranges: p.Ranges, AvoidBuggyIPs: p.AvoidBuggyIPs})
	}
	slices.SortFunc(pools, func(a, b allocator.Pool) int { return strings.Compare(a.Name, b.Name) })
	m.alloc.SetPools(pools)
}

// Config returns the current model and its problems.
func (m *IPAM) Config() (*config.Config, []config.Problem) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg, m.problems
}

// Restore records the addresses a Service already holds in its status. It
// is called for every Service before the first Decide, oldest Service
// first: the order is the order of arrival by which the allocator settles
// disagreements. A conflict marks the Service as a duplicate: it keeps its status and
// gets a DuplicateIP condition until the other holder lets go or its own
// request changes.
func (m *IPAM) Restore(req Request, addrs []netip.Addr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	owner := req.Owner
	var errs []error
	for _, a := range addrs {
		if err := m.alloc.Restore(owner, a); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		m.duplicates[owner.Key] = duplicate{addrs: slices.Clone(addrs), ask: askOf(req)}
		return fmt.Errorf("service %s: %w", owner.Key, errors.Join(errs...))
	}
	return nil
}

// Forget releases everything key holds. It reports whether an address was
// freed, so waiting Services can be retried.
func (m *IPAM) Forget(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pending, key)
	delete(m.duplicates, key)
	delete(m.moved, key)
	freed := len(m.alloc.Addresses(key)) > 0
	m.alloc.Release(key)
	return freed
}

// Pending returns the Services waiting for an address, sorted.
func (m *IPAM) Pending() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.pending))
	for k := range m.pending {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Usage reports a pool's address use.
func (m *IPAM) Usage(pool string) allocator.Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.alloc.Usage(pool)
}

// Effects is what one decision did beyond the Service decided.
type Effects struct {
	// Freed is true when an address was released or its holder's sharing
	// terms changed, so Services waiting for one may get it now (Pending).
	Freed bool
	// Evicted lists Services that lost a shared address to the decided one,
	// which held it first and may no longer share it with them. They must
	// be decided again: their status still shows the address.
	Evicted []string
}

// Decide gives req the addresses it should hold now, changing the
// allocation as needed. ipam turns the request and the pool policy into one
// allocator.Claim and explains the allocator's answer; the allocator alone
// judges, against the Service's current ports, sharing key and backends,
// which addresses it may keep, take or be given.
func (m *IPAM) Decide(req Request) (Decision, Effects) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := req.Owner.Key
	var eff Effects

	if dup, ok := m.duplicates[key]; ok {
		if askOf(req) != dup.ask {
			// The user edited the request: decide it afresh.
			delete(m.duplicates, key)
		} else if d, stillDup := m.retryDuplicate(req, dup.addrs); stillDup {
			return d, eff
		}
	}
	var d Decision
	var out allocator.Outcome
	switch {
	case req.Invalid != "":
		d, out = m.decideInvalid(req)
	case len(req.Requested) > 0:
		d, out = m.decideRequested(req)
	default:
		d, out = m.decideAutomatic(req)
	}
	// A Service that lacks an address retrying could give it waits for one
	// to free: one that got none, or a PreferDualStack Service that got an
	// automatic address of only one family.
	waits := req.Invalid == "" && (!d.Assigned || len(req.Requested) == 0 && len(d.Addrs) < len(req.Families))
	if waits {
		m.pending[key] = struct{}{}
	} else {
		delete(m.pending, key)
	}
	for _, l := range out.Lost {
		m.moved[key] = loss{addr: l.IP, reason: l.Reason}
	}
	for _, e := range out.Evicted {
		m.moved[e.Key] = loss{addr: e.IP, reason: e.Reason}
		eff.Evicted = append(eff.Evicted, e.Key)
	}
	if l, ok := m.moved[key]; ok {
		delete(m.moved, key)
		if !slices.Contains(d.Addrs, l.addr) {
			d.Note = fmt.Sprintf("lost %s: %s", l.addr, l.reason)
		}
	}
	eff.Freed = out.Freed
	return d, eff
}

// letGo settles a claim for nothing: the Service keeps no address.
func (m *IPAM) letGo(req Request) allocator.Outcome {
	return m.alloc.Settle(allocator.Claim{Owner: req.Owner})
}

// ask is what a Service asks for, apart from its ports and keys, which the
// allocator judges. A Service marked duplicate is decided afresh when it
// changes.
type ask struct {
	requested, families string
	requireAll          bool
	pool, invalid       string
}

func askOf(req Request) ask {
	return ask{
		requested: fmt.Sprint(req.Requested), families: fmt.Sprint(req.Families),
		requireAll: req.RequireAll, pool: req.Pool, invalid: req.Invalid,
	}
}

// retryDuplicate re-checks a Service that held a duplicate address at
// start-up: it keeps its status until the addresses are its alone.
func (m *IPAM) retryDuplicate(req Request, addrs []netip.Addr) (Decision, bool) {
	var errs []string
	for _, a := range addrs {
		if err := m.alloc.Restore(req.Owner, a); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) == 0 {
		delete(m.duplicates, req.Owner.Key)
		return Decision{}, false
	}
	// The addresses that did restore stay held: they are in the Service's
	// status, and announced, so nobody else may take them meanwhile.
	return Decision{LeaveStatus: true, Reason: v1beta1.ReasonDuplicateIP,
		Message: "address in status is also held by another Service; not changed, fix one of them (editing this Service's requested addresses or pool decides it again): " + strings.Join(errs, "; ")}, true
}

// decideInvalid keeps what a Service with an unreadable request holds, as
// long as it may still hold it, so a typo never frees a live address.
func (m *IPAM) decideInvalid(req Request) (Decision, allocator.Outcome) {
	d := Decision{Reason: v1beta1.ReasonInvalidRequest, Message: req.Invalid}
	keep, _ := m.allowedPools(req)
	out := m.alloc.Settle(allocator.Claim{Owner: req.Owner, Families: req.Families, KeepIn: keep})
	d.Addrs, d.Pools = granted(out)
	if len(d.Addrs) > 0 {
		d.Message += "; keeping " + describeAddrs(d) + " until the request is fixed"
	}
	return d, out
}

func (m *IPAM) decideRequested(req Request) (Decision, allocator.Outcome) {
	if d, ok := checkRequestedFamilies(req); !ok {
		return d, m.letGo(req)
	}
	keep, take := m.allowedPools(req)
	out := m.alloc.Settle(allocator.Claim{Owner: req.Owner, Families: req.Families, Requested: req.Requested, KeepIn: keep, TakeFrom: take})
	for i, g := range out.Grants {
		if g.Err != nil {
			return m.refused(req, req.Requested[i], g), out
		}
	}
	var d Decision
	d.Addrs, d.Pools = granted(out)
	d.Assigned = true
	d.Reason = v1beta1.ReasonAssigned
	d.Message = describe(d)
	return d, out
}

// refused explains why the allocator refused a requested address, naming
// the part of the pool policy that excludes it.
func (m *IPAM) refused(req Request, ip netip.Addr, g allocator.Grant) Decision {
	if conflict, ok := errors.AsType[*allocator.ConflictError](g.Err); ok {
		return fail(v1beta1.ReasonRequestedIPTaken, "requested address %s is taken: %s", ip, conflict.Reason)
	}
	if errors.Is(g.Err, allocator.ErrNotInPools) {
		p := m.cfg.Pool(g.Pool)
		switch {
		case g.Pool == "":
			return fail(v1beta1.ReasonRequestedIPNotInAnyPool, "requested address %s is in no IPAddressPool", ip)
		case req.Pool != "" && g.Pool != req.Pool:
			return fail(v1beta1.ReasonRequestedIPNotAllowed, "requested address %s is in pool %q, but the Service asks for pool %q", ip, g.Pool, req.Pool)
		case p == nil || !p.Allows(req.Info):
			return fail(v1beta1.ReasonRequestedIPNotAllowed, "requested address %s is in pool %q, whose allocateTo does not admit Services in namespace %q with these labels", ip, g.Pool, req.Info.Namespace)
		case p.Disabled:
			return fail(v1beta1.ReasonPoolDisabled, "requested address %s is in pool %q, which is disabled", ip, g.Pool)
		}
	}
	return fail(v1beta1.ReasonRequestedIPTaken, "requested address %s: %v", ip, g.Err)
}

func checkRequestedFamilies(req Request) (Decision, bool) {
	seen := map[bool]netip.Addr{}
	for _, ip := range req.Requested {
		is6 := ip.Is6()
		if !slices.Contains(req.Families, is6) {
			return fail(v1beta1.ReasonWrongFamily, "requested address %s is %s, but the Service's ipFamilies are %s", ip, familyName(is6), familyNames(req.Families)), false
		}
		if other, dup := seen[is6]; dup {
			return fail(v1beta1.ReasonInvalidRequest, "requested addresses %s and %s are both %s; request at most one per family", other, ip, familyName(is6)), false
		}
		seen[is6] = ip
	}
	if req.RequireAll && len(seen) < len(req.Families) {
		return fail(v1beta1.ReasonInvalidRequest, "the Service requires %s but requests only %d address(es); request one per family", familyNames(req.Families), len(seen)), false
	}
	return Decision{}, true
}

func (m *IPAM) decideAutomatic(req Request) (Decision, allocator.Outcome) {
	names, d, ok := m.candidatePools(req)
	if !ok {
		return d, m.letGo(req)
	}
	keep, _ := m.allowedPools(req)
	out := m.alloc.Settle(allocator.Claim{Owner: req.Owner, Families: req.Families, RequireAll: req.RequireAll, KeepIn: keep, PickFrom: names})
	var failed *Decision
	for i, g := range out.Grants {
		if g.Err == nil || failed != nil {
			continue
		}
		is6 := req.Families[i]
		f := fail(v1beta1.ReasonPoolExhausted, "no free %s address in pool(s) %s: %v", familyName(is6), strings.Join(names, ", "), g.Err)
		switch {
		case len(names) == 0 && req.Pool != "":
			f = fail(v1beta1.ReasonPoolDisabled, "pool %q named by the Service is disabled and gives out no new addresses", req.Pool)
		case len(names) == 0:
			f = fail(v1beta1.ReasonNoPoolMatches, "no enabled IPAddressPool with autoAssign admits Services in namespace %q with these labels", req.Info.Namespace)
		case !errors.Is(g.Err, allocator.ErrFull):
			f.Reason = v1beta1.ReasonNoPoolMatches
		}
		failed = &f
	}
	d.Addrs, d.Pools = granted(out)
	if failed != nil && (req.RequireAll || len(d.Addrs) == 0) {
		return *failed, out
	}
	d.Assigned = true
	d.Reason = v1beta1.ReasonAssigned
	d.Message = describe(d)
	return d, out
}

// candidatePools returns the pools an automatic pick may use, in order.
func (m *IPAM) candidatePools(req Request) ([]string, Decision, bool) {
	if req.Pool != "" {
		p := m.cfg.Pool(req.Pool)
		switch {
		case p == nil:
			return nil, fail(v1beta1.ReasonNoPoolMatches, "pool %q named by the Service does not exist or is not valid", req.Pool), false
		case !p.Allows(req.Info):
			return nil, fail(v1beta1.ReasonNoPoolMatches, "pool %q does not admit Services in namespace %q with these labels (see its spec.allocateTo)", req.Pool, req.Info.Namespace), false
		case p.Disabled:
			// Disabled pools keep what they gave (allowedPools lists them
			// to keep in) but give nothing new.
			return nil, Decision{}, true
		}
		return []string{req.Pool}, Decision{}, true
	}
	// No pools is not decided here: a held address may still be kept, and
	// decideAutomatic reports NoPoolMatches per family otherwise.
	var names []string
	for _, p := range m.cfg.AutoPools(req.Info) {
		names = append(names, p.Name)
	}
	return names, Decision{}, true
}

// allowedPools returns the pools the Service's policy lets it use: keep,
// where an address it holds may stay (disabled pools included), and take,
// where a requested address may come from (config.PoolsFor). A named pool
// narrows both to itself. Which pool an address lies in is the allocator's
// to say.
func (m *IPAM) allowedPools(req Request) (keep, take []string) {
	named := func(p *config.Pool) bool { return req.Pool == "" || p.Name == req.Pool }
	for _, p := range m.cfg.Pools() {
		if named(p) && p.Allows(req.Info) {
			keep = append(keep, p.Name)
		}
	}
	for _, p := range m.cfg.PoolsFor(req.Info) {
		if named(p) {
			take = append(take, p.Name)
		}
	}
	return keep, take
}

// granted lists the addresses an Outcome grants, in the claim's order, with
// their pools.
func granted(out allocator.Outcome) ([]netip.Addr, []string) {
	var addrs []netip.Addr
	var pools []string
	for _, g := range out.Grants {
		if g.IP.IsValid() {
			addrs = append(addrs, g.IP)
			pools = append(pools, g.Pool)
		}
	}
	return addrs, pools
}

func fail(reason, format string, args ...any) Decision {
	return Decision{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func describe(d Decision) string {
	return "assigned " + describeAddrs(d)
}

func describeAddrs(d Decision) string {
	parts := make([]string, len(d.Addrs))
	for i, a := range d.Addrs {
		parts[i] = fmt.Sprintf("%s from pool %q", a, d.Pools[i])
	}
	return strings.Join(parts, ", ")
}

func familyName(is6 bool) string {
	if is6 {
		return "IPv6"
	}
	return "IPv4"
}

func familyNames(fams []bool) string {
	names := make([]string, len(fams))
	for i, f := range fams {
		names[i] = familyName(f)
	}
	return "[" + strings.Join(names, ", ") + "]"
}
