package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/portico-lb/portico/internal/kubeapi"
)

const (
	// serviceCIDR is dual-stack so the demo can show a dual-stack Service.
	serviceCIDR = "10.96.0.0/12,fd00:96::/108"
	// controllerNamespace is where the controller runs (leader election, Secrets).
	controllerNamespace = "portico-system"
)

// Serve is the supervisor: it starts the API server, etcd and the controller
// for the lab Up prepared in the state directory, marks the lab ready, and
// when ctx ends stops them all and removes the state directory. It returns
// only then, or when starting fails; in that case it stops what it started
// and keeps the logs for the user to read, unless ctx ended (someone asked
// the lab to stop), in which case it removes everything.
//
// Serve holds the lab's lock for its whole life; a second Serve on the same
// directory fails with ErrRunning. Of its Options, Serve uses Dir and Out;
// what to start (the module to build, the controller's addresses) it reads
// from the state directory, where Up wrote it, so the supervisor needs no flags.
func (l *Lab) Serve(ctx context.Context) error {
	dir := l.opts.Dir
	var set settings
	if err := readJSON(filepath.Join(dir, fileSettings), &set); err != nil {
		return fmt.Errorf("lab: reading what to start (`lab up` writes it): %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := os.WriteFile(filepath.Join(dir, filePID), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("lab: writing the pid file: %w", err)
	}
	s := &supervisor{dir: dir, set: set, out: l.opts.Out, started: time.Now()}
	if err := s.startAll(ctx); err != nil {
		err = errors.Join(err, s.stopAll())
		if ctx.Err() != nil {
			return errors.Join(err, os.RemoveAll(dir))
		}
		return errors.Join(err, removeAllButLogs(dir))
	}
	s.logf("the lab is ready; waiting for SIGTERM or SIGINT")
	select {
	case <-ctx.Done():
	case <-s.ctrl.done:
		// The API server stays up so the user can see what the controller did.
		s.logf("%s exited (%v); see %s", fileController, s.ctrl.waitErr, s.ctrl.logPath)
		<-ctx.Done()
	}
	s.logf("stopping (%v)", context.Cause(ctx))
	err = s.stopAll()
	if rmErr := os.RemoveAll(dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("lab: removing %s: %w", dir, rmErr))
	}
	return err
}

// supervisor is one run of Serve: what it started, in order, so it can stop
// it in reverse.
type supervisor struct {
	dir     string
	set     settings
	out     io.Writer
	started time.Time
	stops   []func() error
	ctrl    *process // set once the controller runs
}

// logf writes a progress line; Up echoes these while it waits.
func (s *supervisor) logf(format string, args ...any) {
	fmt.Fprintf(s.out, "[%5.1fs] %s\n", time.Since(s.started).Seconds(), fmt.Sprintf(format, args...))
}

func (s *supervisor) stopAll() error {
	var errs []error
	for i := len(s.stops) - 1; i >= 0; i-- {
		errs = append(errs, s.stops[i]())
	}
	s.stops = nil
	return errors.Join(errs...)
}

// startAll starts everything and writes the ready file last. The controller
// is compiled while the API server starts, since each takes seconds.
func (s *supervisor) startAll(ctx context.Context) error {
	buildCtx, cancelBuild := context.WithCancel(ctx)
	built := make(chan buildResult, 1)
	go func() { built <- buildController(buildCtx, s.set.ModuleRoot, s.dir) }()
	var b buildResult
	collected := false
	collect := func() buildResult {
		if !collected {
			b, collected = <-built, true
		}
		return b
	}
	s.stops = append(s.stops, func() error {
		cancelBuild()
		collect() // no compiler outlives the supervisor
		return nil
	})
	s.logf("building %s and starting kube-apiserver + etcd", fileController)

	srv, err := kubeapi.Start(kubeapi.Options{
		ServiceCIDR: serviceCIDR,
		CRDDir:      filepath.Join(s.set.ModuleRoot, "deploy", "crd", "bases"),
	})
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	s.stops = append(s.stops, func() error {
		s.logf("stopping kube-apiserver and etcd")
		return srv.Stop()
	})
	s.logf("kube-apiserver is up at %s with Portico's CRDs", srv.Config.Host)
	// kubeapi.Start does not watch ctx; a SIGTERM during it is seen here.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lab: interrupted: %w", err)
	}
	kubeconfig := filepath.Join(s.dir, fileKubeconfig)
	if err := srv.WriteKubeconfig(kubeconfig); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := createNamespace(ctx, srv, controllerNamespace); err != nil {
		return err
	}
	if err := collect().err; err != nil {
		return err
	}
	s.logf("built %s", b.bin)
	ctrl, err := startController(b.bin, []string{
		"--kubeconfig", kubeconfig,
		"--namespace", controllerNamespace,
		"--metrics-bind-address", s.set.MetricsAddr,
		"--health-probe-bind-address", s.set.ProbeAddr,
	}, filepath.Join(s.dir, fileCtrlLog))
	if err != nil {
		return err
	}
	s.stops = append(s.stops, func() error {
		s.logf("stopping %s", fileController)
		return ctrl.stop(15 * time.Second)
	})
	if err := ctrl.waitHealthy(ctx, s.set.ProbeAddr, 30*time.Second); err != nil {
		return err
	}
	s.ctrl = ctrl
	s.logf("%s is running (pid %d, log %s)", fileController, ctrl.pid(), ctrl.logPath)
	return writeJSON(filepath.Join(s.dir, fileReady), readyInfo{
		Kubectl:       srv.KubectlPath,
		Server:        srv.Config.Host,
		ControllerPID: ctrl.pid(),
	})
}

func createNamespace(ctx context.Context, srv *kubeapi.Server, name string) error {
	cs, err := kubernetes.NewForConfig(srv.Config)
	if err != nil {
		return fmt.Errorf("lab: client: %w", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("lab: creating namespace %s: %w", name, err)
	}
	return nil
}

// removeAllButLogs empties the state directory except for the *.log files,
// which say why the lab did not start.
func removeAllButLogs(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".log" {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}
