package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
	"github.com/portico-lb/portico/internal/kubeapi"
)

// Namespaces the alloc benchmark uses.
const (
	controllerNS = "portico-system"
	benchNS      = "bench"
	limitNS      = "bench-limit"
)

// AllocOptions configures the alloc benchmark.
type AllocOptions struct {
	// N is the number of Services to create. Default 1000.
	N int
	// Workers, QPS and Burst are passed to portico-controller as --workers,
	// --kube-api-qps and --kube-api-burst; the API-server limit run uses the
	// same. Defaults 4, 500 and 1000.
	Workers int
	QPS     float64
	Burst   int
	// Creators is the number of concurrent clients creating Services. Default 16.
	Creators int
	// Controller is a built portico-controller. Default: go build it.
	Controller string
	// Keep leaves the temporary directory (kubeconfig, controller logs) in place.
	Keep bool
}

func setAllocDefaults(o AllocOptions) AllocOptions {
	if o.N <= 0 {
		o.N = 1000
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.QPS <= 0 {
		o.QPS = 500
	}
	if o.Burst <= 0 {
		o.Burst = 1000
	}
	if o.Creators <= 0 {
		o.Creators = 16
	}
	return o
}

// phaseTimeout bounds waiting for n Services: a minute plus 20 ms each.
func phaseTimeout(n int) time.Duration {
	return time.Minute + time.Duration(n)*20*time.Millisecond
}

// ErrCheckFailed is returned after the full report when a correctness check
// failed: duplicate IPs, Services left without IP, or IPs changed on restart.
var ErrCheckFailed = errors.New("bench: correctness check failed")

// allocRun is the state of one alloc benchmark.
type allocRun struct {
	o          AllocOptions
	r          report
	dir        string
	srv        *kubeapi.Server
	cfg        *rest.Config
	cl         *clients
	kubeconfig string
	bin        string
	ctrl       *netlab.Process
	runs       int // controller starts so far
	track      *tracker
	failures   []string
	// Filled by the allocation phase for the API-server-limit comparison.
	allAssigned time.Duration
	backlogAll  time.Duration
}

// Alloc runs the allocation benchmark and prints its report to w: create N
// Services, restart the controller, delete a few, let it serve N Services
// created while it was down, and compare with a bare client's status writes. It fails when a run step fails or times out, or
// (after printing everything) with ErrCheckFailed.
func Alloc(ctx context.Context, o AllocOptions, w io.Writer) (err error) {
	a := &allocRun{o: setAllocDefaults(o), r: report{w: w}}
	if a.dir, err = os.MkdirTemp("", "portico-bench-"); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer func() {
		if a.o.Keep || err != nil {
			fmt.Fprintf(w, "\nkept %s (kubeconfig, controller logs)\n", a.dir)
			return
		}
		_ = os.RemoveAll(a.dir)
	}()
	if err := a.setup(ctx); err != nil {
		return err
	}
	srv, err := kubeapi.Start(kubeapi.Options{})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	// The tracker's informer stops before the API server does.
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		if a.ctrl != nil {
			killProcess(a.ctrl)
		}
		if serr := srv.Stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	a.srv, a.cfg = srv, srv.Config
	for _, phase := range []func(context.Context) error{
		a.prepare, a.allocate, a.restart, a.deletes, a.backlog, a.limit,
	} {
		if err := phase(ctx); err != nil {
			return err
		}
	}
	a.r.section("Checks")
	if ev, err := eventReasons(ctx, a.cl.fast); err == nil {
		a.r.line("Events in the cluster (by reporter, reason)", "%s", ev)
	}
	if len(a.failures) == 0 {
		a.r.note("all passed: no duplicate IPs, every Service served, no IP changed on restart")
		return nil
	}
	for _, f := range a.failures {
		a.r.note("FAILED: %s", f)
	}
	return ErrCheckFailed
}

// setup builds the controller unless one was given and prints the header.
func (a *allocRun) setup(ctx context.Context) error {
	a.bin = a.o.Controller
	if a.bin == "" {
		bins, err := cluster.GoBuild(ctx, a.dir, "./controller/cmd/portico-controller")
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		a.bin = bins[0]
	}
	a.r.section("Portico alloc benchmark")
	a.r.line("Services", "%d", a.o.N)
	a.r.line("controller", "--workers=%d --kube-api-qps=%g --kube-api-burst=%d", a.o.Workers, a.o.QPS, a.o.Burst)
	a.r.line("machine", "%d CPUs, %s %s/%s", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		a.r.line("load average (1/5/15 min) at start", "%s", strings.Join(strings.Fields(string(la))[:3], " "))
	}
	a.r.line("controller binary", "%s", a.bin)
	return nil
}

// prepare creates namespaces and the pool, starts the controller and waits
// until it serves a first Service.
func (a *allocRun) prepare(ctx context.Context) error {
	var err error
	if a.cl, err = newClients(a.cfg); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if v, err := a.cl.fast.Discovery().ServerVersion(); err == nil {
		a.r.line("kube-apiserver", "%s (etcd and API server on this machine)", v.GitVersion)
	}
	a.kubeconfig = filepath.Join(a.dir, "kubeconfig")
	if err := a.srv.WriteKubeconfig(a.kubeconfig); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := createNamespaces(ctx, a.cl.fast, controllerNS, benchNS, limitNS); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	pool := poolFor(a.o.N)
	if err := createPool(ctx, a.cl.crd, pool); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	a.r.line("pool", "%s", pool)
	if a.track, err = startTracker(ctx, a.cl.watch, benchNS); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := a.startController(); err != nil {
		return err
	}
	served, err := a.serveOne(ctx, "warmup")
	if err != nil {
		return err
	}
	a.r.section("Start-up (empty cluster)")
	a.r.line("controller start → first Service has IP", "%s", seconds(served))
	return nil
}

// startController starts portico-controller against the bench API server.
func (a *allocRun) startController() error {
	a.runs++
	log := filepath.Join(a.dir, "controller-"+strconv.Itoa(a.runs)+".log")
	args := []string{
		"--kubeconfig", a.kubeconfig,
		"--namespace", controllerNS,
		"--leader-elect=false",
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
		"--workers", strconv.Itoa(a.o.Workers),
		"--kube-api-qps", strconv.FormatFloat(a.o.QPS, 'g', -1, 64),
		"--kube-api-burst", strconv.Itoa(a.o.Burst),
	}
	p, err := startProcess(a.bin, args, log)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	a.ctrl = p
	return nil
}

// stopController stops the running controller and returns its usage.
func (a *allocRun) stopController() (usage, error) {
	u, err := stopProcess(a.ctrl, 30*time.Second)
	a.ctrl = nil
	if err != nil {
		return u, fmt.Errorf("bench: %w", err)
	}
	return u, nil
}

// serveOne creates one Service right away and returns the time from the
// controller's start until the Service has an IP.
func (a *allocRun) serveOne(ctx context.Context, name string) (time.Duration, error) {
	if _, _, err := createServices(ctx, a.cl.fast, benchNS, []string{name}, 1); err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	if err := a.track.wait(ctx, []string{name}, phaseTimeout(a.o.N), a.ctrl); err != nil {
		return 0, fmt.Errorf("bench: Service %s: %w", name, err)
	}
	at, _ := a.track.assignedAt(name)
	return at.Sub(a.ctrl.Started), nil
}

// scrape reads the API server's write counters.
func (a *allocRun) scrape(ctx context.Context) (writeCounts, error) {
	m, err := scrapeWrites(ctx, a.cl.metrics)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return m, nil
}

// check records a failed correctness check; Alloc reports it at the end.
func (a *allocRun) check(ok bool, format string, args ...any) {
	if !ok {
		a.failures = append(a.failures, fmt.Sprintf(format, args...))
	}
}
