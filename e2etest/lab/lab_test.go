package lab

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/kubeapi"
)

// serveFlag makes the test binary the lab's supervisor: TestUpDown points
// Options.Supervisor at this binary with -lab-serve, so Up's detached re-exec
// is exercised exactly as `lab up` does it.
var serveFlag = flag.Bool("lab-serve", false, "run as the lab supervisor for $PORTICO_LAB_DIR (used by TestUpDown)")

func TestMain(m *testing.M) {
	flag.Parse()
	if *serveFlag {
		os.Exit(serve())
	}
	os.Exit(m.Run())
}

func serve() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := New(Options{Out: os.Stderr, Supervisor: []string{"unused"}})
	if err == nil {
		err = l.Serve(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestUpDown starts the lab in a temporary state directory, checks through
// the API that the controller served the demo Services, stops the lab, and
// checks that the state directory and every process of the lab are gone.
func TestUpDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver, etcd and portico-controller; skipped with -short")
	}
	if err := kubeapi.Available(kubeapi.Options{}); err != nil {
		if os.Getenv("PORTICO_REQUIRE_APISERVER") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	l, err := New(Options{
		Dir:          filepath.Join(t.TempDir(), "lab"),
		Out:          &out,
		Supervisor:   []string{self, "-lab-serve"},
		MetricsAddr:  freePort(t),
		ProbeAddr:    freePort(t),
		ReadyTimeout: 45 * time.Second,
		DemoTimeout:  15 * time.Second,
		StopTimeout:  20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	t.Cleanup(func() {
		// After a failure, stop whatever runs; Down is a no-op otherwise.
		if err := l.Down(context.Background()); err != nil {
			t.Error(err)
		}
		t.Logf("lab output:\n%s", out.String())
	})

	start := time.Now()
	if err := l.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("Up took %v", time.Since(start))
	if err := l.Up(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("second Up: got %v, want ErrRunning", err)
	}

	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || !st.Ready || st.Kubeconfig != l.Kubeconfig() {
		t.Errorf("Status = %+v, want running and ready with kubeconfig %s", st, l.Kubeconfig())
	}
	var names []string
	for _, p := range st.Processes {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if want := []string{"etcd", "kube-apiserver", "portico-controller", "supervisor"}; !slices.Equal(names, want) {
		t.Errorf("lab processes %v, want %v", names, want)
	}
	checkDemoServices(ctx, t, l)

	start = time.Now()
	if err := l.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	t.Logf("Down took %v", time.Since(start))
	if _, err := os.Stat(l.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory after Down: %v, want it gone", err)
	}
	for _, p := range st.Processes {
		if alive(p.PID) {
			t.Errorf("%s[%d] still running after Down", p.Name, p.PID)
		}
	}
}

// checkDemoServices reads the demo Services with its own client and checks
// what the controller wrote into their status.
func checkDemoServices(ctx context.Context, t *testing.T, l *Lab) {
	t.Helper()
	c, err := l.newClient()
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) *corev1.Service {
		svc := &corev1.Service{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: name}, svc); err != nil {
			t.Fatalf("Service %s: %v", name, err)
		}
		return svc
	}
	web := ingressIPs(get("web"))
	if !inPools(web, demoRangeV4()) {
		t.Errorf("web has %v, want one address of %s", web, demoRangeV4())
	}
	tcp, udp := ingressIPs(get("dns-tcp")), ingressIPs(get("dns-udp"))
	if !inPools(tcp, demoRangeV4()) || !slices.Equal(tcp, udp) {
		t.Errorf("dns-tcp has %v, dns-udp %v, want one shared address of %s", tcp, udp, demoRangeV4())
	}
	if dual := ingressIPs(get("dual")); !inPools(dual, demoRangeV4(), demoRangeV6()) {
		t.Errorf("dual has %v, want one address of %s and one of %s", dual, demoRangeV4(), demoRangeV6())
	}
	taken := get("wants-taken")
	if ips := ingressIPs(taken); len(ips) != 0 {
		t.Errorf("wants-taken has %v, want none (it requests web's %v)", ips, web)
	}
	cond := meta.FindStatusCondition(taken.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
	if cond == nil || cond.Status != "False" || cond.Reason != v1beta1.ReasonRequestedIPTaken {
		t.Errorf("wants-taken condition %s = %+v, want False with reason %s",
			v1beta1.ServiceConditionIPAssigned, cond, v1beta1.ReasonRequestedIPTaken)
	}
}

// freePort returns a loopback address with a port free right now, so the
// test's controller never clashes with a lab the user is running.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer that Up and the cleanup may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
