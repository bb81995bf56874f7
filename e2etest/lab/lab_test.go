package lab

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/internal/roottier"
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
// the API that the controller served the demo Services and through the
// client namespace that their addresses reach the pods, stops the lab, and
// checks that the state directory, the namespaces and links, and every
// process of the lab are gone.
func TestUpDown(t *testing.T) {
	roottier.Require(t)
	if err := cluster.Available(cluster.Options{}); err != nil {
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
		ReadyTimeout: 60 * time.Second,
		DemoTimeout:  20 * time.Second,
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
	if !st.Running || !st.Ready || st.Kubeconfig != l.Kubeconfig() || st.Prefix == "" {
		t.Errorf("Status = %+v, want running and ready with kubeconfig %s and a prefix", st, l.Kubeconfig())
	}
	var names []string
	for _, p := range st.Processes {
		names = append(names, p.Name+"@"+p.Node)
	}
	slices.Sort(names)
	want := []string{"etcd@", "kube-apiserver@", "kube-proxy@node-1", "kube-proxy@node-2", "kube-proxy@node-3",
		"podserver@node-1", "podserver@node-2", "podserver@node-3", "podserver@node-3", "portico-controller@",
		"portico-speaker@node-1", "portico-speaker@node-2", "portico-speaker@node-3", "supervisor@"}
	if !slices.Equal(names, want) {
		t.Errorf("lab processes %v, want %v", names, want)
	}
	info, err := readReady(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	checkDemoServices(ctx, t, l, info)

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
	for _, args := range [][]string{{"netns", "list"}, {"link", "show"}} {
		b, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, b)
		}
		if strings.Contains(string(b), st.Prefix) {
			t.Errorf("ip %s after Down still lists lab %s:\n%s", strings.Join(args, " "), st.Prefix, b)
		}
	}
}

// checkDemoServices reads the demo Services with its own client, checks
// what the controller wrote into their status, and connects from the
// client namespace through web's and web-local's addresses.
func checkDemoServices(ctx context.Context, t *testing.T, l *Lab, info readyInfo) {
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
	if !inPools(web, info.PoolV4, info.PoolV6) {
		t.Fatalf("web has %v, want one address of %s and one of %s", web, info.PoolV4, info.PoolV6)
	}
	local := ingressIPs(get("web-local"))
	if !inPools(local, info.PoolV4) {
		t.Fatalf("web-local has %v, want one address of %s", local, info.PoolV4)
	}
	tcp, udp := ingressIPs(get("dns-tcp")), ingressIPs(get("dns-udp"))
	if !inPools(tcp, info.PoolV4) || !slices.Equal(tcp, udp) {
		t.Errorf("dns-tcp has %v, dns-udp %v, want one shared address of %s", tcp, udp, info.PoolV4)
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

	// The client reaches a pod through each address, sending to a node's MAC.
	for _, target := range web {
		res, err := l.Dial(ctx, target)
		if err != nil || !strings.HasPrefix(res.Line, "pod=web-") || res.Node == "" {
			t.Errorf("lab dial %s = %+v, %v; want a web pod's line, sent to a node", target, res, err)
		}
	}
	// BGP: the router routes web-bgp via every node, and the client gets
	// through it.
	if info.Router != nil {
		bgpIPs := ingressIPs(get(demoBGPSvc))
		rs, err := l.Routes(ctx)
		if err != nil || len(bgpIPs) != 1 {
			t.Fatalf("%s has %v; lab routes = %v, %v", demoBGPSvc, bgpIPs, rs, err)
		}
		found := false
		for _, r := range rs {
			found = found || r.Prefix.Addr().String() == bgpIPs[0] && len(r.NextHops) == len(info.Nodes) && r.InFIB == len(info.Nodes)
		}
		if !found {
			t.Errorf("lab routes = %v; want %s via all %d nodes, in the FIB", rs, bgpIPs[0], len(info.Nodes))
		}
		if res, err := l.Dial(ctx, bgpIPs[0]); err != nil || !strings.HasPrefix(res.Line, "pod=web-") {
			t.Errorf("lab dial %s = %+v, %v; want a web pod's line", bgpIPs[0], res, err)
		}
	}
	// externalTrafficPolicy Local: the pod on node-3 sees the client's own address.
	res, err := l.Dial(ctx, local[0])
	wantLine := fmt.Sprintf("pod=local-3 node=%s client=%s:", localNode, info.Client.IPv4)
	if err != nil || !strings.HasPrefix(res.Line, wantLine) || res.Node != localNode {
		t.Errorf("lab dial %s = %+v, %v; want %s…, sent to %s", local[0], res, err, wantLine, localNode)
	}
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
