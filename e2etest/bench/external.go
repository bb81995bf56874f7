package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// ExternalOptions configures the ExternalService benchmark.
type ExternalOptions struct {
	// Reps is the number of repetitions of each fault. Default 10.
	Reps int
	// Services is the number of ExternalServices (two endpoints each) of
	// the scale run. Default 500; negative skips the scale run.
	Services int
	// Steady is how long the scale run watches CPU and API writes once
	// every target is ready. Default 60 s.
	Steady time.Duration
	// Verbose prints every repetition.
	Verbose bool
	// Keep leaves the logs in place.
	Keep bool
	// Profile, when set, is where a CPU profile of the controller during
	// the steady window is written (go tool pprof reads it).
	Profile string
}

const (
	externalNS       = "external"
	externalInterval = time.Second
	externalTimeout  = 500 * time.Millisecond
	externalRise     = 2
	externalFall     = 2
	redisPort        = 6379
)

// externalGoal is DESIGN's bound on detection: interval × threshold +
// timeout + 0.5 s.
func externalGoal(threshold int) time.Duration {
	return externalInterval*time.Duration(threshold) + externalTimeout + 500*time.Millisecond
}

// External measures how fast ExternalService readiness follows a database
// that dies (killed, or its link down) and a Redis role switch, and what
// 500 ExternalServices probed every second cost the controller.
func External(ctx context.Context, o ExternalOptions, w io.Writer) (err error) {
	if o.Reps <= 0 {
		o.Reps = 10
	}
	if o.Services == 0 {
		o.Services = 500
	}
	if o.Steady <= 0 {
		o.Steady = time.Minute
	}
	dir, tidy, err := logDir("portico-bench-external-", o.Keep, w)
	if err != nil {
		return err
	}
	defer func() { tidy(err) }()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var ctrlArgs []string
	pprofAddr := ""
	if o.Profile != "" {
		if pprofAddr, err = freeLocalAddr(); err != nil {
			return err
		}
		ctrlArgs = append(ctrlArgs, "--pprof-bind-address", pprofAddr)
	}
	cl, err := cluster.Start(sctx, cluster.Options{Nodes: 1, NoKubeProxy: true, Dir: filepath.Join(dir, "cluster"), ControllerArgs: ctrlArgs})
	if err != nil {
		return err
	}
	defer func() {
		if serr := cl.Stop(); serr != nil && err == nil {
			err = fmt.Errorf("bench: stopping the cluster: %w", serr)
		}
	}()
	b := &externalBench{o: o, cl: cl, dir: dir, r: report{w}, pprof: pprofAddr}
	if b.clients, err = newClients(cl.Config); err != nil {
		return err
	}
	if err := createNamespaces(sctx, b.clients.fast, externalNS); err != nil {
		return err
	}
	for i := range 2 {
		db, err := b.startRedis(sctx, fmt.Sprintf("db%d", i+1), 101+i)
		if err != nil {
			return err
		}
		b.dbs = append(b.dbs, db)
	}
	b.r.section("ExternalService benchmark")
	b.r.line("setting", "lab %s; Redis %s and %s in their own namespaces; interval %s, timeout %s, thresholds %d/%d",
		cl.Lab.Prefix, b.dbs[0].addr, b.dbs[1].addr, externalInterval, externalTimeout, externalRise, externalFall)
	if err := b.deaths(ctx); err != nil {
		return err
	}
	if err := b.switches(ctx); err != nil {
		return err
	}
	if o.Services > 0 {
		return b.scale(ctx)
	}
	return nil
}

type externalBench struct {
	o       ExternalOptions
	cl      *cluster.Cluster
	clients *clients
	dir     string
	r       report
	dbs     []*redisHost
	pprof   string // the controller's pprof address, when profiling
}

// redisHost is a real redis-server in a lab host of its own.
type redisHost struct {
	host *netlab.Host
	addr netip.AddrPort
	log  string
	proc *netlab.Process
	cli  *redis.Client
}

func (b *externalBench) startRedis(ctx context.Context, name string, id int) (*redisHost, error) {
	h, err := b.cl.Lab.AddHost(ctx, name, id)
	if err != nil {
		return nil, err
	}
	v4, _ := b.cl.Lab.Addr(id)
	db := &redisHost{host: h, addr: netip.AddrPortFrom(v4, redisPort), log: filepath.Join(b.dir, name+".log")}
	db.cli = redis.NewClient(&redis.Options{Addr: db.addr.String(), DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	return db, db.start(ctx, b.dir)
}

func (db *redisHost) start(ctx context.Context, dir string) error {
	p, err := db.host.Start(ctx, db.log, "redis-server", "--bind", db.addr.Addr().String(), "--port", fmt.Sprint(redisPort),
		"--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", dir, "--maxclients", "10000")
	if err != nil {
		return fmt.Errorf("redis %s: %w", db.addr, err)
	}
	db.proc = p
	return netlab.Poll(ctx, 50*time.Millisecond, 10*time.Second, "redis at "+db.addr.String(), func(ctx context.Context) error {
		return db.cli.Ping(ctx).Err()
	})
}

func (db *redisHost) do(ctx context.Context, args ...any) error {
	return db.cli.Do(ctx, args...).Err()
}

func (b *externalBench) create(ctx context.Context, name string, routing v1beta1.Routing, dbs ...*redisHost) error {
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: externalNS, Name: name},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:   []v1beta1.ExternalServicePort{{Port: redisPort}},
			Routing: routing,
			HealthCheck: v1beta1.HealthCheck{
				Type: v1beta1.HealthCheckRedis, Interval: metav1.Duration{Duration: externalInterval},
				Timeout: metav1.Duration{Duration: externalTimeout}, HealthyThreshold: externalRise, UnhealthyThreshold: externalFall,
			},
		},
	}
	for _, db := range dbs {
		es.Spec.Endpoints = append(es.Spec.Endpoints, v1beta1.ExternalEndpoint{Address: db.addr.Addr().String()})
	}
	if err := b.clients.crd.Create(ctx, es); err != nil {
		return fmt.Errorf("ExternalService %s: %w", name, err)
	}
	return nil
}

// readyOf is the ready flag of each address in name's slices.
type readyOf map[string]bool

// sliceWatch follows name's EndpointSlices and reports, for each change,
// when it arrived and the ready flags it shows.
type sliceWatch struct {
	w     watch.Interface
	state map[string]readyOf // slice name → flags
	// open lists the slices into state and watches from there on; the
	// API server ends watches now and then.
	open func(ctx context.Context) error
}

func (b *externalBench) watchSlices(ctx context.Context, name string) (*sliceWatch, error) {
	sw := &sliceWatch{state: map[string]readyOf{}}
	sel := metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name}
	sw.open = func(ctx context.Context) error {
		list, err := b.clients.fast.DiscoveryV1().EndpointSlices(externalNS).List(ctx, sel)
		if err != nil {
			return fmt.Errorf("listing slices of %s: %w", name, err)
		}
		sw.state = map[string]readyOf{}
		for i := range list.Items {
			sw.record(&list.Items[i])
		}
		o := sel
		o.ResourceVersion = list.ResourceVersion
		if sw.w, err = b.clients.watch.DiscoveryV1().EndpointSlices(externalNS).Watch(ctx, o); err != nil {
			return fmt.Errorf("watching slices of %s: %w", name, err)
		}
		return nil
	}
	return sw, sw.open(ctx)
}

func (s *sliceWatch) record(sl *discoveryv1.EndpointSlice) {
	r := readyOf{}
	for _, e := range sl.Endpoints {
		r[e.Addresses[0]] = e.Conditions.Ready != nil && *e.Conditions.Ready
	}
	s.state[sl.Name] = r
}

// until reads events until ok holds for the merged flags, returning when
// the event that made it hold arrived.
func (s *sliceWatch) until(ctx context.Context, limit time.Duration, ok func(readyOf) bool) (time.Time, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	check := func() bool {
		all := readyOf{}
		for _, r := range s.state {
			for a, v := range r {
				all[a] = v
			}
		}
		return ok(all)
	}
	if check() {
		return time.Now(), nil
	}
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-timer.C:
			return time.Time{}, fmt.Errorf("slices did not reach the expected state within %s (last %v)", limit, s.state)
		case ev, open := <-s.w.ResultChan():
			if !open {
				if err := s.open(ctx); err != nil {
					return time.Time{}, err
				}
				if check() {
					return time.Now(), nil
				}
				continue
			}
			at := time.Now()
			sl, isSlice := ev.Object.(*discoveryv1.EndpointSlice)
			if !isSlice {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(s.state, sl.Name)
			} else {
				s.record(sl)
			}
			if check() {
				return at, nil
			}
		}
	}
}

func (s *sliceWatch) stop() { s.w.Stop() }

func readyIs(addr netip.AddrPort, want bool) func(readyOf) bool {
	return func(r readyOf) bool { v, ok := r[addr.Addr().String()]; return ok && v == want }
}

// deaths kills the database (and takes its link down) and times the slice
// marking it not ready.
func (b *externalBench) deaths(ctx context.Context) error {
	db := b.dbs[0]
	if err := b.create(ctx, "death", v1beta1.RoutingAllHealthy, db); err != nil {
		return err
	}
	sw, err := b.watchSlices(ctx, "death")
	if err != nil {
		return err
	}
	defer sw.stop()
	if _, err := sw.until(ctx, 30*time.Second, readyIs(db.addr, true)); err != nil {
		return fmt.Errorf("death: first ready: %w", err)
	}
	for _, f := range []string{"kill -9", "link down"} {
		var down, up []time.Duration
		for i := range b.o.Reps {
			// Start each rep at a random phase of the probe interval.
			time.Sleep(time.Duration(i) * externalInterval / time.Duration(b.o.Reps))
			t0 := time.Now()
			switch f {
			case "kill -9":
				if err := db.proc.Kill(syscall.SIGKILL); err != nil {
					return err
				}
				<-db.proc.Done()
			default:
				if err := db.host.SetLink(false); err != nil {
					return err
				}
			}
			at, err := sw.until(ctx, 20*time.Second, readyIs(db.addr, false))
			if err != nil {
				return fmt.Errorf("death %s rep %d: %w", f, i, err)
			}
			down = append(down, at.Sub(t0))
			t1 := time.Now()
			if f == "kill -9" {
				err = db.start(ctx, b.dir)
			} else {
				err = db.host.SetLink(true)
			}
			if err != nil {
				return err
			}
			at, err = sw.until(ctx, 20*time.Second, readyIs(db.addr, true))
			if err != nil {
				return fmt.Errorf("death %s rep %d: back: %w", f, i, err)
			}
			up = append(up, at.Sub(t1))
			if b.o.Verbose {
				b.r.note("%s rep %d: not ready after %s, ready again after %s", f, i, seconds(down[i]), seconds(up[i]))
			}
		}
		b.r.line(f+" → not ready (p50 / p90 / max)", "%s / %s / %s  (goal p90 ≤ %s)  %s",
			seconds(percentile(down, 50)), seconds(percentile(down, 90)), seconds(slicesMax(down)), seconds(externalGoal(externalFall)),
			verdict(percentile(down, 90) <= externalGoal(externalFall)))
		b.r.line(f+" restored → ready (p50 / p90)", "%s / %s", seconds(percentile(up, 50)), seconds(percentile(up, 90)))
	}
	return nil
}

// switches moves the Redis primary back and forth and times the slice
// following it.
func (b *externalBench) switches(ctx context.Context) error {
	a, c := b.dbs[0], b.dbs[1]
	if err := c.do(ctx, "REPLICAOF", a.addr.Addr().String(), fmt.Sprint(redisPort)); err != nil {
		return fmt.Errorf("switch: replication: %w", err)
	}
	if err := b.create(ctx, "switch", v1beta1.RoutingPrimary, a, c); err != nil {
		return err
	}
	sw, err := b.watchSlices(ctx, "switch")
	if err != nil {
		return err
	}
	defer sw.stop()
	primaryIs := func(p, r *redisHost) func(readyOf) bool {
		return func(m readyOf) bool { return readyIs(p.addr, true)(m) && readyIs(r.addr, false)(m) }
	}
	if _, err := sw.until(ctx, 30*time.Second, primaryIs(a, c)); err != nil {
		return fmt.Errorf("switch: first primary: %w", err)
	}
	var ds []time.Duration
	from, to := a, c
	for i := range b.o.Reps {
		time.Sleep(time.Duration(i) * externalInterval / time.Duration(b.o.Reps))
		// Promote the replica, then demote the old primary: the role
		// switch is done when both commands returned.
		if err := to.do(ctx, "REPLICAOF", "NO", "ONE"); err != nil {
			return err
		}
		if err := from.do(ctx, "REPLICAOF", to.addr.Addr().String(), fmt.Sprint(redisPort)); err != nil {
			return err
		}
		t0 := time.Now()
		at, err := sw.until(ctx, 20*time.Second, primaryIs(to, from))
		if err != nil {
			return fmt.Errorf("switch rep %d: %w", i, err)
		}
		ds = append(ds, at.Sub(t0))
		if b.o.Verbose {
			b.r.note("switch rep %d: %s → %s, slice after %s", i, from.addr, to.addr, seconds(ds[i]))
		}
		from, to = to, from
	}
	b.r.line("role switch → slice (p50 / p90 / max)", "%s / %s / %s  (goal p90 ≤ %s)  %s",
		seconds(percentile(ds, 50)), seconds(percentile(ds, 90)), seconds(slicesMax(ds)), seconds(externalGoal(externalRise)),
		verdict(percentile(ds, 90) <= externalGoal(externalRise)))
	return nil
}

// scale creates Services ExternalServices of two endpoints each, waits for
// all to be ready, and measures the controller while nothing changes.
func (b *externalBench) scale(ctx context.Context) error {
	a, c := b.dbs[0], b.dbs[1]
	if err := c.do(ctx, "REPLICAOF", "NO", "ONE"); err != nil {
		return err
	}
	if err := a.do(ctx, "REPLICAOF", "NO", "ONE"); err != nil {
		return err
	}
	base, err := scrapeWrites(ctx, b.clients.metrics)
	if err != nil {
		return err
	}
	start := time.Now()
	for i := range b.o.Services {
		if err := b.create(ctx, fmt.Sprintf("scale-%d", i), v1beta1.RoutingAllHealthy, a, c); err != nil {
			return err
		}
	}
	err = netlab.Poll(ctx, 500*time.Millisecond, 3*time.Minute, "every ExternalService ready", func(ctx context.Context) error {
		var list v1beta1.ExternalServiceList
		if err := b.clients.crd.List(ctx, &list, client.InNamespace(externalNS)); err != nil {
			return err
		}
		n := 0
		for _, es := range list.Items {
			if strings.HasPrefix(es.Name, "scale-") && es.Status.ReadyTargets == 2 {
				n++
			}
		}
		if n < b.o.Services {
			return fmt.Errorf("%d of %d ready", n, b.o.Services)
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.r.line(fmt.Sprintf("%d ExternalServices × 2 endpoints ready", b.o.Services), "%s after the first create", seconds(time.Since(start)))
	created, err := scrapeWrites(ctx, b.clients.metrics)
	if err != nil {
		return err
	}
	creation := created.minus(base)
	perES := externalWrites(creation) / float64(b.o.Services)
	b.r.line("controller API writes per ExternalService created", "%.1f (Service, slices, status, events)", perES)

	// The last transitions' Events may still be on their way (the events
	// library retries a series patch whose Event is not created yet): the
	// steady window starts once 5 s pass without a write.
	settled := time.Now()
	if err := b.quiet(ctx, 5*time.Second, 2*time.Minute); err != nil {
		return err
	}
	b.r.line("writes settled after the last target turned ready", "%s", seconds(time.Since(settled)))
	ctrl := b.cl.Controller()
	u0, err := liveUsage(ctrl)
	if err != nil {
		return err
	}
	w0, err := scrapeWrites(ctx, b.clients.metrics)
	if err != nil {
		return err
	}
	t0 := time.Now()
	profiled := make(chan error, 1)
	if b.pprof != "" {
		go func() { profiled <- saveProfile(ctx, b.pprof, b.o.Steady-time.Second, b.o.Profile) }()
	} else {
		profiled <- nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.o.Steady):
	}
	if err := <-profiled; err != nil {
		b.r.note("profile: %v", err)
	} else if b.pprof != "" {
		b.r.note("CPU profile of the steady window: %s (go tool pprof -top %s)", b.o.Profile, b.o.Profile)
	}
	u1, err := liveUsage(ctrl)
	if err != nil {
		return err
	}
	w1, err := scrapeWrites(ctx, b.clients.metrics)
	if err != nil {
		return err
	}
	span := time.Since(t0)
	cores := float64(u1.cpu-u0.cpu) / float64(span)
	rss := currentRSS(ctrl.Pid)
	steady := externalWrites(w1.minus(w0)) / span.Minutes()
	probes := float64(2*b.o.Services) * span.Seconds() / externalInterval.Seconds()
	sysShare := float64(u1.sys-u0.sys) / float64(max(u1.cpu-u0.cpu, 1))
	b.r.line("controller CPU while probing", "%.3f cores over %s, %.0f probes/s, %.0f%% in the kernel  (goal ≤ 0.1)  %s",
		cores, seconds(span), probes/span.Seconds(), 100*sysShare, verdict(cores <= 0.1))
	b.r.line("controller RSS (now / peak)", "%s / %s  (goal ≤ 150 MiB)  %s", mib(rss), mib(u1.maxRSS), verdict(u1.maxRSS <= 150<<20))
	b.r.line("API writes per minute while nothing changes", "%.1f  (goal 0)  %s", steady, verdict(steady == 0))
	if steady != 0 {
		b.r.writes("writes while nothing changes", w1.minus(w0))
		b.recentEvents(ctx, t0)
	}
	return nil
}

// quiet waits until span passes with no write of the reconciler's.
func (b *externalBench) quiet(ctx context.Context, span, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	last, err := scrapeWrites(ctx, b.clients.metrics)
	if err != nil {
		return err
	}
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(span):
		}
		now, err := scrapeWrites(ctx, b.clients.metrics)
		if err != nil {
			return err
		}
		if externalWrites(now.minus(last)) == 0 {
			return nil
		}
		last = now
	}
	return fmt.Errorf("bench: the controller still writes %s after every target is ready", limit)
}

// externalWrites counts the writes the ExternalService reconciler makes:
// its objects, their status, and Events. ExternalServices themselves are
// the bench's writes; only their status is the controller's.
func externalWrites(d writeCounts) float64 {
	return d.sum(func(k writeKey) bool {
		switch k.resource {
		case "externalservices":
			return k.subresource == "status"
		case "services", "endpointslices", "endpoints", "events":
			return true
		}
		return false
	})
}

func currentRSS(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	return parseStatusKB(status, "VmRSS") * 1024
}

func slicesMax(ds []time.Duration) time.Duration { return percentile(ds, 100) }

// recentEvents prints the Events updated since t0, counted by who reported
// them, why and about what, to tell which component keeps writing.
func (b *externalBench) recentEvents(ctx context.Context, t0 time.Time) {
	list, err := b.clients.fast.EventsV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		b.r.note("events: %v", err)
		return
	}
	counts := map[string]int32{}
	for _, e := range list.Items {
		last := e.EventTime.Time
		if e.Series != nil {
			last = e.Series.LastObservedTime.Time
		}
		if last.Before(t0) && e.Series == nil {
			continue
		}
		key := fmt.Sprintf("%s %s %s %s/%s: %s", e.ReportingController, e.Reason, e.Regarding.Kind, e.Regarding.Namespace, e.Regarding.Name, e.Note)
		n := int32(1)
		if e.Series != nil {
			n = e.Series.Count
		}
		counts[key] += n
	}
	shown := 0
	for k, n := range counts {
		if shown == 10 {
			break
		}
		b.r.note("    event ×%d %s", n, k)
		shown++
	}
}

func freeLocalAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// saveProfile fetches a CPU profile of d from the pprof server at addr.
func saveProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
