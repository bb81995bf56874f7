package externalservice

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
	"github.com/portico-lb/portico/controller/probe/resolver"
	"github.com/portico-lb/portico/internal/kubeapi"
	"github.com/portico-lb/portico/internal/realserver"
)

// The integration tier: one real kube-apiserver + etcd for the package and
// one controller running this package's reconciler, as in production
// (cache narrowed by CacheByObject). Each test has its own namespace.
// There is no garbage collector in this API server, so deletion is shown
// by the owner references the collector follows.
var (
	restConfig *rest.Config
	k8s        client.Client
	scheme     = runtime.NewScheme()
	running    *Controller
	// stopController stops the running controller (TestRestart replaces it).
	stopController func()
	// resolvers lets a test point the controller's DNS lookups for its
	// names at a real dnsmasq of its own.
	resolvers = &byName{r: map[string]Resolver{}}
)

// byName sends a lookup to the resolver registered for the name.
type byName struct {
	mu sync.Mutex
	r  map[string]Resolver
}

func (b *byName) set(name string, r Resolver) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.r[name] = r
}

func (b *byName) Resolve(ctx context.Context, name string) (resolver.Answer, error) {
	b.mu.Lock()
	r, ok := b.r[name]
	b.mu.Unlock()
	if !ok {
		return resolver.Answer{}, fmt.Errorf("no test resolver for %q", name)
	}
	return r.Resolve(ctx, name)
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return m.Run() // fuzzing needs no API server, and each worker would start one
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return m.Run()
	}
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1beta1.AddToScheme(scheme)
	srv, skip, err := kubeapi.StartForTests(kubeapi.Options{ServiceCIDR: "10.96.0.0/12,fd00:96::/108"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if srv == nil {
		fmt.Println("skipping externalservice integration tests:", skip)
		return m.Run() // the pure tests still run
	}
	defer func() { _ = srv.Stop() }()
	restConfig = srv.Config
	restConfig.QPS, restConfig.Burst = 1000, 2000
	if k8s, err = client.New(restConfig, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv("PORTICO_TEST_LOGS") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	}
	// What a cluster does with Portico's objects: owner references are
	// followed on delete, hand-written Endpoints are mirrored.
	kcm, err := srv.StartControllers("garbage-collector-controller", "endpointslice-mirroring-controller")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = kcm.Stop() }()
	if stopController, err = startController(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { stopController() }()
	return m.Run()
}

func startController() (func(), error) {
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
		Cache:                  cache.Options{ByObject: CacheByObject()},
	})
	if err != nil {
		return nil, err
	}
	if running, err = New(mgr, Options{
		NodeCIDRs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
		Resolver:  resolvers,
		DNS:       probe.DNSPolicy{MinTTL: time.Second, MaxTTL: time.Minute, Grace: 4 * time.Second},
	}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() { cancel(); <-done }, nil
}

func needServer(t *testing.T) {
	t.Helper()
	kubeapi.NeedServer(t, k8s != nil, "the ExternalService reconciler needs an API server")
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "es-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}

// hostAddr is a global unicast address of this machine (targets on
// loopback are refused by design), or fails the test.
func hostAddr(t *testing.T, v6 bool) netip.Addr {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			if ip := p.Addr(); ip.IsGlobalUnicast() && ip.Is6() == v6 {
				return ip
			}
		}
	}
	t.Fatalf("no global unicast address (IPv6 %t) on this machine to run probe targets on", v6)
	return netip.Addr{}
}

// listener is a TCP server on a host address that can be closed and
// reopened on the same port, a target that dies and comes back.
type listener struct {
	mu   sync.Mutex
	addr netip.AddrPort
	l    net.Listener
}

func listen(t *testing.T, ip netip.Addr) *listener {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	ln := &listener{addr: netip.MustParseAddrPort(l.Addr().String()), l: l}
	go accept(l)
	t.Cleanup(ln.close)
	return ln
}

func accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_ = c.Close()
	}
}

func (l *listener) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.l != nil {
		_ = l.l.Close()
		l.l = nil
	}
}

func (l *listener) reopen(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	nl, err := net.Listen("tcp", l.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	l.l = nl
	go accept(nl)
}

// closedPort is a port on ip where nothing listens.
func closedPort(t *testing.T, ip netip.Addr) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(l.Addr().String())
	_ = l.Close()
	return a
}

func fastCheck() v1beta1.HealthCheck {
	return v1beta1.HealthCheck{
		Type: v1beta1.HealthCheckTCP, Interval: metav1.Duration{Duration: time.Second},
		Timeout: metav1.Duration{Duration: 300 * time.Millisecond}, HealthyThreshold: 1, UnhealthyThreshold: 2,
	}
}

func create(t *testing.T, es *v1beta1.ExternalService) {
	t.Helper()
	if err := k8s.Create(context.Background(), es); err != nil {
		t.Fatalf("creating ExternalService %s: %v", es.Name, err)
	}
}

// eventually polls cond every 100ms for up to d, failing with its last
// complaint.
func eventually(t *testing.T, d time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getES(t *testing.T, ns, name string) *v1beta1.ExternalService {
	t.Helper()
	var es v1beta1.ExternalService
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &es); err != nil {
		t.Fatal(err)
	}
	return &es
}

// updateES changes the stored ExternalService with change, again on a
// conflict with the controller's status writes.
func updateES(t *testing.T, ns, name string, change func(*v1beta1.ExternalService)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		es := getES(t, ns, name)
		change(es)
		return k8s.Update(context.Background(), es)
	})
	if err != nil {
		t.Fatalf("updating ExternalService %s/%s: %v", ns, name, err)
	}
}

// slicesOf returns "address=ready" per endpoint of Portico's slices for
// name, sorted, and the slices.
func slicesOf(t *testing.T, ns, name string) ([]string, []discoveryv1.EndpointSlice) {
	t.Helper()
	var list discoveryv1.EndpointSliceList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: v1beta1.ExternalServiceManagedBy,
	}); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			out = append(out, fmt.Sprintf("%s:%d=%t", e.Addresses[0], *s.Ports[0].Port, *e.Conditions.Ready))
		}
	}
	slices.Sort(out)
	return out, list.Items
}

// mirrored counts the EndpointSlices the mirroring controller made for
// name from an Endpoints object.
func mirrored(t *testing.T, ns, name string) int {
	t.Helper()
	var list discoveryv1.EndpointSliceList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "endpointslicemirroring-controller.k8s.io",
	}); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

func want(items ...string) string {
	slices.Sort(items)
	return strings.Join(items, ",")
}

// TestOwnedObjects: a Service, slices, an Endpoints and a status that say
// what the probes found, owned by the ExternalService.
func TestOwnedObjects(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	ip := hostAddr(t, false)
	live := listen(t, ip)
	dead := closedPort(t, ip)
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mysql-test"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports: []v1beta1.ExternalServicePort{{Name: "mysql", Port: 3306, TargetPort: int32(live.addr.Port())}},
			Endpoints: []v1beta1.ExternalEndpoint{
				{Address: ip.String()},
				{Address: ip.String(), Port: int32(dead.Port())},
			},
			HealthCheck: fastCheck(), EndpointsObject: true,
		},
	}
	create(t, es)
	wantSlices := want(live.addr.String()+"=true", dead.String()+"=false")
	eventually(t, 10*time.Second, func() string {
		got, _ := slicesOf(t, ns, es.Name)
		if strings.Join(got, ",") != wantSlices {
			return fmt.Sprintf("slices list %v, want %s", got, wantSlices)
		}
		return ""
	})
	_, items := slicesOf(t, ns, es.Name)
	for _, s := range items {
		if s.Labels[discoveryv1.LabelManagedBy] != v1beta1.ExternalServiceManagedBy || !metav1.IsControlledBy(&s, getES(t, ns, es.Name)) {
			t.Errorf("slice %s: labels %v, owners %v", s.Name, s.Labels, s.OwnerReferences)
		}
	}

	var svc corev1.Service
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(es), &svc); err != nil {
		t.Fatal(err)
	}
	got := getES(t, ns, es.Name)
	if !metav1.IsControlledBy(&svc, got) || len(svc.Spec.Selector) != 0 || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Errorf("Service: owners %v, selector %v, clusterIP %q", svc.OwnerReferences, svc.Spec.Selector, svc.Spec.ClusterIP)
	}
	if p := svc.Spec.Ports; len(p) != 1 || p[0].Port != 3306 || p[0].TargetPort.IntValue() != int(live.addr.Port()) {
		t.Errorf("Service ports %+v", p)
	}

	eventually(t, 5*time.Second, func() string {
		var ep corev1.Endpoints
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(es), &ep); err != nil {
			return err.Error()
		}
		if ep.Labels[discoveryv1.LabelSkipMirror] != "true" {
			return fmt.Sprintf("Endpoints labels %v lack skip-mirror", ep.Labels)
		}
		var ready, notReady []string
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				ready = append(ready, fmt.Sprintf("%s:%d", a.IP, s.Ports[0].Port))
			}
			for _, a := range s.NotReadyAddresses {
				notReady = append(notReady, fmt.Sprintf("%s:%d", a.IP, s.Ports[0].Port))
			}
		}
		if want(ready...) != live.addr.String() || want(notReady...) != dead.String() {
			return fmt.Sprintf("Endpoints ready %v, not ready %v", ready, notReady)
		}
		return ""
	})

	eventually(t, 5*time.Second, func() string {
		got := getES(t, ns, es.Name)
		c := meta.FindStatusCondition(got.Status.Conditions, ConditionReady)
		if c == nil || c.Reason != v1beta1.ReasonPartlyHealthy || got.Status.ReadyTargets != 1 {
			return fmt.Sprintf("status %+v", got.Status)
		}
		dt := got.Status.Endpoints[1].Targets
		if len(dt) != 1 || dt[0].Health != v1beta1.TargetUnhealthy || !strings.Contains(dt[0].LastError, "refused") || dt[0].LastProbeTime == nil {
			return fmt.Sprintf("dead target status %+v", dt)
		}
		return ""
	})

	// Portico's Endpoints carries skip-mirror: the cluster does not mirror
	// it into slices beside Portico's.
	time.Sleep(time.Second)
	if n := mirrored(t, ns, es.Name); n != 0 {
		t.Errorf("%d mirrored slices of Portico's Endpoints", n)
	}

	// The metrics say the same: one ready target, probes measured, the
	// dead one's failures counted.
	if n := testutil.ToFloat64(running.metrics.ready.WithLabelValues(ns, es.Name)); n != 1 {
		t.Errorf("portico_external_ready_targets{%s/%s} = %v, want 1", ns, es.Name, n)
	}
	var tcp dto.Metric
	if err := running.metrics.latency.WithLabelValues(string(v1beta1.HealthCheckTCP)).(prometheus.Histogram).Write(&tcp); err != nil {
		t.Fatal(err)
	}
	if n := tcp.GetHistogram().GetSampleCount(); n == 0 {
		t.Error("no TCP probe latency observed")
	}
	if n := testutil.ToFloat64(running.metrics.failures.WithLabelValues(string(v1beta1.HealthCheckTCP), "failure")); n < 2 {
		t.Errorf("TCP probe failures = %v, want at least the dead target's 2", n)
	}

	// Turning the Endpoints object off removes it.
	updateES(t, ns, es.Name, func(es *v1beta1.ExternalService) { es.Spec.EndpointsObject = false })
	eventually(t, 5*time.Second, func() string {
		var ep corev1.Endpoints
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(es), &ep); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("Endpoints still there (%v)", err)
		}
		return ""
	})
}

// TestTransitionsAndQuiet: a target that dies is unready after the
// threshold and ready again when it returns; one slice write per
// transition, and none at all while nothing changes.
func TestTransitionsAndQuiet(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	ip := hostAddr(t, false)
	live := listen(t, ip)
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "redis"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:       []v1beta1.ExternalServicePort{{Port: 6379, TargetPort: int32(live.addr.Port())}},
			Endpoints:   []v1beta1.ExternalEndpoint{{Address: ip.String()}},
			HealthCheck: fastCheck(),
		},
	}
	create(t, es)
	isReady := func(ready bool) func() string {
		return func() string {
			got, _ := slicesOf(t, ns, es.Name)
			if w := fmt.Sprintf("%s=%t", live.addr, ready); strings.Join(got, ",") != w {
				return fmt.Sprintf("slices %v, want %s", got, w)
			}
			return ""
		}
	}
	eventually(t, 10*time.Second, isReady(true))
	eventually(t, 5*time.Second, func() string {
		if getES(t, ns, es.Name).Status.ReadyTargets != 1 {
			return "status not ready yet"
		}
		return ""
	})

	// Steady: five probe intervals change nothing.
	versions := func() string {
		_, items := slicesOf(t, ns, es.Name)
		var svc corev1.Service
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(es), &svc); err != nil {
			t.Fatal(err)
		}
		v := []string{getES(t, ns, es.Name).ResourceVersion, svc.ResourceVersion}
		for _, s := range items {
			v = append(v, s.ResourceVersion)
		}
		return strings.Join(v, ",")
	}
	before := versions()
	time.Sleep(5 * time.Second)
	if after := versions(); after != before {
		t.Errorf("resource versions changed while nothing changed: %s → %s", before, after)
	}

	_, items := slicesOf(t, ns, es.Name)
	sliceVersion := items[0].ResourceVersion
	live.close()
	eventually(t, 10*time.Second, isReady(false))
	_, items = slicesOf(t, ns, es.Name)
	if items[0].Generation != 0 && items[0].ResourceVersion == sliceVersion {
		t.Errorf("slice not rewritten")
	}
	downVersion := items[0].ResourceVersion
	time.Sleep(3 * time.Second) // more failed probes: no more writes
	if _, items = slicesOf(t, ns, es.Name); items[0].ResourceVersion != downVersion {
		t.Errorf("slice rewritten while the target stayed down")
	}
	live.reopen(t)
	eventually(t, 10*time.Second, isReady(true))
}

// TestDualStackAndSplit: more than 1000 targets of both families are split
// into slices of 100 per family, and shrinking removes the extra slices.
func TestDualStackAndSplit(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "many"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:       []v1beta1.ExternalServicePort{{Port: 80}},
			HealthCheck: v1beta1.HealthCheck{Type: v1beta1.HealthCheckNone},
		},
	}
	for i := range 1050 {
		es.Spec.Endpoints = append(es.Spec.Endpoints, v1beta1.ExternalEndpoint{Address: fmt.Sprintf("198.51.%d.%d", i/250, i%250+1)})
	}
	for i := range 3 {
		es.Spec.Endpoints = append(es.Spec.Endpoints, v1beta1.ExternalEndpoint{Address: fmt.Sprintf("2001:db8::%x", i+1)})
	}
	create(t, es)
	count := func(v4Slices, v6Slices, endpoints int) func() string {
		return func() string {
			got, items := slicesOf(t, ns, es.Name)
			var v4, v6 int
			for _, s := range items {
				if len(s.Endpoints) > 100 {
					return fmt.Sprintf("slice %s has %d endpoints", s.Name, len(s.Endpoints))
				}
				if s.AddressType == discoveryv1.AddressTypeIPv4 {
					v4++
				} else {
					v6++
				}
			}
			if v4 != v4Slices || v6 != v6Slices || len(got) != endpoints {
				return fmt.Sprintf("%d IPv4 and %d IPv6 slices with %d endpoints, want %d, %d, %d", v4, v6, len(got), v4Slices, v6Slices, endpoints)
			}
			return ""
		}
	}
	eventually(t, 20*time.Second, count(11, 1, 1053))
	var svc corev1.Service
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(es), &svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.ClusterIPs) != 2 {
		t.Errorf("Service ClusterIPs %v, want one per family (PreferDualStack)", svc.Spec.ClusterIPs)
	}
	updateES(t, ns, es.Name, func(es *v1beta1.ExternalService) {
		es.Spec.Endpoints = append(es.Spec.Endpoints[:150], es.Spec.Endpoints[1050:]...)
	})
	eventually(t, 20*time.Second, count(2, 1, 153))
}

// TestNotOwnedAndAdoption: a hand-written Service + Endpoints pair is left
// alone with a clear condition, then taken over on request keeping its
// ClusterIP; the hand-written Endpoints goes only after the slices exist.
func TestNotOwnedAndAdoption(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mysql-test"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 3306}}},
	}
	if err := k8s.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mysql-test"},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "192.0.2.32"}},
			Ports:     []corev1.EndpointPort{{Port: 3306}},
		}},
	}
	if err := k8s.Create(ctx, ep); err != nil {
		t.Fatal(err)
	}
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mysql-test"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:       []v1beta1.ExternalServicePort{{Port: 3306}},
			Endpoints:   []v1beta1.ExternalEndpoint{{Address: "192.0.2.32"}},
			HealthCheck: v1beta1.HealthCheck{Type: v1beta1.HealthCheckNone},
		},
	}
	create(t, es)
	eventually(t, 5*time.Second, func() string {
		c := meta.FindStatusCondition(getES(t, ns, es.Name).Status.Conditions, ConditionReady)
		if c == nil || c.Reason != v1beta1.ReasonNotOwned || !strings.Contains(c.Message, v1beta1.AnnotationAdopt) {
			return fmt.Sprintf("Ready condition %+v, want NotOwned naming %s", c, v1beta1.AnnotationAdopt)
		}
		return ""
	})
	if got, _ := slicesOf(t, ns, es.Name); len(got) != 0 {
		t.Errorf("slices written for a Service Portico does not own: %v", got)
	}
	// The cluster mirrors the hand-written Endpoints, as before Portico.
	eventually(t, 10*time.Second, func() string {
		if mirrored(t, ns, es.Name) == 0 {
			return "no mirrored slice for the hand-written Endpoints"
		}
		return ""
	})
	var now corev1.Service
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(svc), &now); err != nil {
		t.Fatal(err)
	}
	if len(now.OwnerReferences) != 0 {
		t.Errorf("hand-written Service changed: owners %v", now.OwnerReferences)
	}

	updateES(t, ns, es.Name, func(es *v1beta1.ExternalService) {
		es.Annotations = map[string]string{v1beta1.AnnotationAdopt: "true"}
	})
	eventually(t, 5*time.Second, func() string {
		var ep corev1.Endpoints
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(svc), &ep); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("hand-written Endpoints still there (%v)", err)
		}
		return ""
	})
	if got, _ := slicesOf(t, ns, es.Name); strings.Join(got, ",") != "192.0.2.32:3306=true" {
		t.Errorf("after adoption slices %v", got)
	}
	eventually(t, 10*time.Second, func() string {
		if n := mirrored(t, ns, es.Name); n != 0 {
			return fmt.Sprintf("%d mirrored slices left after the hand-written Endpoints went", n)
		}
		return ""
	})
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(svc), &now); err != nil {
		t.Fatal(err)
	}
	if now.Spec.ClusterIP != svc.Spec.ClusterIP || !metav1.IsControlledBy(&now, getES(t, ns, es.Name)) {
		t.Errorf("adopted Service: clusterIP %s (was %s), owners %v", now.Spec.ClusterIP, svc.Spec.ClusterIP, now.OwnerReferences)
	}
	eventually(t, 5*time.Second, func() string {
		c := meta.FindStatusCondition(getES(t, ns, es.Name).Status.Conditions, ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Sprintf("Ready condition %+v after adoption", c)
		}
		return ""
	})
}

// TestAdoptionRefusesSelectorService: a Service with a selector is
// Kubernetes' to fill, so even with adopt it is left alone.
func TestAdoptionRefusesSelectorService(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if err := k8s.Create(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	create(t, &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Annotations: map[string]string{v1beta1.AnnotationAdopt: "true"}},
		Spec: v1beta1.ExternalServiceSpec{
			Ports: []v1beta1.ExternalServicePort{{Port: 80}}, Endpoints: []v1beta1.ExternalEndpoint{{Address: "192.0.2.40"}},
			HealthCheck: v1beta1.HealthCheck{Type: v1beta1.HealthCheckNone},
		},
	})
	eventually(t, 5*time.Second, func() string {
		c := meta.FindStatusCondition(getES(t, ns, "web").Status.Conditions, ConditionReady)
		if c == nil || c.Reason != v1beta1.ReasonNotOwned || !strings.Contains(c.Message, "selector") {
			return fmt.Sprintf("Ready condition %+v, want NotOwned about the selector", c)
		}
		return ""
	})
}

// TestRefusedTargets: targets in the cluster's Service range (read from
// the ServiceCIDR objects) and in a configured node range are refused,
// named in status, and never published.
func TestRefusedTargets(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sneaky"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports: []v1beta1.ExternalServicePort{{Port: 443}},
			Endpoints: []v1beta1.ExternalEndpoint{
				{Address: "10.96.0.1"}, {Address: "203.0.113.9"}, {Address: "192.0.2.50"},
			},
			HealthCheck: v1beta1.HealthCheck{Type: v1beta1.HealthCheckNone},
		},
	}
	create(t, es)
	eventually(t, 10*time.Second, func() string {
		st := getES(t, ns, es.Name).Status
		c := meta.FindStatusCondition(st.Conditions, v1beta1.ConditionEndpointsRefused)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "10.96.0.1") ||
			!strings.Contains(c.Message, "Service range") || !strings.Contains(c.Message, "node range 203.0.113.0/24") {
			return fmt.Sprintf("EndpointsRefused %+v", c)
		}
		if got, _ := slicesOf(t, ns, es.Name); strings.Join(got, ",") != "192.0.2.50:443=true" {
			return fmt.Sprintf("slices %v", got)
		}
		if h := st.Endpoints[0].Targets[0].Health; h != v1beta1.TargetRefused {
			return fmt.Sprintf("10.96.0.1 health %s", h)
		}
		return ""
	})
}

// TestCredentialsProblems: a missing Secret and one without the consent
// label are reported by name, and nothing is published.
func TestCredentialsProblems(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:     []v1beta1.ExternalServicePort{{Port: 3306}},
			Endpoints: []v1beta1.ExternalEndpoint{{Address: "192.0.2.60"}},
			HealthCheck: v1beta1.HealthCheck{Type: v1beta1.HealthCheckMySQL, Interval: metav1.Duration{Duration: time.Second},
				Timeout: metav1.Duration{Duration: 300 * time.Millisecond}, CredentialsSecret: &v1beta1.LocalSecretReference{Name: "creds"}},
		},
	}
	create(t, es)
	readyMessage := func(sub string) func() string {
		return func() string {
			c := meta.FindStatusCondition(getES(t, ns, es.Name).Status.Conditions, ConditionReady)
			if c == nil || c.Reason != v1beta1.ReasonCredentialsUnavailable || !strings.Contains(c.Message, sub) {
				return fmt.Sprintf("Ready condition %+v, want CredentialsUnavailable mentioning %q", c, sub)
			}
			return ""
		}
	}
	eventually(t, 5*time.Second, readyMessage("Secret "+ns+"/creds not found"))
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"}, StringData: map[string]string{"username": "u", "password": "p"}}
	if err := k8s.Create(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	// Secrets are not watched: nudge the ExternalService instead of waiting
	// for the periodic recheck.
	updateES(t, ns, es.Name, func(es *v1beta1.ExternalService) { es.Labels = map[string]string{"nudge": "1"} })
	eventually(t, 5*time.Second, readyMessage(v1beta1.LabelCredentials+"=true"))
	if s, _ := slicesOf(t, ns, es.Name); strings.Contains(strings.Join(s, ","), "=true") {
		t.Errorf("published as ready without credentials: %v", s)
	}
}

// TestEventsOnTransitionsOnly: each target turning healthy is named in one
// Event, never repeated while nothing changes, also when both targets of
// an ExternalService share an address (Events name the address:port).
func TestEventsOnTransitionsOnly(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	ip := hostAddr(t, false)
	a, b := listen(t, ip), listen(t, ip)
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pair"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:       []v1beta1.ExternalServicePort{{Port: 6379}},
			Endpoints:   []v1beta1.ExternalEndpoint{{Address: ip.String(), Port: int32(a.addr.Port())}, {Address: ip.String(), Port: int32(b.addr.Port())}},
			HealthCheck: fastCheck(),
		},
	}
	es.Spec.HealthCheck.HealthyThreshold = 2
	create(t, es)
	// A second ExternalService on the other listener, so that two
	// ExternalServices turn healthy at about the same time.
	other := es.DeepCopy()
	other.Name, other.ResourceVersion = "pair-b", ""
	create(t, other)
	for _, name := range []string{"pair", "pair-b"} {
		eventually(t, 10*time.Second, func() string {
			if getES(t, ns, name).Status.ReadyTargets != 2 {
				return name + " not ready"
			}
			return ""
		})
	}
	// Occurrences of TargetHealthy per ExternalService (an Event of a
	// series counts its series), and the addresses the notes name.
	healthy := func() (map[string]int32, map[string]int) {
		var list eventsv1.EventList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		count, named := map[string]int32{}, map[string]int{}
		for _, e := range list.Items {
			if e.Reason != "TargetHealthy" {
				continue
			}
			n := int32(1)
			if e.Series != nil {
				n = e.Series.Count
			}
			count[e.Regarding.Name] += n
			for _, l := range []*listener{a, b} {
				if strings.Contains(e.Note, l.addr.String()) {
					named[e.Regarding.Name]++
				}
			}
		}
		return count, named
	}
	time.Sleep(2 * time.Second) // the recorder sends asynchronously
	count, named := healthy()
	for _, name := range []string{"pair", "pair-b"} {
		// Both targets turning healthy in one status write are one Event
		// naming both; in two writes, two occurrences (events.k8s.io keeps
		// the first note of a series). Never more.
		if !(count[name] == 1 && named[name] == 2) && !(count[name] == 2 && named[name] >= 1) {
			t.Errorf("%s: %d TargetHealthy occurrences naming %d targets, want 1 naming both or 2", name, count[name], named[name])
		}
	}
	time.Sleep(3 * time.Second)
	if again, _ := healthy(); again["pair"] != count["pair"] || again["pair-b"] != count["pair-b"] {
		t.Errorf("TargetHealthy recorded again while nothing changed: %v then %v", count, again)
	}
}

// TestDNSName: a name served by a real dnsmasq is resolved to both its
// addresses, a changed answer is followed on its TTL, and a name that
// stops resolving keeps its last addresses for the grace period, then
// loses them — each step said in status.
func TestDNSName(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	name := "db-" + ns + ".test."
	a1, a2, a3 := netip.MustParseAddr("192.0.2.71"), netip.MustParseAddr("192.0.2.72"), netip.MustParseAddr("192.0.2.73")
	d := realserver.StartDNS(t, realserver.DNSOptions{TTL: time.Second, Records: map[string][]netip.Addr{name: {a1, a2}}})
	resolvers.set(name, resolver.New(resolver.Options{ResolvConf: d.ResolvConf(t), Port: d.Addr.Port()}))
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "byname"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:       []v1beta1.ExternalServicePort{{Port: 5432}},
			Endpoints:   []v1beta1.ExternalEndpoint{{Address: name}},
			HealthCheck: v1beta1.HealthCheck{Type: v1beta1.HealthCheckNone},
		},
	}
	create(t, es)
	slicesAre := func(w string) func() string {
		return func() string {
			if got, _ := slicesOf(t, ns, es.Name); strings.Join(got, ",") != w {
				return fmt.Sprintf("slices %v, want %s", got, w)
			}
			return ""
		}
	}
	eventually(t, 10*time.Second, slicesAre(want("192.0.2.71:5432=true", "192.0.2.72:5432=true")))
	st := getES(t, ns, es.Name).Status.Endpoints[0]
	if len(st.Targets) != 2 || st.ResolvedAt == nil || st.Message != "" {
		t.Errorf("status of the name: %+v", st)
	}

	d.SetRecords(t, map[string][]netip.Addr{name: {a3}})
	eventually(t, 10*time.Second, slicesAre("192.0.2.73:5432=true"))

	d.Kill()
	eventually(t, 10*time.Second, func() string {
		m := getES(t, ns, es.Name).Status.Endpoints[0].Message
		if !strings.Contains(m, "keeping the last addresses until") {
			return fmt.Sprintf("message %q, want the grace period said", m)
		}
		if got, _ := slicesOf(t, ns, es.Name); strings.Join(got, ",") != "192.0.2.73:5432=true" {
			return fmt.Sprintf("slices %v during the grace period", got)
		}
		return ""
	})
	eventually(t, 15*time.Second, func() string {
		st := getES(t, ns, es.Name).Status.Endpoints[0]
		if !strings.HasPrefix(st.Message, "does not resolve") || len(st.Targets) != 0 {
			return fmt.Sprintf("after the grace period: %+v", st)
		}
		return slicesAre("")()
	})
}

// TestRestartKeepsVerdicts: a restarted controller (or a new leader)
// starts from the verdicts in status: a ready target stays ready while the
// first probes run, and nothing is rewritten.
func TestRestartKeepsVerdicts(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	ip := hostAddr(t, false)
	live := listen(t, ip)
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "steady"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:       []v1beta1.ExternalServicePort{{Port: 6379, TargetPort: int32(live.addr.Port())}},
			Endpoints:   []v1beta1.ExternalEndpoint{{Address: ip.String()}},
			HealthCheck: fastCheck(),
		},
	}
	es.Spec.HealthCheck.HealthyThreshold = 3 // Pending would last 2–3 s
	create(t, es)
	eventually(t, 10*time.Second, func() string {
		if getES(t, ns, es.Name).Status.ReadyTargets != 1 {
			return "not ready yet"
		}
		return ""
	})
	versions := func() string {
		got, items := slicesOf(t, ns, es.Name)
		v := []string{getES(t, ns, es.Name).ResourceVersion, strings.Join(got, ",")}
		for _, s := range items {
			v = append(v, s.ResourceVersion)
		}
		return strings.Join(v, " ")
	}
	before := versions()
	stopController()
	var err error
	if stopController, err = startController(); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		time.Sleep(500 * time.Millisecond)
		if now := versions(); now != before {
			t.Fatalf("after a restart: %s, was %s", now, before)
		}
	}
}

// TestDeleteCleansUp: deleting the ExternalService removes its Service,
// slices and Endpoints (the garbage collector follows the owner
// references).
func TestDeleteCleansUp(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gone"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:       []v1beta1.ExternalServicePort{{Port: 80}},
			Endpoints:   []v1beta1.ExternalEndpoint{{Address: "192.0.2.80"}, {Address: "2001:db8::80"}},
			HealthCheck: v1beta1.HealthCheck{Type: v1beta1.HealthCheckNone}, EndpointsObject: true,
		},
	}
	create(t, es)
	key := client.ObjectKeyFromObject(es)
	eventually(t, 10*time.Second, func() string {
		if got, _ := slicesOf(t, ns, es.Name); len(got) != 2 {
			return fmt.Sprintf("slices %v", got)
		}
		if err := k8s.Get(context.Background(), key, &corev1.Endpoints{}); err != nil {
			return "Endpoints: " + err.Error()
		}
		return ""
	})
	if err := k8s.Delete(context.Background(), getES(t, ns, es.Name)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() string {
		if got, _ := slicesOf(t, ns, es.Name); len(got) != 0 {
			return fmt.Sprintf("slices left: %v", got)
		}
		for _, obj := range []client.Object{&corev1.Service{}, &corev1.Endpoints{}} {
			if err := k8s.Get(context.Background(), key, obj); !apierrors.IsNotFound(err) {
				return fmt.Sprintf("%T left (%v)", obj, err)
			}
		}
		return ""
	})
}

// TestHeadless: spec.headless makes the owned Service headless, and
// turning it off replaces the Service with one that has a ClusterIP.
func TestHeadless(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "direct"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:       []v1beta1.ExternalServicePort{{Port: 5432}},
			Endpoints:   []v1beta1.ExternalEndpoint{{Address: "192.0.2.90"}},
			HealthCheck: v1beta1.HealthCheck{Type: v1beta1.HealthCheckNone},
			Headless:    true,
		},
	}
	create(t, es)
	clusterIP := func(want func(string) bool, what string) {
		t.Helper()
		eventually(t, 10*time.Second, func() string {
			var svc corev1.Service
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(es), &svc); err != nil {
				return err.Error()
			}
			if !want(svc.Spec.ClusterIP) {
				return fmt.Sprintf("clusterIP %q, want %s", svc.Spec.ClusterIP, what)
			}
			return ""
		})
	}
	clusterIP(func(ip string) bool { return ip == corev1.ClusterIPNone }, "None")
	eventually(t, 10*time.Second, func() string {
		if got, _ := slicesOf(t, ns, es.Name); strings.Join(got, ",") != "192.0.2.90:5432=true" {
			return fmt.Sprintf("slices of the headless Service: %v", got)
		}
		return ""
	})
	updateES(t, ns, es.Name, func(es *v1beta1.ExternalService) { es.Spec.Headless = false })
	clusterIP(func(ip string) bool { _, err := netip.ParseAddr(ip); return err == nil }, "an address")
}
