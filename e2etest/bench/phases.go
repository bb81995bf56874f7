package bench

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// benchWrite is one kind of write the bench itself makes; phases subtract
// them from the API server's counters.
func benchWrite(resource, verb string, n int) writeCounts {
	return writeCounts{writeKey{resource: resource, verb: verb}: {n: float64(n)}}
}

// allocate creates N Services at once and measures how fast they are served.
func (a *allocRun) allocate(ctx context.Context) error {
	m0, err := a.scrape(ctx)
	if err != nil {
		return err
	}
	u0, err := liveUsage(a.ctrl)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	names := serviceNames("svc", a.o.N)
	start := time.Now()
	_, sent, err := createServices(ctx, a.cl.fast, benchNS, names, a.o.Creators)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	createdAt := time.Now()
	created := createdAt.Sub(start)
	if err := a.track.wait(ctx, names, phaseTimeout(a.o.N), a.ctrl); err != nil {
		return fmt.Errorf("bench: allocation: %w", err)
	}
	u1, err := liveUsage(a.ctrl)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	lat := make([]time.Duration, len(names))
	var last time.Time
	for i, n := range names {
		at, _ := a.track.assignedAt(n)
		lat[i] = at.Sub(sent[i])
		if at.After(last) {
			last = at
		}
	}
	a.allAssigned = last.Sub(start)
	// Let trailing writes (pool status) land before reading the counters.
	time.Sleep(2 * time.Second)
	m1, err := a.scrape(ctx)
	if err != nil {
		return err
	}
	snap, err := snapshot(ctx, a.cl.fast, benchNS)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	d := m1.minus(m0).minus(benchWrite("services", "POST", a.o.N))
	dups, missing := duplicates(snap), unassigned(snap)
	a.check(dups == 0, "%d Services share an IP with another Service", dups)
	a.check(missing == 0, "%d Services have no IP", missing)

	r := a.r
	r.section(fmt.Sprintf("Allocation: %d Services created by %d concurrent clients", a.o.N, a.o.Creators))
	r.line("create requests done in", "%s (%.0f Services/s)", seconds(created), float64(a.o.N)/created.Seconds())
	r.line("all assigned (first create → last IP)", "%s (%.0f Services/s)", seconds(a.allAssigned), float64(a.o.N)/a.allAssigned.Seconds())
	r.line("last create done → last IP", "%s", seconds(last.Sub(createdAt)))
	r.line("create → IP latency p50 / p90 / p99 / max", "%.0f / %.0f / %.0f / %.0f ms",
		ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99)), ms(percentile(lat, 100)))
	r.line("duplicates (Services sharing an IP)", "%d", dups)
	r.line("Services without IP", "%d", missing)
	r.line("controller CPU (user+sys) in this phase", "%s (%.0f%% of one core)", seconds(u1.cpu-u0.cpu), 100*(u1.cpu-u0.cpu).Seconds()/a.allAssigned.Seconds())
	r.line("controller max RSS (VmHWM)", "%s", mib(u1.maxRSS))
	p := porticoWrites(d)
	r.line("Portico API writes (to all assigned + 2 s)", "%.0f", p)
	r.line("API writes per Service", "%.2f", p/float64(a.o.N))
	r.line("Service status writes per Service", "%.2f", serviceStatusWrites(d)/float64(a.o.N))
	r.writes("writes excluding the bench's own creates", d)
	return nil
}

// restart stops the controller, starts it again with N Services present and
// checks that it keeps every IP and rewrites nothing.
func (a *allocRun) restart(ctx context.Context) error {
	u, err := a.stopController()
	if err != nil {
		return err
	}
	before, err := snapshot(ctx, a.cl.fast, benchNS)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	m0, err := a.scrape(ctx)
	if err != nil {
		return err
	}
	if err := a.startController(); err != nil {
		return err
	}
	served, err := a.serveOne(ctx, "after-restart")
	if err != nil {
		return err
	}
	const settle = 5 * time.Second
	time.Sleep(settle)
	u2, err := liveUsage(a.ctrl)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	m1, err := a.scrape(ctx)
	if err != nil {
		return err
	}
	after, err := snapshot(ctx, a.cl.fast, benchNS)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	changed, rewritten := compare(before, after)
	a.check(changed == 0, "%d Services changed IP across the restart", changed)
	d := m1.minus(m0).minus(benchWrite("services", "POST", 1))
	p := porticoWrites(d)

	r := a.r
	r.section(fmt.Sprintf("Restart with %d Services present", len(before)))
	r.line("first run: controller CPU total (user+sys)", "%s", seconds(u.cpu))
	r.line("first run: controller max RSS", "%s", mib(u.maxRSS))
	r.line("restart → new Service has IP", "%s", seconds(served))
	r.line("controller CPU from start to settled", "%s (settled = IP + %v)", seconds(u2.cpu), settle)
	r.line("controller max RSS after restart", "%s", mib(u2.maxRSS))
	r.line("Service status writes during restart", "%.0f (1 expected: the new Service)", serviceStatusWrites(d))
	r.line("Portico API writes during restart", "%.0f total, %.0f beyond the new Service's status write", p, p-1)
	r.line("old Services whose IPs changed", "%d", changed)
	r.line("old Services written to (resourceVersion moved)", "%d", rewritten)
	r.writes("writes excluding the bench's own create", d)
	return nil
}

// deletes removes 10 Services with N present and counts the writes that
// caused, then stops the controller.
func (a *allocRun) deletes(ctx context.Context) error {
	const count = 10
	m0, err := a.scrape(ctx)
	if err != nil {
		return err
	}
	u0, err := liveUsage(a.ctrl)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	names := serviceNames("svc", min(count, a.o.N))
	start := time.Now()
	for _, n := range names {
		if err := a.cl.fast.CoreV1().Services(benchNS).Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("bench: deleting Service %s: %w", n, err)
		}
	}
	quiet, ok, err := waitQuiet(ctx, a.ctrl, time.Second, 30*time.Second)
	if err != nil {
		return err
	}
	if rest := 3*time.Second - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	u1, err := liveUsage(a.ctrl)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	m1, err := a.scrape(ctx)
	if err != nil {
		return err
	}
	d := m1.minus(m0).minus(benchWrite("services", "DELETE", len(names)))
	u, err := a.stopController()
	if err != nil {
		return err
	}

	r := a.r
	r.section(fmt.Sprintf("Delete %d of %d Services, then stop the controller", len(names), a.o.N+2))
	if ok {
		r.line("controller CPU quiet after the deletes", "%s (≤%v CPU in the next %v; sampled every 100 ms)", seconds(quiet), clockTick, time.Second)
	} else {
		r.line("controller CPU quiet after the deletes", "not within %v", 30*time.Second)
	}
	r.line("controller CPU (user+sys) in this phase", "%s", seconds(u1.cpu-u0.cpu))
	r.line("Portico API writes for the deletes", "%.0f (%.1f per deleted Service)", porticoWrites(d), porticoWrites(d)/float64(len(names)))
	r.writes("writes excluding the bench's own deletes", d)
	r.line("second run: controller CPU total (user+sys)", "%s", seconds(u.cpu))
	r.line("second run: controller max RSS", "%s", mib(u.maxRSS))
	return nil
}

// backlog creates N more Services while the controller is stopped, then
// starts it and times until all have IPs. Unlike allocate, the controller is
// not paced by the bench's creates, so this is its own throughput.
func (a *allocRun) backlog(ctx context.Context) error {
	names := serviceNames("backlog", a.o.N)
	if _, _, err := createServices(ctx, a.cl.fast, benchNS, names, a.o.Creators); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	m0, err := a.scrape(ctx)
	if err != nil {
		return err
	}
	if err := a.startController(); err != nil {
		return err
	}
	if err := a.track.wait(ctx, names, phaseTimeout(a.o.N), a.ctrl); err != nil {
		return fmt.Errorf("bench: backlog: %w", err)
	}
	var first, last time.Time
	for _, n := range names {
		at, _ := a.track.assignedAt(n)
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	started := a.ctrl.Started
	a.backlogAll = last.Sub(started)
	u1, err := liveUsage(a.ctrl)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	time.Sleep(2 * time.Second)
	m1, err := a.scrape(ctx)
	if err != nil {
		return err
	}
	if _, err := a.stopController(); err != nil {
		return err
	}
	snap, err := snapshot(ctx, a.cl.fast, benchNS)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	dups, missing := duplicates(snap), unassigned(snap)
	a.check(dups == 0, "after the backlog, %d Services share an IP with another Service", dups)
	a.check(missing == 0, "after the backlog, %d Services have no IP", missing)
	d := m1.minus(m0)
	p := porticoWrites(d)

	r := a.r
	r.section(fmt.Sprintf("Backlog: %d Services created while the controller was stopped, %d already served", a.o.N, len(snap)-a.o.N))
	r.line("controller start → all have IPs", "%s (%.0f Services/s)", seconds(a.backlogAll), float64(a.o.N)/a.backlogAll.Seconds())
	r.line("controller start → first IP", "%s", seconds(first.Sub(started)))
	r.line("first IP → last IP", "%s", seconds(last.Sub(first)))
	r.line("duplicates (all Services in the namespace)", "%d of %d", dups, len(snap))
	r.line("controller CPU (user+sys), start → all have IPs", "%s", seconds(u1.cpu))
	r.line("controller max RSS", "%s", mib(u1.maxRSS))
	r.line("API writes per Service", "%.2f", p/float64(a.o.N))
	r.writes("writes from controller start to all assigned + 2 s", d)
	return nil
}

// limit times a bare client writing N precomputed statuses with the
// controller's concurrency and client limits: the API server's floor.
func (a *allocRun) limit(ctx context.Context) error {
	svcs, _, err := createServices(ctx, a.cl.fast, limitNS, serviceNames("lim", a.o.N), a.o.Creators)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	cs, err := throttled(a.cfg, a.o.QPS, a.o.Burst)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout(a.o.N))
	defer cancel()
	start := time.Now()
	if err := writeStatuses(ctx, cs, svcs, netip.MustParseAddr("172.16.0.1"), a.o.Workers); err != nil {
		return fmt.Errorf("bench: API-server limit: %w", err)
	}
	took := time.Since(start)

	r := a.r
	r.section("API-server limit (controller stopped)")
	r.note("A bare client that already knows the IPs writes each Service's status once")
	r.note("(ingress IP with ipMode VIP + the ip-assigned condition, one PUT) to %d fresh Services.", a.o.N)
	r.line("concurrency", "%d workers, client QPS %g, burst %d (as the controller)", a.o.Workers, a.o.QPS, a.o.Burst)
	r.line("API-server limit", "%d status writes in %s (%.0f writes/s)", a.o.N, seconds(took), float64(a.o.N)/took.Seconds())
	r.line("Portico all-assigned / limit", "%.2f× (paced by the bench's creates)", a.allAssigned.Seconds()/took.Seconds())
	r.line("Portico backlog start → all / limit", "%.2f× (controller start included)", a.backlogAll.Seconds()/took.Seconds())
	return nil
}

// waitQuiet samples the controller's CPU every 100 ms and returns how long
// after the call it went quiet: the start of the first window in which it
// used at most one clock tick. ok is false when that did not happen by limit.
func waitQuiet(ctx context.Context, p *netlab.Process, window, limit time.Duration) (time.Duration, bool, error) {
	type point struct {
		at  time.Time
		cpu time.Duration
	}
	begin := time.Now()
	var pts []point
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		u, err := liveUsage(p)
		if err != nil {
			return 0, false, fmt.Errorf("bench: %w", err)
		}
		now := point{time.Now(), u.cpu}
		pts = append(pts, now)
		// The latest point at least one window old.
		for i := len(pts) - 1; i >= 0; i-- {
			if now.at.Sub(pts[i].at) >= window {
				if now.cpu-pts[i].cpu <= clockTick {
					return pts[i].at.Sub(begin), true, nil
				}
				break
			}
		}
		if now.at.Sub(begin) >= limit {
			return 0, false, nil
		}
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-p.Done():
			return 0, false, exitError(p)
		case <-tick.C:
		}
	}
}
