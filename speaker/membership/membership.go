package membership

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ErrDegraded is wrapped by Healthy when memberlist is not running and
// liveness comes from Leases alone: failures then take up to
// LeaseDuration + RenewInterval to notice instead of under a second.
var ErrDegraded = errors.New("membership: degraded")

const (
	// defaultLeaveTimeout bounds the leave Run does when its context ends,
	// and Leave calls with a non-positive timeout.
	defaultLeaveTimeout = time.Second
	// minRetry is the first retry delay of discovery while this speaker is
	// alone; it doubles up to RenewInterval.
	minRetry = 200 * time.Millisecond
	// rejoinInterval is how often a cut-off speaker tries to join the peers
	// it lost, at their last memberlist addresses. It does not need the API
	// server, which a cut-off node usually cannot reach either, so a node
	// whose link comes back finds the others within this interval.
	rejoinInterval = 200 * time.Millisecond
	// recheckDelay is how soon after a memberlist member turns up pending
	// the records are listed again: enough for a new speaker's Lease, which
	// it writes before it joins, to reach this speaker's cache.
	recheckDelay = 50 * time.Millisecond
)

// Membership tracks which speakers are alive. Create it with New, start it
// with Run; Alive, Changed, Healthy and Leave are safe to call from any
// goroutine.
//
// Its state lives in three parts, each with its own lock (see the package
// doc): the lifecycle (Run, Leave, memberlist), the registry (this
// speaker's record and the listing of everyone's) and the view (who is
// alive).
type Membership struct {
	cfg     Config
	log     logr.Logger
	ml      *lifecycle
	reg     *registry
	view    *view
	metrics *metrics
	// published is closed after the first publish: discovery waits for it,
	// so that this speaker's record exists before it joins anyone, and the
	// others admit it at once (see admission.go).
	published     chan struct{}
	publishedOnce sync.Once
}

// New returns a Membership that publishes and discovers speakers through
// Leases in cfg.Namespace, read and written with c.
func New(cfg Config, c client.Client, logger logr.Logger) (*Membership, error) {
	if c == nil {
		return nil, errors.New("membership: nil client")
	}
	if cfg.Namespace == "" {
		return nil, errors.New("membership: Namespace is required")
	}
	cfg = setConfigDefaults(cfg)
	src := &leaseSource{c: c, namespace: cfg.Namespace, duration: cfg.LeaseDuration, log: logger}
	return newMembership(cfg, src, logger)
}

// newMembership is New with any peer source; tests use a fixed one.
func newMembership(cfg Config, src peerSource, logger logr.Logger) (*Membership, error) {
	cfg = setConfigDefaults(cfg)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Membership{
		cfg: cfg, log: logger,
		ml:        &lifecycle{},
		reg:       newRegistry(src, cfg.NodeName, logger),
		published: make(chan struct{}),
	}
	m.metrics = newMetrics(m.ml.healthScore)
	m.view = newView(cfg.NodeName, cfg.HoldDown, m.metrics, logger)
	return m, nil
}

// Run starts memberlist, keeps this speaker's Lease renewed and joins the
// speakers the Leases name, until ctx ends. Then it leaves (unless Leave
// already ran), shuts memberlist down and returns nil.
//
// If memberlist cannot start, Run logs why and carries on with Lease
// liveness; Healthy then reports ErrDegraded.
func (m *Membership) Run(ctx context.Context) error {
	if err := m.ml.begin(); err != nil {
		return err
	}
	mlc, err := memberlistConfig(m.cfg, m.view, m.log)
	if err != nil {
		return err
	}
	if err := m.ml.create(mlc); err != nil {
		m.log.Error(err, "memberlist cannot run; judging liveness by Leases only",
			"addr", netip.AddrPortFrom(m.cfg.BindAddr, uint16(m.cfg.BindPort)))
	}

	var wg sync.WaitGroup
	wg.Go(func() { m.publishLoop(ctx) })
	wg.Go(func() { m.discoverLoop(ctx) })
	wg.Go(func() { m.rejoinLoop(ctx) })
	wg.Go(func() { m.verdictLoop(ctx) })
	wg.Wait()

	if err := m.Leave(defaultLeaveTimeout); err != nil {
		m.log.Error(err, "leaving")
	}
	m.shutdown()
	m.view.stop()
	m.ml.end()
	return nil
}

// Alive returns the alive speakers, sorted by name.
func (m *Membership) Alive() []Member { return m.view.members() }

// Changed signals that Alive may return something new: a speaker joined or
// left, its address or subnets changed, or its hold-down ended. Signals
// coalesce (the channel holds one); read Alive after each.
func (m *Membership) Changed() <-chan struct{} { return m.view.changed }

// Leave announces that this speaker is going away, at once: memberlist
// broadcasts it and the others drop this node without waiting to detect a
// failure, and the Lease is deleted for speakers that judge by Leases. It
// waits up to timeout for each. Call it while Run runs, after this node
// has handed over what it announces; afterwards this node no longer counts
// itself alive. Later calls do nothing.
func (m *Membership) Leave(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = defaultLeaveTimeout
	}
	if !m.ml.markLeft() {
		return nil
	}
	var gossipErr, leaseErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := m.ml.leave(timeout); err != nil {
			gossipErr = fmt.Errorf("membership: leaving memberlist: %w", err)
		}
	})
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := m.reg.withdraw(ctx); err != nil {
			leaseErr = fmt.Errorf("membership: %w", err)
		}
	})
	wg.Wait()
	return errors.Join(gossipErr, leaseErr)
}

// Healthy returns nil while Run runs with memberlist, an error wrapping
// ErrDegraded while it runs on Leases alone, and an error when Run is not
// running. API server errors alone do not make it unhealthy when
// memberlist runs: liveness does not need the API server then.
func (m *Membership) Healthy() error {
	running, noMemberlist := m.ml.status()
	switch {
	case !running:
		return errors.New("membership: not running")
	case noMemberlist == nil:
		return nil
	}
	err := fmt.Errorf("%w: memberlist could not start (%v); liveness comes from Leases only", ErrDegraded, noMemberlist)
	if e := m.reg.lastErr(); e != nil {
		err = fmt.Errorf("%w; last Lease error: %v", err, e)
	}
	return err
}

// Collectors returns the package's metrics for main to register: the
// number of alive speakers by state, a counter of joins and leaves, and
// memberlist's local health score.
func (m *Membership) Collectors() []prometheus.Collector { return m.metrics.collectors() }

// shutdown stops memberlist without leaving: to the others it looks like
// a crash. Run calls it after Leave.
func (m *Membership) shutdown() {
	if err := m.ml.shutdown(); err != nil {
		m.log.Error(err, "shutting memberlist down")
	}
}

// self is this speaker's record. Its address is left out when memberlist
// is not running, which tells the others to judge this node by its Lease.
func (m *Membership) self() peer {
	p := peer{Name: m.cfg.NodeName, Subnets: m.cfg.Subnets}
	if m.ml.hasMemberlist() {
		p.Addr = netip.AddrPortFrom(m.cfg.BindAddr, uint16(m.cfg.BindPort))
	}
	return p
}

// publishLoop renews this speaker's record every RenewInterval, and at once
// when it starts over (see view.republish).
func (m *Membership) publishLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.RenewInterval)
	defer t.Stop()
	for {
		m.reg.publish(ctx, m.self(), m.cfg.RenewInterval)
		m.publishedOnce.Do(func() { close(m.published) })
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.view.republish:
			t.Reset(m.cfg.RenewInterval)
		}
	}
}

// discoverLoop lists the speakers' records every RenewInterval, and more
// often (with backoff) while this speaker is alone, since then it has most
// likely not joined the others yet, or while a memberlist member is
// pending, since its record is most likely on its way. A member that
// becomes pending brings the next listing forward to recheckDelay from now.
func (m *Membership) discoverLoop(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-m.published:
	}
	fresh := newFreshness(m.cfg.LeaseDuration)
	retry := minRetry
	t := time.NewTimer(0)
	defer t.Stop()
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.view.recheck:
			// Only ever earlier: a stream of pending members must not
			// postpone the listing forever.
			if soon := time.Now().Add(recheckDelay); soon.Before(next) {
				next = soon
				t.Reset(recheckDelay)
			}
			retry = minRetry
			continue
		case <-t.C:
		}
		wait := m.cfg.RenewInterval
		if alone := m.discover(ctx, fresh); alone || m.view.waiting() {
			wait, retry = min(retry, wait), min(2*retry, m.cfg.RenewInterval)
		} else {
			retry = minRetry
		}
		next = time.Now().Add(wait)
		t.Reset(wait)
	}
}

// discover lists the records once: records of nodes without memberlist
// become (lease-judged) members, and fresh memberlist addresses of nodes
// memberlist does not see alive are joined. That also heals a partition
// when both sides still reach the API server. It reports whether this
// speaker is alone.
func (m *Membership) discover(ctx context.Context, fresh *freshness) (alone bool) {
	lctx, cancel := context.WithTimeout(ctx, m.cfg.RenewInterval)
	ps, err := m.reg.list(lctx)
	cancel()
	gossip := m.ml.hasMemberlist()
	if err != nil {
		// Keep the last view: losing the API server must move nothing.
		if ctx.Err() == nil {
			m.log.Error(err, "listing speakers")
		}
		return !m.view.others()
	}

	leased := map[string]memberInfo{}
	var join []string
	current := map[string]bool{}
	live := fresh.observe(ps, time.Now())
	// Admission first: the members joined below are judged by it.
	m.view.setRecords(records(ps, live))
	for _, p := range live {
		if p.NotNode {
			continue // counts for nothing (see admission.go); not joined either
		}
		current[p.Name] = true
		switch {
		case !gossip || !p.Addr.IsValid():
			// Without memberlist on one side, the record is the signal.
			if !gossip || p.Name != m.cfg.NodeName {
				leased[p.Name] = memberInfo{addr: p.Addr, subnets: p.Subnets}
			}
		case p.Name != m.cfg.NodeName && !m.view.alive(p.Name):
			join = append(join, p.Addr.String())
		}
	}
	m.view.setLeased(leased)
	// A lost peer without a fresh record has left the cluster for good (or
	// for long): it no longer counts when judging whether we are cut off.
	m.view.keepLost(func(name string) bool { return current[name] })

	settled := true
	if len(join) > 0 {
		m.ml.use(func(ml *memberlist.Memberlist) {
			n, err := ml.Join(join)
			m.log.V(1).Info("joined speakers", "tried", join, "reached", n, "error", err)
			settled = n > 0
		})
	}
	if settled {
		m.view.settle()
	}
	return !m.view.others()
}

// rejoinLoop joins the lost peers while this speaker is cut off (see
// holdDown). Partitions heal through discover too, but only every
// RenewInterval, and only once the API server answers.
func (m *Membership) rejoinLoop(ctx context.Context) {
	t := time.NewTicker(rejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cut, addrs := m.view.cutOff()
		if !cut || len(addrs) == 0 {
			continue
		}
		m.ml.use(func(ml *memberlist.Memberlist) {
			if n, err := ml.Join(addrs); n > 0 {
				m.log.Info("rejoined lost speakers", "tried", addrs, "reached", n)
			} else {
				m.log.V(2).Info("lost speakers still unreachable", "tried", addrs, "error", err)
			}
		})
	}
}

// verdictLoop publishes this speaker's verdict on the others through
// memberlist's metadata whenever it changes.
func (m *Membership) verdictLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.view.verdictChanged:
		}
		m.ml.use(func(ml *memberlist.Memberlist) {
			if err := ml.UpdateNode(time.Second); err != nil {
				m.log.V(1).Info("publishing metadata", "error", err.Error())
			}
		})
	}
}
