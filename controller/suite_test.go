package controller_test

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller"
	"github.com/portico-lb/portico/internal/kubeapi"
)

// The integration tier runs against one real kube-apiserver + etcd per
// package. Each test gets its own namespace and pools restricted to it, so
// tests do not see each other's addresses.
var (
	restConfig *rest.Config
	k8s        client.Client
	scheme     = runtime.NewScheme()
	subnetSeq  atomic.Int32
)

const systemNamespace = "portico-system"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1beta1.AddToScheme(scheme)
	srv, skip, err := kubeapi.StartForTests(kubeapi.Options{ServiceCIDR: "10.96.0.0/12,fd00:96::/108"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if srv == nil {
		fmt.Println("skipping controller integration tests:", skip)
		return 0
	}
	defer func() { _ = srv.Stop() }()
	restConfig = srv.Config
	restConfig.QPS, restConfig.Burst = 1000, 2000
	k8s, err = client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv("PORTICO_TEST_LOGS") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	}
	return m.Run()
}

// startController runs a controller until the test ends (or stop is called).
func startController(t *testing.T) (stop func()) {
	t.Helper()
	stop, _ = startManager(t, nil)
	return stop
}

// startManager is startController with the manager's options changed by
// opts (when not nil); it also returns the manager.
func startManager(t *testing.T, opts func(*ctrl.Options)) (stop func(), mgr ctrl.Manager) {
	t.Helper()
	o := ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Tests start a fresh controller each; the names repeat by design.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	}
	if opts != nil {
		opts(&o)
	}
	mgr, err := ctrl.NewManager(restConfig, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controller.Setup(mgr, controller.Options{Namespace: systemNamespace, PoolStatusInterval: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var stopped atomic.Bool
	stop = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("controller: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("controller did not stop in 30s")
		}
	}
	t.Cleanup(stop)
	return stop, mgr
}

// newNamespace creates a namespace for one test, with optional labels.
func newNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-", Labels: labels}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}

// subnet4 returns a fresh IPv4 /24 no other test uses, and subnet6 an IPv6 /120.
func subnet4() string {
	n := subnetSeq.Add(1)
	return fmt.Sprintf("10.%d.%d.0/24", 100+n/256, n%256)
}

func subnet6() string {
	n := subnetSeq.Add(1)
	return fmt.Sprintf("fd00:%x::/120", 0x1000+n)
}

// newPool creates a pool for the test's namespace (unless spec already
// restricts namespaces) and deletes it at the end.
func newPool(t *testing.T, ns string, spec v1beta1.IPAddressPoolSpec) *v1beta1.IPAddressPool {
	t.Helper()
	if spec.AllocateTo == nil {
		spec.AllocateTo = &v1beta1.ServiceAllocation{}
	}
	if len(spec.AllocateTo.Namespaces) == 0 && len(spec.AllocateTo.NamespaceSelectors) == 0 && ns != "" {
		spec.AllocateTo.Namespaces = []string{ns}
	}
	p := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{GenerateName: "pool-"}, Spec: spec}
	if err := k8s.Create(context.Background(), p); err != nil {
		t.Fatalf("creating pool: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })
	return p
}

type serviceOption func(*corev1.Service)

func withAnnotation(k, v string) serviceOption {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}

func withPort(proto corev1.Protocol, port int32) serviceOption {
	return func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: strings.ToLower(fmt.Sprintf("p%d-%s", port, proto)), Protocol: proto, Port: port})
	}
}

func withFamilies(policy corev1.IPFamilyPolicy, fams ...corev1.IPFamily) serviceOption {
	return func(s *corev1.Service) {
		s.Spec.IPFamilyPolicy = &policy
		s.Spec.IPFamilies = fams
	}
}

func withLabels(l map[string]string) serviceOption {
	return func(s *corev1.Service) { s.Labels = l }
}

// newService creates a LoadBalancer Service; without ports it gets TCP/80.
func newService(t *testing.T, ns, name string, opts ...serviceOption) *corev1.Service {
	t.Helper()
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name}},
	}
	for _, o := range opts {
		o(s)
	}
	if len(s.Spec.Ports) == 0 {
		withPort(corev1.ProtocolTCP, 80)(s)
	}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatalf("creating service %s/%s: %v", ns, name, err)
	}
	return s
}

func getService(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	var s corev1.Service
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// eventually polls cond every 50ms for up to 20s.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last seen: %s", what, last)
}

// waitAssigned waits until the Service's condition is status/reason and
// returns the Service.
func waitCondition(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) *corev1.Service {
	t.Helper()
	var svc *corev1.Service
	eventually(t, fmt.Sprintf("%s/%s condition %s=%s (%s)", ns, name, v1beta1.ServiceConditionIPAssigned, status, reason), func() (bool, string) {
		svc = getService(t, ns, name)
		c := meta.FindStatusCondition(svc.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
		if c == nil {
			return false, "no condition"
		}
		return c.Status == status && c.Reason == reason, fmt.Sprintf("%s %s: %s; ingress %v", c.Status, c.Reason, c.Message, ingressIPs(svc))
	})
	return svc
}

func waitAssigned(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	return waitCondition(t, ns, name, metav1.ConditionTrue, v1beta1.ReasonAssigned)
}

func ingressIPs(svc *corev1.Service) []string {
	var out []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		out = append(out, in.IP)
	}
	return out
}

func mustPrefixContain(t *testing.T, cidr, ip string) {
	t.Helper()
	p := netip.MustParsePrefix(cidr)
	a, err := netip.ParseAddr(ip)
	if err != nil || !p.Contains(a) {
		t.Fatalf("address %q is not in %s", ip, cidr)
	}
}

// waitEvent waits for an Event with reason on the named object.
func waitEvent(t *testing.T, ns, name, reason string) {
	t.Helper()
	eventually(t, fmt.Sprintf("event %s on %s/%s", reason, ns, name), func() (bool, string) {
		var list eventsv1.EventList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Reason == reason {
				return true, ""
			}
			seen = append(seen, e.Regarding.Name+":"+e.Reason)
		}
		return false, fmt.Sprintf("events %v", seen)
	})
}

func deleteObject(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func update[T client.Object](t *testing.T, obj T, mutate func(T)) {
	t.Helper()
	for range 10 {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		mutate(obj)
		err := k8s.Update(context.Background(), obj)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatal("update kept conflicting")
}
