package scheduler

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/portico-lb/portico/controller/probe"
)

// Prober checks one address (prober.Prober is one).
type Prober interface {
	Probe(ctx context.Context, addr netip.AddrPort) probe.Result
}

// forgetter is a Prober that keeps state per target (prober.MySQL and
// prober.Redis keep a connection).
type forgetter interface {
	Forget(netip.AddrPort)
}

// Key names one probed target of one owner.
type Key struct {
	// Owner is the caller's name for the set of jobs, for example an
	// ExternalService's namespace/name.
	Owner  string
	Target netip.AddrPort
}

// Job is one target to probe periodically.
type Job struct {
	Key
	Prober Prober
	// Interval between the starts of two probes (a job without one is
	// ignored) and the timeout of each (the interval when unset or longer).
	Interval, Timeout time.Duration
	// Version is the caller's version of the job (say, the owner's
	// generation and its Secret's resourceVersion). Set restarts a job
	// whose Interval, Timeout or Version changed and leaves the others on
	// their schedule; Prober is compared only through Version.
	Version string
}

// Options configure a Scheduler.
type Options struct {
	// Concurrency bounds the probes in flight; 64 when unset.
	Concurrency int
	// Jitter moves every run by a random fraction of the interval, at most
	// Jitter either way, so that targets added together drift apart; 0.1
	// when unset, 0 when negative, at most 0.5.
	Jitter float64
	// OnResult receives each result with the job that produced it, from
	// the probing goroutine; it must not block for long. After Set
	// replaced or removed a job, one result of its old version may still
	// arrive: compare job.Version.
	OnResult func(Job, probe.Result)
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	switch {
	case o.Jitter == 0:
		o.Jitter = 0.1
	case o.Jitter < 0:
		o.Jitter = 0
	case o.Jitter > 0.5:
		o.Jitter = 0.5
	}
	if o.OnResult == nil {
		o.OnResult = func(Job, probe.Result) {}
	}
	return o
}

// Scheduler runs jobs while Run runs. It is safe for concurrent use.
type Scheduler struct {
	o   Options
	sem chan struct{}

	mu      sync.Mutex
	ctx     context.Context // Run's; nil before Run and after it returns
	jobs    map[Key]*running
	running sync.WaitGroup
}

type running struct {
	job    Job
	cancel context.CancelFunc // nil until started
}

// New returns a Scheduler with no jobs.
func New(o Options) *Scheduler {
	o = o.withDefaults()
	return &Scheduler{o: o, sem: make(chan struct{}, o.Concurrency), jobs: map[Key]*running{}}
}

// Set makes jobs the owner's whole set: jobs of the owner not in it stop,
// new ones start, changed ones restart. Jobs whose Key.Owner differs from
// owner are ignored. Set never waits for a probe.
func (s *Scheduler) Set(owner string, jobs []Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := make(map[Key]Job, len(jobs))
	for _, j := range jobs {
		if j.Owner != owner || j.Prober == nil || j.Interval <= 0 {
			continue
		}
		if j.Timeout <= 0 || j.Timeout > j.Interval {
			j.Timeout = j.Interval
		}
		want[j.Key] = j
	}
	for k, r := range s.jobs {
		if k.Owner != owner {
			continue
		}
		if j, ok := want[k]; ok && same(j, r.job) {
			delete(want, k)
			continue
		}
		r.stop()
		delete(s.jobs, k)
	}
	for k, j := range want {
		r := &running{job: j}
		s.jobs[k] = r
		if s.ctx != nil {
			s.start(r)
		}
	}
}

func same(a, b Job) bool {
	return a.Interval == b.Interval && a.Timeout == b.Timeout && a.Version == b.Version
}

func (r *running) stop() {
	if r.cancel != nil {
		r.cancel()
	}
}

// start runs r's loop; s.mu is held.
func (s *Scheduler) start(r *running) {
	ctx, cancel := context.WithCancel(s.ctx)
	r.cancel = cancel
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		s.loop(ctx, r.job)
		// A prober that keeps a connection per target is told the target
		// is no longer probed (by this job), so nothing stays open.
		if f, ok := r.job.Prober.(forgetter); ok {
			f.Forget(r.job.Target)
		}
	}()
}

// Run starts the jobs and runs them until ctx ends, then waits for every
// probe to return. It returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	for _, r := range s.jobs {
		s.start(r)
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.ctx = nil
	for _, r := range s.jobs {
		r.cancel = nil
	}
	s.mu.Unlock()
	s.running.Wait()
	return nil
}

// loop probes one target until ctx ends. The first probe comes at a random
// point of the first interval, so that the jobs of a controller that just
// started (or of 500 objects created at once) spread over the interval
// instead of probing in one burst.
func (s *Scheduler) loop(ctx context.Context, j Job) {
	wait := time.Duration(rand.Int64N(int64(j.Interval)))
	t := time.NewTimer(untilBatch(time.Now(), wait))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		pctx, cancel := context.WithTimeout(ctx, j.Timeout)
		r := j.Prober.Probe(pctx, j.Target)
		cancel()
		<-s.sem
		if ctx.Err() != nil {
			return
		}
		s.o.OnResult(j, r)
		// The next run is one interval after this one began, jittered; a
		// probe that waited for the bound or ran long shortens the wait
		// rather than shifting every later run.
		t.Reset(untilBatch(time.Now(), max(s.jittered(j.Interval)-time.Since(start), 0)))
	}
}

// batch is the grain of the probes' start times. Every run is moved later
// to the next multiple of batch (of the wall clock), so the timers of all
// jobs due within one batch fire together: at 1000 probes/s the process
// wakes about 1/batch times a second for its timers instead of once per
// probe, and each wake-up (an idle thread woken by futex, epoll_wait
// returning) cost about as much CPU as a probe on a kept connection. The
// jitter still spreads the runs, in steps of batch; a run is at most batch
// late, 2% of the smallest interval of 1s.
const batch = 20 * time.Millisecond

// untilBatch returns the delay from now to the first multiple of batch at
// least d away.
func untilBatch(now time.Time, d time.Duration) time.Duration {
	at := now.Add(d)
	if r := at.Sub(at.Truncate(batch)); r != 0 {
		at = at.Add(batch - r)
	}
	return at.Sub(now)
}

func (s *Scheduler) jittered(d time.Duration) time.Duration {
	if s.o.Jitter == 0 {
		return d
	}
	f := 1 + s.o.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}
