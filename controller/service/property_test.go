package service

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/controller/allocator"
	"github.com/portico-lb/portico/controller/ipam"
)

// The property test runs propertyOps operations, or for propertyDuration
// when it is set: `go test ./controller/service/ -run TestAllocationProperty
// -property.duration 10m` is the long run.
var (
	propertyOps      = flag.Int("property.ops", 100_000, "operations of TestAllocationProperty")
	propertyDuration = flag.Duration("property.duration", 0, "run TestAllocationProperty for this long instead of -property.ops operations")
	propertySeed     = flag.Uint64("property.seed", 0, "seed of TestAllocationProperty; 0 picks one and logs it")
)

// TestAllocationProperty drives the controller's decisions (the reconciler's
// own request parsing, ipam and status rendering) through random Service
// edits, pool edits and controller restarts, and after every step checks
// DESIGN §4 against the Services' statuses with rules of its own:
//   - two Services holding one address may share it under their current
//     specs (same non-empty sharing key, same backends, no port clash);
//   - every address lies in a current pool that admits its Service, of a
//     family and, if requested, the address it asks for;
//   - no Service with a readable request waits while an address it could
//     take is free;
//   - a restart changes no status and finds no duplicate.
func TestAllocationProperty(t *testing.T) {
	seed := *propertySeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -property.seed %d)", seed, seed)
	w := newWorld(t, seed)
	deadline := time.Time{}
	if *propertyDuration > 0 {
		deadline = time.Now().Add(*propertyDuration)
	}
	counts := map[string]int{}
	for step := 0; ; step++ {
		if deadline.IsZero() && step >= *propertyOps || !deadline.IsZero() && time.Now().After(deadline) {
			t.Logf("%d steps: %v", step, counts)
			return
		}
		op := w.randomOp()
		counts[op]++
		w.settle()
		if err := w.check(); err != nil {
			t.Fatalf("step %d (%s): %v\n%s", step, op, err, w.dump())
		}
	}
}

var (
	propNamespaces = []string{"ns-a", "ns-b", "ns-c"}
	propPools      = []string{"p4a", "p4b", "p6"}
	propPorts      = []allocator.Port{{Protocol: "TCP", Port: 80}, {Protocol: "TCP", Port: 443}, {Protocol: "UDP", Port: 53}}
)

type world struct {
	t        *testing.T
	rng      *rand.Rand
	pools    map[string]*v1beta1.IPAddressPool
	services map[string]*corev1.Service // by namespace/name
	m        *ipam.IPAM
	queue    map[string]bool
	created  int // seconds since epoch of the next Service
	// addrs lists each pool's addresses and poolOf maps them back, rebuilt
	// on every pool edit.
	addrs  map[string][]netip.Addr
	poolOf map[netip.Addr]string
}

func newWorld(t *testing.T, seed uint64) *world {
	w := &world{
		t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		pools: map[string]*v1beta1.IPAddressPool{}, services: map[string]*corev1.Service{},
		queue: map[string]bool{},
	}
	for _, name := range propPools {
		w.pools[name] = w.randomPool(name)
	}
	w.restart()
	return w
}

func nsLabels(ns string) map[string]string { return map[string]string{"name": ns} }

// randomOp changes the world as a user or an operator would and queues what
// the controller's watches would.
func (w *world) randomOp() string {
	r := w.rng.IntN(100)
	key := fmt.Sprintf("%s/svc-%d", propNamespaces[w.rng.IntN(len(propNamespaces))], w.rng.IntN(10))
	svc := w.services[key]
	switch {
	case r < 2:
		w.restart()
		return "restart"
	case r < 7:
		name := propPools[w.rng.IntN(len(propPools))]
		if w.rng.IntN(4) == 0 {
			delete(w.pools, name)
		} else {
			w.pools[name] = w.randomPool(name)
		}
		w.loadConfig()
		return "pool"
	case r < 17 && svc != nil:
		delete(w.services, key)
		w.queue[key] = true
		return "delete"
	case svc == nil || r < 30:
		ns, name, _ := strings.Cut(key, "/")
		fresh := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			CreationTimestamp: metav1.NewTime(time.Unix(int64(w.created/2), 0))}}
		w.created++ // two Services per second: some share a timestamp
		if svc != nil {
			fresh.CreationTimestamp, fresh.Status = svc.CreationTimestamp, svc.Status
		}
		for range 6 {
			w.editSpec(fresh)
		}
		w.services[key] = fresh
		w.queue[key] = true
		return "create"
	default:
		edited := svc.DeepCopy()
		w.editSpec(edited)
		w.services[key] = edited
		w.queue[key] = true
		return "edit"
	}
}

// editSpec changes one random aspect of a Service's spec.
func (w *world) editSpec(s *corev1.Service) {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Spec.Type = corev1.ServiceTypeLoadBalancer
	if s.Spec.Selector == nil {
		s.Spec.Selector = map[string]string{"app": "a"}
	}
	switch w.rng.IntN(7) {
	case 0: // ports
		s.Spec.Ports = nil
		for _, p := range propPorts {
			if w.rng.IntN(3) == 0 {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Protocol: corev1.Protocol(p.Protocol), Port: p.Port})
			}
		}
	case 1: // sharing key
		setAnnotation(s, v1beta1.AnnotationAllowSharedIP, pick(w.rng, "", "k1", "k1", "k2"))
	case 2: // traffic policy and backends
		s.Spec.ExternalTrafficPolicy = pick(w.rng, corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)
		s.Spec.Selector = map[string]string{"app": pick(w.rng, "a", "b")}
	case 3: // families
		switch w.rng.IntN(4) {
		case 0:
			s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = []corev1.IPFamily{corev1.IPv4Protocol}, ptr.To(corev1.IPFamilyPolicySingleStack)
		case 1:
			s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = []corev1.IPFamily{corev1.IPv6Protocol}, ptr.To(corev1.IPFamilyPolicySingleStack)
		case 2:
			s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, ptr.To(corev1.IPFamilyPolicyRequireDualStack)
		default:
			s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}, ptr.To(corev1.IPFamilyPolicyPreferDualStack)
		}
	case 4: // requested addresses
		var v string
		switch w.rng.IntN(6) {
		case 0, 1:
			v = ""
		case 2:
			v = fmt.Sprintf("192.0.2.%d", w.rng.IntN(26))
		case 3:
			v = fmt.Sprintf("2001:db8::%x", w.rng.IntN(10))
		case 4:
			v = fmt.Sprintf("192.0.2.%d,2001:db8::%x", w.rng.IntN(26), w.rng.IntN(10))
		default:
			v = pick(w.rng, "192.0.2.x", "203.0.113.7")
		}
		setAnnotation(s, v1beta1.AnnotationLoadBalancerIPs, v)
	case 5: // pool
		setAnnotation(s, v1beta1.AnnotationAddressPool, pick(w.rng, "", "", "p4a", "p4b", "p6", "missing"))
	default: // not a LoadBalancer any more, now and then
		if w.rng.IntN(4) == 0 {
			s.Spec.Type = corev1.ServiceTypeClusterIP
		}
	}
}

func setAnnotation(s *corev1.Service, name, value string) {
	if value == "" {
		delete(s.Annotations, name)
		return
	}
	s.Annotations[name] = value
}

func pick[T any](rng *rand.Rand, choices ...T) T { return choices[rng.IntN(len(choices))] }

// randomPool gives a pool one of a few shapes; the shapes of different
// pools never overlap, so every pool edit is valid.
func (w *world) randomPool(name string) *v1beta1.IPAddressPool {
	shapes := map[string][]string{
		"p4a": {"192.0.2.0/29", "192.0.2.0/28", "192.0.2.0-192.0.2.3", "192.0.2.4-192.0.2.9"},
		"p4b": {"192.0.2.16/30", "192.0.2.16/29"},
		"p6":  {"2001:db8::/126", "2001:db8::/125", "2001:db8::4/126"},
	}[name]
	p := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1, 0))},
		Spec: v1beta1.IPAddressPoolSpec{
			Addresses:     []string{pick(w.rng, shapes...)},
			AutoAssign:    ptr.To(w.rng.IntN(5) != 0),
			AvoidBuggyIPs: w.rng.IntN(4) == 0,
			Disabled:      w.rng.IntN(8) == 0,
		}}
	if w.rng.IntN(3) == 0 {
		p.Spec.AllocateTo = &v1beta1.ServiceAllocation{Priority: ptr.To(int32(w.rng.IntN(3)))}
		if w.rng.IntN(2) == 0 {
			p.Spec.AllocateTo.Namespaces = []string{pick(w.rng, propNamespaces...)}
		}
	}
	return p
}

// loadConfig installs the pools as the config reconciler does, which then
// has every Service reconciled.
func (w *world) loadConfig() {
	var res config.ClusterResources
	for _, name := range propPools {
		if p := w.pools[name]; p != nil {
			res.Pools = append(res.Pools, *p)
		}
	}
	w.addrs, w.poolOf = map[string][]netip.Addr{}, map[netip.Addr]string{}
	for _, p := range res.Pools {
		w.addrs[p.Name] = poolAddrs(&p)
		for _, a := range w.addrs[p.Name] {
			w.poolOf[a] = p.Name
		}
	}
	cfg, problems := config.For(res)
	for _, p := range problems {
		if !p.Warning {
			w.t.Fatalf("pool edit made an invalid configuration: %v", p)
		}
	}
	w.m.SetConfig(cfg, problems)
	for key := range w.services {
		w.queue[key] = true
	}
}

// restart replaces the controller: a new allocator and model, restored
// from the Services' statuses listed in a random order, then every Service
// reconciled. Nothing may change.
func (w *world) restart() {
	before := w.statuses()
	w.m = ipam.New(allocator.New(allocator.Options{Rand: rand.New(rand.NewPCG(w.rng.Uint64(), 1))}))
	w.loadConfig()
	items := make([]corev1.Service, 0, len(w.services))
	for _, s := range w.services {
		items = append(items, *s.DeepCopy())
	}
	w.rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	for _, r := range restoreAll(w.m, items, true) {
		if r.err != nil {
			w.t.Fatalf("restart found a duplicate: %v\n%s", r.err, w.dump())
		}
	}
	w.settle()
	if diff := cmp.Diff(before, w.statuses()); diff != "" {
		w.t.Fatalf("restart changed statuses (-before +after):\n%s", diff)
	}
}

// statuses returns what a restart must not change: every Service's
// addresses, and the whole status of the Services that have theirs. (A
// waiting Service's message names what blocked it when it was last decided;
// a restart may refresh it.)
func (w *world) statuses() map[string]corev1.ServiceStatus {
	out := map[string]corev1.ServiceStatus{}
	for k, s := range w.services {
		st := *s.Status.DeepCopy()
		if !meta.IsStatusConditionTrue(st.Conditions, v1beta1.ServiceConditionIPAssigned) {
			st.Conditions = nil
		}
		out[k] = st
	}
	return out
}

// settle reconciles queued Services until nothing is queued, as the
// controller's work queue would.
func (w *world) settle() {
	for rounds := 0; len(w.queue) > 0; rounds++ {
		if rounds > 50*len(propNamespaces)*10 {
			w.t.Fatalf("the queue never drains: %v", w.queue)
		}
		keys := make([]string, 0, len(w.queue))
		for k := range w.queue {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		key := keys[w.rng.IntN(len(keys))]
		delete(w.queue, key)
		w.reconcile(key)
	}
}

// reconcile mirrors Reconciler.Reconcile without the API server.
func (w *world) reconcile(key string) {
	svc := w.services[key]
	if svc == nil || !v1beta1.Serves(svc, true) {
		if w.m.Forget(key) {
			w.requeue(w.m.Pending())
		}
		if svc != nil {
			svc.Status.LoadBalancer.Ingress = nil
			meta.RemoveStatusCondition(&svc.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
		}
		return
	}
	d, eff := w.m.Decide(requestFor(svc, nsLabels(svc.Namespace)))
	if eff.Freed {
		w.requeue(w.m.Pending())
	}
	w.requeue(eff.Evicted)
	svc.Status = desiredStatus(svc, d).Status
}

func (w *world) requeue(keys []string) {
	for _, k := range keys {
		w.queue[k] = true
	}
}

// check verifies the promises against the statuses alone.
func (w *world) check() error {
	holders := map[netip.Addr][]*corev1.Service{}
	for _, s := range w.services {
		for _, a := range v1beta1.IngressAddrs(s) {
			holders[a] = append(holders[a], s)
		}
	}
	for a, hs := range holders {
		for i := range hs {
			for j := i + 1; j < len(hs); j++ {
				if why := mayNotShare(hs[i], hs[j]); why != "" {
					return fmt.Errorf("%s held by %s and %s: %s", a, keyOf(hs[i]), keyOf(hs[j]), why)
				}
			}
		}
	}
	for _, s := range w.services {
		if err := w.checkService(s, holders); err != nil {
			return fmt.Errorf("%s: %w", keyOf(s), err)
		}
	}
	return nil
}

func (w *world) checkService(s *corev1.Service, holders map[netip.Addr][]*corev1.Service) error {
	cond := meta.FindStatusCondition(s.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
	addrs := v1beta1.IngressAddrs(s)
	if !v1beta1.Serves(s, true) {
		if cond != nil || len(addrs) > 0 {
			return fmt.Errorf("not served but has status %v / %v", addrs, cond)
		}
		return nil
	}
	if cond == nil {
		return fmt.Errorf("served but has no condition")
	}
	if cond.Reason == v1beta1.ReasonDuplicateIP {
		return fmt.Errorf("DuplicateIP outside a restart: %s", cond.Message)
	}
	ask := w.askOf(s)
	seen := map[bool]bool{}
	for _, a := range addrs {
		if seen[a.Is6()] {
			return fmt.Errorf("two addresses of one family: %v", addrs)
		}
		seen[a.Is6()] = true
		if !slices.Contains(ask.families, a.Is6()) {
			return fmt.Errorf("%s is of a family the Service does not have", a)
		}
		p := w.poolContaining(a)
		switch {
		case p == nil:
			return fmt.Errorf("%s is in no pool", a)
		case !admits(p, s.Namespace):
			return fmt.Errorf("%s is in pool %s, which does not admit namespace %s", a, p.Name, s.Namespace)
		case ask.pool != "" && p.Name != ask.pool:
			return fmt.Errorf("%s is in pool %s, but the Service names %s", a, p.Name, ask.pool)
		case ask.valid && len(ask.requested) > 0 && !slices.Contains(ask.requested, a):
			return fmt.Errorf("%s is not the requested %v", a, ask.requested)
		}
	}
	assigned := cond.Status == metav1.ConditionTrue
	if assigned != (cond.Reason == v1beta1.ReasonAssigned) {
		return fmt.Errorf("condition %s with reason %s", cond.Status, cond.Reason)
	}
	if assigned && (len(addrs) == 0 || ask.requireAll && len(addrs) != len(ask.families)) {
		return fmt.Errorf("Assigned with %v for families %v", addrs, ask.families)
	}
	if !assigned && cond.Reason != v1beta1.ReasonInvalidRequest && len(addrs) > 0 {
		return fmt.Errorf("%s but still shows %v", cond.Reason, addrs)
	}
	if !ask.valid || assigned && (len(addrs) == len(ask.families) || len(ask.requested) > 0) {
		return nil
	}
	// The Service waits (or lacks a family): nothing it could take is free.
	if len(ask.requested) > 0 {
		if w.requestAvailable(s, ask, holders) {
			return fmt.Errorf("waits (%s: %s) while every address it requests is free for it", cond.Reason, cond.Message)
		}
		return nil
	}
	var avail []bool
	for _, is6 := range ask.families {
		avail = append(avail, seen[is6] || w.available(s, ask, is6, holders))
	}
	if ask.requireAll && !slices.Contains(avail, false) || !ask.requireAll && slices.ContainsFunc(ask.families, func(is6 bool) bool {
		return !seen[is6] && w.available(s, ask, is6, holders)
	}) {
		return fmt.Errorf("waits (%s: %s) with an address of each missing family free for it", cond.Reason, cond.Message)
	}
	return nil
}

// requestAvailable reports whether every address s requests could be given
// to it now: requested addresses are granted together or not at all.
func (w *world) requestAvailable(s *corev1.Service, ask propAsk, holders map[netip.Addr][]*corev1.Service) bool {
	fams := map[bool]bool{}
	for _, r := range ask.requested {
		if !slices.Contains(ask.families, r.Is6()) || fams[r.Is6()] {
			return false
		}
		fams[r.Is6()] = true
		if p := w.poolContaining(r); !w.usable(s, ask, p) || !free(s, r, p, holders) {
			return false
		}
	}
	return !ask.requireAll || len(fams) == len(ask.families)
}

// propAsk is what the test itself reads from a Service's spec.
type propAsk struct {
	families   []bool
	requireAll bool
	requested  []netip.Addr
	pool       string
	valid      bool
}

func (w *world) askOf(s *corev1.Service) propAsk {
	a := propAsk{pool: s.Annotations[v1beta1.AnnotationAddressPool], valid: true}
	for _, f := range s.Spec.IPFamilies {
		a.families = append(a.families, f == corev1.IPv6Protocol)
	}
	if len(a.families) == 0 {
		a.families = []bool{false}
	}
	a.requireAll = s.Spec.IPFamilyPolicy == nil || *s.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyPreferDualStack
	if v := s.Annotations[v1beta1.AnnotationLoadBalancerIPs]; v != "" {
		for f := range strings.SplitSeq(v, ",") {
			ip, err := netip.ParseAddr(f)
			if err != nil {
				a.valid = false
				continue
			}
			a.requested = append(a.requested, ip)
		}
	}
	return a
}

// available reports whether s, which requests no address, could be given
// one of family is6 now.
func (w *world) available(s *corev1.Service, ask propAsk, is6 bool, holders map[netip.Addr][]*corev1.Service) bool {
	for _, name := range propPools {
		p := w.pools[name]
		if !w.usable(s, ask, p) || ask.pool == "" && !*p.Spec.AutoAssign {
			continue
		}
		for _, a := range w.addrs[name] {
			if a.Is6() == is6 && free(s, a, p, holders) {
				return true
			}
		}
	}
	return false
}

func (w *world) usable(s *corev1.Service, ask propAsk, p *v1beta1.IPAddressPool) bool {
	return p != nil && !p.Spec.Disabled && admits(p, s.Namespace) && (ask.pool == "" || ask.pool == p.Name)
}

// free reports whether s may take a from pool p: p does not avoid it and
// every holder may share it with s.
func free(s *corev1.Service, a netip.Addr, p *v1beta1.IPAddressPool, holders map[netip.Addr][]*corev1.Service) bool {
	if p.Spec.AvoidBuggyIPs && a.Is4() && (a.As4()[3] == 0 || a.As4()[3] == 255) {
		return false
	}
	for _, h := range holders[a] {
		if h != s && mayNotShare(s, h) != "" {
			return false
		}
	}
	return true
}

func (w *world) poolContaining(a netip.Addr) *v1beta1.IPAddressPool {
	if name, ok := w.poolOf[a]; ok {
		return w.pools[name]
	}
	return nil
}

func admits(p *v1beta1.IPAddressPool, ns string) bool {
	return p.Spec.AllocateTo == nil || len(p.Spec.AllocateTo.Namespaces) == 0 || slices.Contains(p.Spec.AllocateTo.Namespaces, ns)
}

// poolAddrs lists a pool's addresses; the test's pools are tiny.
func poolAddrs(p *v1beta1.IPAddressPool) []netip.Addr {
	var out []netip.Addr
	for _, s := range p.Spec.Addresses {
		first, last, isRange := strings.Cut(s, "-")
		var lo, hi netip.Addr
		if isRange {
			lo, hi = netip.MustParseAddr(first), netip.MustParseAddr(last)
		} else {
			pfx := netip.MustParsePrefix(s)
			lo = pfx.Addr()
			for hi = lo; pfx.Contains(hi.Next()); hi = hi.Next() {
			}
		}
		for a := lo; a.Compare(hi) <= 0; a = a.Next() {
			out = append(out, a)
		}
	}
	return out
}

// mayNotShare is the sharing rule of DESIGN §4, written apart from the
// allocator's: "" when a and b may hold one address.
func mayNotShare(a, b *corev1.Service) string {
	ka, kb := a.Annotations[v1beta1.AnnotationAllowSharedIP], b.Annotations[v1beta1.AnnotationAllowSharedIP]
	switch {
	case ka == "" || kb == "":
		return "a sharing key is missing"
	case ka != kb:
		return "sharing keys differ"
	case backends(a) != backends(b):
		return "backends differ"
	}
	for _, p := range a.Spec.Ports {
		for _, q := range b.Spec.Ports {
			if p.Protocol == q.Protocol && p.Port == q.Port {
				return fmt.Sprintf("both use %s/%d", p.Protocol, p.Port)
			}
		}
	}
	return ""
}

func backends(s *corev1.Service) string {
	if s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		return "cluster"
	}
	return "local:" + s.Spec.Selector["app"]
}

func keyOf(s *corev1.Service) string { return s.Namespace + "/" + s.Name }

func (w *world) dump() string {
	var b strings.Builder
	for _, name := range propPools {
		if p := w.pools[name]; p != nil {
			fmt.Fprintf(&b, "pool %s %+v\n", name, p.Spec)
		}
	}
	keys := make([]string, 0, len(w.services))
	for k := range w.services {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := w.services[k]
		cond := meta.FindStatusCondition(s.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
		var c string
		if cond != nil {
			c = cond.Reason + ": " + cond.Message
		}
		fmt.Fprintf(&b, "%s type=%s fam=%v ann=%v ports=%v etp=%s sel=%v -> %v [%s]\n", k, s.Spec.Type, s.Spec.IPFamilies,
			s.Annotations, s.Spec.Ports, s.Spec.ExternalTrafficPolicy, s.Spec.Selector, v1beta1.IngressAddrs(s), c)
	}
	return b.String()
}
