package scheduler

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portico-lb/portico/controller/probe"
)

// fakeProber takes `took` of (fake) time per probe, or blocks until its
// context ends when took is negative, and counts what is in flight.
type fakeProber struct {
	took        time.Duration
	inFlight    atomic.Int32
	maxInFlight atomic.Int32
}

func (f *fakeProber) Probe(ctx context.Context, _ netip.AddrPort) probe.Result {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if f.took < 0 {
		<-ctx.Done()
		return probe.Result{Outcome: probe.Failure, At: time.Now(), Err: ctx.Err().Error()}
	}
	select {
	case <-time.After(f.took):
		return probe.Result{Outcome: probe.Success, At: time.Now()}
	case <-ctx.Done():
		return probe.Result{Outcome: probe.Failure, At: time.Now(), Err: ctx.Err().Error()}
	}
}

// recorder keeps every result's time per target.
type recorder struct {
	mu   sync.Mutex
	at   map[netip.AddrPort][]time.Duration
	jobs []Job
	t0   time.Time
}

func newRecorder() *recorder {
	return &recorder{at: map[netip.AddrPort][]time.Duration{}, t0: time.Now()}
}

func (r *recorder) on(j Job, res probe.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at[j.Target] = append(r.at[j.Target], res.At.Sub(r.t0))
	r.jobs = append(r.jobs, j)
}

func (r *recorder) times(a netip.AddrPort) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.at[a])
}

func addr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), 3306)
}

func job(owner string, i int, p Prober, interval, timeout time.Duration) Job {
	return Job{Key: Key{Owner: owner, Target: addr(i)}, Prober: p, Interval: interval, Timeout: timeout}
}

// runFor starts s, lets fake time pass, then stops it and waits.
func runFor(t *testing.T, s *Scheduler, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	time.Sleep(d)
	cancel()
	<-done
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		in, want Options
	}{
		{Options{}, Options{Concurrency: 64, Jitter: 0.1}},
		{Options{Concurrency: 3, Jitter: 0.3}, Options{Concurrency: 3, Jitter: 0.3}},
		{Options{Concurrency: -1, Jitter: -1}, Options{Concurrency: 64, Jitter: 0}},
		{Options{Jitter: 2}, Options{Concurrency: 64, Jitter: 0.5}},
	}
	for _, tt := range tests {
		got := tt.in.withDefaults()
		if got.OnResult == nil {
			t.Errorf("withDefaults(%+v) left OnResult nil", tt.in)
		}
		got.OnResult = nil
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("withDefaults(%+v) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// TestSchedule: without jitter every target is probed once per interval,
// the first time within the first interval.
func TestSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := New(Options{Jitter: -1, OnResult: rec.on})
		p := &fakeProber{took: 10 * time.Millisecond}
		s.Set("shop/mysql", []Job{job("shop/mysql", 1, p, time.Second, 500*time.Millisecond), job("shop/mysql", 2, p, 3*time.Second, time.Second)})
		runFor(t, s, 10*time.Second)
		for i, interval := range map[int]time.Duration{1: time.Second, 2: 3 * time.Second} {
			got := rec.times(addr(i))
			// The first comes at a random point of the first interval.
			if n := int(10 * time.Second / interval); len(got) < n-1 || len(got) > n+1 {
				t.Errorf("target %d: %d probes in 10s at interval %v: %v", i, len(got), interval, got)
			}
			if len(got) > 0 && got[0] > interval+10*time.Millisecond {
				t.Errorf("target %d: first result at %v, want within the first interval", i, got[0])
			}
			for k := 1; k < len(got); k++ {
				if d := got[k] - got[k-1]; d != interval {
					t.Errorf("target %d: results %v apart, want %v: %v", i, d, interval, got)
				}
			}
		}
	})
}

func TestJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := New(Options{Jitter: 0.2, OnResult: rec.on})
		s.Set("o", []Job{job("o", 1, &fakeProber{}, time.Second, 0)})
		runFor(t, s, 100*time.Second)
		got := rec.times(addr(1))
		if len(got) < 90 {
			t.Fatalf("%d results in 100s", len(got))
		}
		gaps := map[time.Duration]bool{}
		for k := 1; k < len(got); k++ {
			d := got[k] - got[k-1]
			if d < 800*time.Millisecond || d > 1200*time.Millisecond {
				t.Errorf("gap %v outside 1s ± 20%%", d)
			}
			gaps[d] = true
		}
		if len(gaps) < 10 {
			t.Errorf("only %d distinct gaps: no jitter", len(gaps))
		}
	})
}

// TestConcurrencyBound: 20 slow probes with a bound of 3 never run more
// than 3 at once, and all still run.
func TestConcurrencyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := New(Options{Concurrency: 3, OnResult: rec.on})
		p := &fakeProber{took: 400 * time.Millisecond}
		var jobs []Job
		for i := range 20 {
			jobs = append(jobs, job("o", i+1, p, time.Second, 900*time.Millisecond))
		}
		s.Set("o", jobs)
		runFor(t, s, 10*time.Second)
		if m := p.maxInFlight.Load(); m != 3 {
			t.Errorf("at most %d probes in flight, want exactly the bound 3", m)
		}
		for i := range 20 {
			if n := len(rec.times(addr(i + 1))); n == 0 {
				t.Errorf("target %d never probed", i+1)
			}
		}
	})
}

// TestTimeout: a probe that hangs ends at the job's timeout with a failure.
func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var results []probe.Result
		s := New(Options{Jitter: -1, OnResult: func(_ Job, r probe.Result) {
			mu.Lock()
			defer mu.Unlock()
			results = append(results, r)
		}})
		p := &fakeProber{took: -1}
		start := time.Now()
		s.Set("o", []Job{job("o", 1, p, time.Second, 300*time.Millisecond)})
		runFor(t, s, 3500*time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if len(results) < 3 {
			t.Fatalf("%d results, want one per interval", len(results))
		}
		for k := 1; k < len(results); k++ {
			if d := results[k].At.Sub(results[k-1].At); d != time.Second {
				t.Errorf("hung probes %v apart, want the interval", d)
			}
			if results[k].Outcome != probe.Failure || results[k].Err != context.DeadlineExceeded.Error() {
				t.Errorf("result %+v, want a deadline failure", results[k])
			}
		}
		// Each ends 300ms after it started, at a random offset into the
		// first interval: never later than interval + timeout.
		if first := results[0].At.Sub(start); first < 300*time.Millisecond || first > 1300*time.Millisecond {
			t.Errorf("first hung probe ended %v after Set", first)
		}
	})
}

// TestSet: replacing an owner's set stops removed jobs, starts new ones,
// restarts changed ones, leaves unchanged ones on their schedule and other
// owners alone, and never waits for a probe, even a hung one.
func TestSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := New(Options{Jitter: -1, OnResult: rec.on})
		fast, hung := &fakeProber{}, &fakeProber{took: -1}
		a1, a2 := job("a", 1, fast, time.Second, 0), job("a", 2, fast, time.Second, 0)
		b3 := job("b", 3, hung, time.Second, 900*time.Millisecond)
		s.Set("a", []Job{a1, a2, job("b", 9, fast, time.Second, 0)}) // b's job under a is ignored
		s.Set("b", []Job{b3})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = s.Run(ctx); close(done) }()
		time.Sleep(5 * time.Second)

		// Set while b3's probe hangs: returns at once (fake time would
		// advance otherwise).
		before := time.Now()
		a1v2 := a1
		a1v2.Version = "secret-v2"
		s.Set("a", []Job{a1v2, job("a", 4, fast, 2*time.Second, 0)}) // a2 removed, a1 changed, a4 new
		if time.Since(before) != 0 {
			t.Errorf("Set took %v of fake time", time.Since(before))
		}
		n1, n2, n3 := len(rec.times(addr(1))), len(rec.times(addr(2))), len(rec.times(addr(3)))
		time.Sleep(5 * time.Second)
		cancel()
		<-done

		if got := len(rec.times(addr(2))); got != n2 {
			t.Errorf("removed job ran %d more times", got-n2)
		}
		if got := len(rec.times(addr(9))); got != 0 {
			t.Errorf("a job of owner b given to Set(a) ran %d times", got)
		}
		if got := len(rec.times(addr(4))); got < 2 || got > 3 {
			t.Errorf("new job with interval 2s ran %d times in 5s", got)
		}
		if got := len(rec.times(addr(3))) - n3; got < 4 || got > 6 {
			t.Errorf("owner b's job ran %d times after Set(a), want it untouched", got)
		}
		if got := len(rec.times(addr(1))) - n1; got < 4 || got > 6 {
			t.Errorf("restarted job ran %d times in 5s", got)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var versions []string
		for _, j := range rec.jobs {
			if j.Target == addr(1) && (len(versions) == 0 || versions[len(versions)-1] != j.Version) {
				versions = append(versions, j.Version)
			}
		}
		if diff := cmp.Diff([]string{"", "secret-v2"}, versions); diff != "" {
			t.Errorf("versions of job 1's results (-want +got):\n%s", diff)
		}
	})
}

// TestUnchangedKeepsSchedule: setting the same jobs again does not restart
// them, so a reconcile per second cannot delay probes.
func TestUnchangedKeepsSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := New(Options{Jitter: -1, OnResult: rec.on})
		j := job("a", 1, &fakeProber{}, 3*time.Second, 0)
		s.Set("a", []Job{j})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = s.Run(ctx); close(done) }()
		for range 30 {
			time.Sleep(300 * time.Millisecond)
			j.Prober = &fakeProber{} // a new prober of the same version
			s.Set("a", []Job{j})
		}
		cancel()
		<-done
		got := rec.times(addr(1))
		if len(got) < 2 {
			t.Fatalf("%d results in 9s at interval 3s", len(got))
		}
		for k := 1; k < len(got); k++ {
			if d := got[k] - got[k-1]; d != 3*time.Second {
				t.Errorf("results %v apart, want 3s: %v", d, got)
			}
		}
	})
}

// TestJobsSetBeforeRun: jobs start with Run and stop with it.
func TestJobsSetBeforeRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := New(Options{OnResult: rec.on})
		s.Set("a", []Job{job("a", 1, &fakeProber{}, time.Second, 0)})
		time.Sleep(3 * time.Second)
		if n := len(rec.times(addr(1))); n != 0 {
			t.Fatalf("%d probes before Run", n)
		}
		runFor(t, s, 3*time.Second)
		n := len(rec.times(addr(1)))
		if n < 2 {
			t.Errorf("%d probes in 3s of Run", n)
		}
		time.Sleep(3 * time.Second)
		if m := len(rec.times(addr(1))); m != n {
			t.Errorf("%d probes after Run returned", m-n)
		}
	})
}

// forgetful records Forget calls.
type forgetful struct {
	fakeProber
	mu     sync.Mutex
	forgot []netip.AddrPort
}

func (f *forgetful) Forget(a netip.AddrPort) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, a)
}

// TestForget: a prober that keeps per-target state hears when a target is
// no longer probed, whether its job is removed, restarted or Run ends.
func TestForget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &forgetful{}
		s := New(Options{})
		j1, j2, j3 := job("a", 1, p, time.Second, 0), job("a", 2, p, time.Second, 0), job("a", 3, p, time.Second, 0)
		s.Set("a", []Job{j1, j2, j3})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = s.Run(ctx); close(done) }()
		time.Sleep(3 * time.Second)
		j2.Version = "v2"
		s.Set("a", []Job{j2, j3}) // 1 removed, 2 restarted, 3 kept
		synctest.Wait()
		p.mu.Lock()
		got := slices.Clone(p.forgot)
		p.mu.Unlock()
		slices.SortFunc(got, netip.AddrPort.Compare)
		if diff := cmp.Diff([]netip.AddrPort{addr(1), addr(2)}, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
			t.Errorf("forgotten after Set (-want +got):\n%s", diff)
		}
		cancel()
		<-done
		p.mu.Lock()
		defer p.mu.Unlock()
		if n := len(p.forgot); n != 4 {
			t.Errorf("%d Forget calls after Run ended, want 4 (targets 2 and 3 as well): %v", n, p.forgot)
		}
	})
}

// TestUntilBatch: runs are moved later to the next multiple of batch, never
// earlier, and by less than batch.
func TestUntilBatch(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		now  time.Time
		d    time.Duration
		want time.Duration
	}{
		{t0, 0, 0},
		{t0, batch, batch},
		{t0, time.Millisecond, batch},
		{t0.Add(time.Millisecond), 0, batch - time.Millisecond},
		{t0.Add(5 * time.Millisecond), time.Second, time.Second + batch - 5*time.Millisecond},
		{t0.Add(batch - 1), 1, 1},
	}
	for _, tt := range tests {
		if got := untilBatch(tt.now, tt.d); got != tt.want {
			t.Errorf("untilBatch(%v, %v) = %v, want %v", tt.now.Sub(t0), tt.d, got, tt.want)
		}
	}
}
