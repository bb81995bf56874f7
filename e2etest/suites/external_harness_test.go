package suites

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
	"github.com/portico-lb/portico/internal/realserver"
)

// The ExternalService suite's harness: database hosts on the shared
// cluster's lab, one Kubernetes namespace per test, the owned objects as
// the tests read them, and the one piece of kube-controller-manager the
// adoption test needs.

// labHosts are the hosts added to the shared cluster's lab. netlab has no
// RemoveHost, so a host outlives the test that added it and a second run
// in the same process (-count=2) takes it over instead of clashing on its
// ID.
var labHosts struct {
	mu    sync.Mutex
	hosts map[string]*netlab.Host
}

// clusterHost returns host name (ID id) of c's lab, adding it on first use,
// with the Place for a real server on it.
func clusterHost(t *testing.T, c *cluster.Cluster, name string, id int) (*netlab.Host, realserver.Place) {
	t.Helper()
	labHosts.mu.Lock()
	defer labHosts.mu.Unlock()
	h := labHosts.hosts[name]
	if h == nil {
		var pl realserver.Place
		h, pl = dbHost(t, c.Lab, name, id)
		if labHosts.hosts == nil {
			labHosts.hosts = map[string]*netlab.Host{}
		}
		labHosts.hosts[name] = h
		return h, pl
	}
	return h, realserver.Place{NetNS: h.NetNSPath(), Addrs: []netip.Addr{h.IPv4, h.IPv6}}
}

// extTest is one ExternalService test's share of the cluster: its own
// Kubernetes namespace and the clean-up of what it created there.
type extTest struct {
	t   *testing.T
	c   *cluster.Cluster
	ctx context.Context
	ns  string
}

// newExtTest creates t's namespace. At the end of t, after the logged
// diagnostics if t failed, every ExternalService t created is deleted with
// the Service, EndpointSlices and Endpoints of its name: the lab runs no
// garbage collector to follow the owner references.
func newExtTest(t *testing.T, c *cluster.Cluster) *extTest {
	t.Helper()
	x := &extTest{t: t, c: c, ctx: t.Context()}
	x.ns = strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(t.Name(), "TestExternalService/"), "/", "-"))
	if len(x.ns) > 40 {
		x.ns = x.ns[:40]
	}
	x.ns = strings.Trim(x.ns, "-") + fmt.Sprintf("-%d", time.Now().UnixMilli()%100000)
	if err := c.Client.Create(x.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: x.ns}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if t.Failed() {
			var b strings.Builder
			c.Diagnose(ctx, &b, 30)
			t.Logf("diagnostics:\n%s", b.String())
		}
		var list v1beta1.ExternalServiceList
		if err := c.Client.List(ctx, &list, client.InNamespace(x.ns)); err != nil {
			t.Errorf("clean-up: %v", err)
			return
		}
		for i := range list.Items {
			if err := x.deleteAll(ctx, list.Items[i].Name); err != nil {
				t.Errorf("clean-up: %v", err)
			}
		}
	})
	return x
}

// deleteAll deletes the ExternalService name and the objects of its name.
func (x *extTest) deleteAll(ctx context.Context, name string) error {
	key := metav1.ObjectMeta{Namespace: x.ns, Name: name}
	var errs []error
	for _, obj := range []client.Object{&v1beta1.ExternalService{ObjectMeta: key}, &corev1.Service{ObjectMeta: key}, &corev1.Endpoints{ObjectMeta: key}} {
		if err := x.c.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %T %s: %w", obj, name, err))
		}
	}
	err := x.c.Client.DeleteAllOf(ctx, &discoveryv1.EndpointSlice{}, client.InNamespace(x.ns),
		client.MatchingLabels{discoveryv1.LabelServiceName: name})
	return errors.Join(append(errs, err)...)
}

// fastCheck is the suite's health check: a verdict within seconds.
func fastCheck(typ v1beta1.HealthCheckType) v1beta1.HealthCheck {
	return v1beta1.HealthCheck{
		Type: typ, Interval: metav1.Duration{Duration: time.Second}, Timeout: metav1.Duration{Duration: 500 * time.Millisecond},
		HealthyThreshold: 2, UnhealthyThreshold: 2,
	}
}

// deathBound is how long a dead target may stay ready: two failed probes
// one interval apart, the second timing out, and slack for the reconcile
// and the two CPUs the whole lab shares.
const deathBound = 2*time.Second + 500*time.Millisecond + 2*time.Second

// externalService returns an ExternalService in x's namespace with one
// port and the fast check, its endpoints the given addresses.
func (x *extTest) externalService(name string, port int32, check v1beta1.HealthCheckType, addrs ...string) *v1beta1.ExternalService {
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: x.ns, Name: name},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:       []v1beta1.ExternalServicePort{{Name: "db", Port: port}},
			HealthCheck: fastCheck(check),
		},
	}
	for _, a := range addrs {
		es.Spec.Endpoints = append(es.Spec.Endpoints, v1beta1.ExternalEndpoint{Address: a})
	}
	return es
}

func (x *extTest) create(obj client.Object) {
	x.t.Helper()
	if err := x.c.Client.Create(x.ctx, obj); err != nil {
		x.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// credentials creates a Secret with username and password, labelled for
// Portico's use, and returns its name.
func (x *extTest) credentials(name, user, password string) *v1beta1.LocalSecretReference {
	x.t.Helper()
	x.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: x.ns, Name: name, Labels: map[string]string{v1beta1.LabelCredentials: "true"}},
		Type:       corev1.SecretTypeBasicAuth,
		StringData: map[string]string{"username": user, "password": password},
	})
	return &v1beta1.LocalSecretReference{Name: name}
}

func (x *extTest) get(name string) *v1beta1.ExternalService {
	x.t.Helper()
	var es v1beta1.ExternalService
	if err := x.c.Client.Get(x.ctx, client.ObjectKey{Namespace: x.ns, Name: name}, &es); err != nil {
		x.t.Fatal(err)
	}
	return &es
}

// sliceState is the owned EndpointSlices of name as "ip:port=ready"
// entries, sorted and joined by commas.
func (x *extTest) sliceState(name string) (string, error) {
	var list discoveryv1.EndpointSliceList
	if err := x.c.Client.List(x.ctx, &list, client.InNamespace(x.ns), client.MatchingLabels{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: v1beta1.ExternalServiceManagedBy,
	}); err != nil {
		return "", err
	}
	var out []string
	for _, s := range list.Items {
		for _, p := range s.Ports {
			for _, e := range s.Endpoints {
				ready := e.Conditions.Ready != nil && *e.Conditions.Ready
				out = append(out, fmt.Sprintf("%s=%t", netip.AddrPortFrom(netip.MustParseAddr(e.Addresses[0]), uint16(*p.Port)), ready))
			}
		}
	}
	slices.Sort(out)
	return strings.Join(out, ","), nil
}

// slice is one "ip:port=ready" entry.
func slice(a netip.Addr, port uint16, ready bool) string {
	return fmt.Sprintf("%s=%t", netip.AddrPortFrom(a, port), ready)
}

// entries sorts and joins slice entries as sliceState returns them.
func entries(e ...string) string {
	slices.Sort(e)
	return strings.Join(e, ",")
}

// waitSlices polls (every 50 ms) until name's slices say want, and returns
// how long that took.
func (x *extTest) waitSlices(name, want string, within time.Duration) time.Duration {
	x.t.Helper()
	start := time.Now()
	poll(x.t, within, fmt.Sprintf("ExternalService %s's slices to say %s", name, want), func(context.Context) error {
		got, err := x.sliceState(name)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("slices say %q", got)
		}
		return nil
	})
	return time.Since(start)
}

// waitStatus polls until check accepts name's status.
func (x *extTest) waitStatus(name string, within time.Duration, what string, check func(v1beta1.ExternalServiceStatus) error) v1beta1.ExternalServiceStatus {
	x.t.Helper()
	var st v1beta1.ExternalServiceStatus
	poll(x.t, within, fmt.Sprintf("ExternalService %s's status: %s", name, what), func(ctx context.Context) error {
		var es v1beta1.ExternalService
		if err := x.c.Client.Get(ctx, client.ObjectKey{Namespace: x.ns, Name: name}, &es); err != nil {
			return err
		}
		st = es.Status
		return check(st)
	})
	return st
}

// target finds ip's status among every entry's targets.
func target(st v1beta1.ExternalServiceStatus, ip netip.Addr) (v1beta1.TargetStatus, bool) {
	for _, e := range st.Endpoints {
		for _, ts := range e.Targets {
			if ts.IP == ip.String() {
				return ts, true
			}
		}
	}
	return v1beta1.TargetStatus{}, false
}

// clusterIP waits for the Service of name and returns its IPv4 ClusterIP.
func (x *extTest) clusterIP(name string) netip.Addr {
	x.t.Helper()
	var ip netip.Addr
	poll(x.t, 10*time.Second, "the Service "+name+" with an IPv4 ClusterIP", func(ctx context.Context) error {
		var svc corev1.Service
		if err := x.c.Client.Get(ctx, client.ObjectKey{Namespace: x.ns, Name: name}, &svc); err != nil {
			return err
		}
		for _, s := range svc.Spec.ClusterIPs {
			if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
				ip = a
				return nil
			}
		}
		return fmt.Errorf("clusterIPs %v", svc.Spec.ClusterIPs)
	})
	return ip
}

// The mirrored EndpointSlice's managed-by value, Kubernetes' own.
const mirrorManagedBy = "endpointslicemirroring-controller.k8s.io"

// mirrorEndpoints waits until Kubernetes' EndpointSlice mirroring
// controller (the lab runs it, in kube-controller-manager) has mirrored the
// hand-written Endpoints ep of a selectorless Service into a slice, as in
// a cluster before Portico. The returned function waits until that slice
// is gone (the mirroring controller removes it with ep) and says when.
func (x *extTest) mirrorEndpoints(ep *corev1.Endpoints) (gone func(within time.Duration) time.Time) {
	x.t.Helper()
	mirrored := func(ctx context.Context) (int, error) {
		var list discoveryv1.EndpointSliceList
		err := x.c.Client.List(ctx, &list, client.InNamespace(ep.Namespace), client.MatchingLabels{
			discoveryv1.LabelManagedBy: mirrorManagedBy, discoveryv1.LabelServiceName: ep.Name,
		})
		return len(list.Items), err
	}
	poll(x.t, 15*time.Second, "the mirrored EndpointSlice of "+ep.Name, func(ctx context.Context) error {
		n, err := mirrored(ctx)
		if err == nil && n == 0 {
			err = errors.New("not mirrored yet")
		}
		return err
	})
	return func(within time.Duration) time.Time {
		x.t.Helper()
		var at time.Time
		poll(x.t, within, "the mirrored EndpointSlice of "+ep.Name+" removed", func(ctx context.Context) error {
			n, err := mirrored(ctx)
			if err == nil && n != 0 {
				return fmt.Errorf("%d mirrored slices left", n)
			}
			at = time.Now()
			return err
		})
		return at
	}
}
