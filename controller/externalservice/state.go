package externalservice

import (
	"context"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
	"github.com/portico-lb/portico/controller/probe/resolver"
	"github.com/portico-lb/portico/controller/probe/scheduler"
)

// Resolver looks a DNS name up (resolver.Resolver is one).
type Resolver interface {
	Resolve(ctx context.Context, name string) (resolver.Answer, error)
}

// lookupTimeout bounds one DNS lookup of one name.
const lookupTimeout = 5 * time.Second

// store is the probe and DNS state of every ExternalService, fed by the
// scheduler's results and the name watchers, read by the reconciler. It
// tells the reconciler (enqueue) only about transitions.
type store struct {
	sched    *scheduler.Scheduler
	resolver Resolver
	dns      probe.DNSPolicy
	metrics  *metrics
	enqueue  func(types.NamespacedName)
	// ctx lives as long as the controller runs; name watchers run under it.
	ctx context.Context

	mu     sync.Mutex
	owners map[types.NamespacedName]*owner
}

// owner is the state of one ExternalService.
type owner struct {
	// version names the prober the trackers' results come from: results
	// of an older version are dropped.
	version  string
	check    v1beta1.HealthCheckType
	prober   scheduler.Prober
	trackers map[netip.AddrPort]*probe.Tracker
	names    map[string]*watchedName
	primary  netip.AddrPort
	// seeded: the trackers started from the stored status (see seed).
	seeded bool
}

type watchedName struct {
	cancel  context.CancelFunc
	tracker *probe.NameTracker
	state   nameState
}

func newStore(ctx context.Context, r Resolver, dns probe.DNSPolicy, m *metrics, enqueue func(types.NamespacedName)) *store {
	return &store{ctx: ctx, resolver: r, dns: dns, metrics: m, enqueue: enqueue, owners: map[types.NamespacedName]*owner{}}
}

func ownerName(key types.NamespacedName) string { return key.String() }

func keyOf(owner string) types.NamespacedName {
	ns, name, _ := strings.Cut(owner, "/")
	return types.NamespacedName{Namespace: ns, Name: name}
}

func (s *store) get(key types.NamespacedName) *owner {
	o := s.owners[key]
	if o == nil {
		o = &owner{trackers: map[netip.AddrPort]*probe.Tracker{}, names: map[string]*watchedName{}}
		s.owners[key] = o
	}
	return o
}

// setNames makes names the set of DNS names watched for key.
func (s *store) setNames(key types.NamespacedName, names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.get(key)
	for n, w := range o.names {
		if !slices.Contains(names, n) {
			w.cancel()
			delete(o.names, n)
		}
	}
	for _, n := range names {
		if _, ok := o.names[n]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(s.ctx)
		w := &watchedName{cancel: cancel, tracker: probe.NewNameTracker(s.dns)}
		o.names[n] = w
		go s.watch(ctx, key, n, w)
	}
}

// watch resolves name until ctx ends, again after each answer's TTL
// (bounded by the DNS policy), and queues key when the answer changed.
func (s *store) watch(ctx context.Context, key types.NamespacedName, name string, w *watchedName) {
	for {
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		ans, err := s.resolver.Resolve(lctx, name)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		s.mu.Lock()
		res := w.tracker.Update(now, ans.Addrs, ans.TTL, err)
		next := nameState{Res: res, Resolved: true, ResolvedAt: w.state.ResolvedAt}
		if err == nil {
			next.ResolvedAt = now
		} else {
			next.Err = err.Error()
		}
		changed := !w.state.Resolved || !slices.Equal(res.Addrs, w.state.Res.Addrs) ||
			res.Stale != w.state.Res.Stale || next.Err != w.state.Err
		w.state = next
		s.mu.Unlock()
		if changed {
			s.enqueue(key)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(res.Next):
		}
	}
}

// probeSpec is how key's targets are probed now.
type probeSpec struct {
	version    string
	check      v1beta1.HealthCheckType
	newProber  func() (scheduler.Prober, error)
	thresholds probe.Thresholds
	interval   time.Duration
	timeout    time.Duration
}

// setTargets makes targets the set probed for key. A target keeps its
// tracker across edits (a changed threshold does not send it back to
// Pending); a changed check type starts every target afresh.
func (s *store) setTargets(key types.NamespacedName, p probeSpec, targets []netip.AddrPort) error {
	s.mu.Lock()
	o := s.get(key)
	var retired scheduler.Prober
	if o.version != p.version || o.prober == nil {
		if o.check != p.check {
			o.trackers = map[netip.AddrPort]*probe.Tracker{}
		}
		retired, o.prober = o.prober, nil
		o.version, o.check = p.version, p.check
		if p.newProber != nil {
			pr, err := p.newProber()
			if err != nil {
				s.mu.Unlock()
				return err
			}
			o.prober = pr
		}
	}
	for a := range o.trackers {
		if !slices.Contains(targets, a) {
			delete(o.trackers, a)
		}
	}
	jobs := make([]scheduler.Job, 0, len(targets))
	for _, a := range targets {
		if t, ok := o.trackers[a]; ok {
			t.SetThresholds(p.thresholds)
		} else {
			o.trackers[a] = probe.NewTracker(p.thresholds)
		}
		if o.prober != nil {
			jobs = append(jobs, scheduler.Job{
				Key:    scheduler.Key{Owner: ownerName(key), Target: a},
				Prober: o.prober, Interval: p.interval, Timeout: p.timeout, Version: p.version,
			})
		}
	}
	s.mu.Unlock()
	s.sched.Set(ownerName(key), jobs)
	// Closed after Set stopped its jobs; a probe still in flight at worst
	// opens one connection that is closed when it returns.
	closeProber(retired)
	return nil
}

func closeProber(p scheduler.Prober) {
	if c, ok := p.(io.Closer); ok {
		_ = c.Close()
	}
}

// observe takes one probe result from the scheduler.
func (s *store) observe(j scheduler.Job, r probe.Result) {
	key := keyOf(j.Owner)
	s.mu.Lock()
	o := s.owners[key]
	if o == nil || o.version != j.Version {
		s.mu.Unlock()
		return
	}
	t := o.trackers[j.Target]
	if t == nil {
		s.mu.Unlock()
		return
	}
	roleBefore := t.Role()
	changed := t.Observe(r)
	roleChanged := t.Role() != roleBefore
	check := o.check
	s.mu.Unlock()
	s.metrics.observe(key, check, r, roleChanged)
	if changed {
		s.enqueue(key)
	}
}

// snapshot copies what the reconciler needs of key's state into in.
func (s *store) snapshot(key types.NamespacedName, in *inputs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.get(key)
	in.Names = make(map[string]nameState, len(o.names))
	for n, w := range o.names {
		in.Names[n] = w.state
	}
	in.Targets = make(map[netip.AddrPort]targetState, len(o.trackers))
	for a, t := range o.trackers {
		last, seen := t.Last()
		in.Targets[a] = targetState{Health: t.Health(), Up: t.Up(), Role: t.Role(), Last: last, Seen: seen}
	}
	in.Primary = o.primary
}

// seed starts key's trackers and primary, the first time the controller
// sees it, from the status it wrote before (it may have restarted, or
// taken over leadership): a target published as ready stays published
// while the first probes run, and a split brain keeps the primary it had.
// Without it every restart would unpublish every target for
// healthyThreshold intervals.
func (s *store) seed(key types.NamespacedName, st v1beta1.ExternalServiceStatus, p probeSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.get(key)
	if o.seeded {
		return
	}
	o.seeded = true
	if st.ObservedGeneration == 0 {
		return
	}
	o.check = p.check
	o.trackers, o.primary = seedTrackers(st, p.thresholds)
}

// seedTrackers rebuilds trackers and the primary from a status plan wrote:
// Healthy (and AuthFailed, which is alive) targets start up with their
// role, Unhealthy ones down; Pending and Refused ones start afresh.
func seedTrackers(st v1beta1.ExternalServiceStatus, th probe.Thresholds) (map[netip.AddrPort]*probe.Tracker, netip.AddrPort) {
	trackers := map[netip.AddrPort]*probe.Tracker{}
	for _, e := range st.Endpoints {
		for _, ts := range e.Targets {
			ip, err := netip.ParseAddr(ts.IP)
			if err != nil || e.Port <= 0 || e.Port > 65535 {
				continue
			}
			var up bool
			switch ts.Health {
			case v1beta1.TargetHealthy, v1beta1.TargetAuthFailed:
				up = true
			case v1beta1.TargetUnhealthy:
			default:
				continue // Pending, Refused: nothing to keep
			}
			t := probe.NewTracker(th)
			t.Seed(up, ts.Role)
			trackers[netip.AddrPortFrom(ip, uint16(e.Port))] = t
		}
	}
	primary, _ := netip.ParseAddrPort(st.Primary)
	return trackers, primary
}

// setPrimary records the primary the reconciler published.
func (s *store) setPrimary(key types.NamespacedName, p netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.get(key).primary = p
}

// forget drops key: its probes stop and its names are no longer watched.
func (s *store) forget(key types.NamespacedName) {
	s.mu.Lock()
	o := s.owners[key]
	delete(s.owners, key)
	s.mu.Unlock()
	s.sched.Set(ownerName(key), nil)
	if o == nil {
		return
	}
	for _, w := range o.names {
		w.cancel()
	}
	closeProber(o.prober)
	s.metrics.forget(key)
}
