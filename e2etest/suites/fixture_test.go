package suites

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// slotSize is how many addresses of each family every test gets from the
// lab's pool range: slot k owns host IDs PoolFirst+4k … PoolFirst+4k+3.
const slotSize = 4

// fixture is one test's share of the shared cluster: a Kubernetes
// namespace, a pool and an L2Advertisement over its own addresses, and the
// clean-up of everything it made.
type fixture struct {
	t    *testing.T
	c    *cluster.Cluster
	ctx  context.Context
	ns   string
	name string // of the pool and advertisement
	v4   []netip.Addr
	v6   []netip.Addr

	cleanups []func(context.Context) error
}

// setup claims address slot for t and creates its namespace, pool and
// L2Advertisement (changed by l2, if given, before it is created).
func setup(t *testing.T, slot int, l2 func(*v1beta1.L2AdvertisementSpec)) *fixture {
	return setupOn(t, theCluster(t), slot, l2)
}

// setupOn is setup on cluster c, for a test that needs a cluster of its own
// (speakers with other flags); its lab has its own addresses, so any slot
// is free there.
func setupOn(t *testing.T, c *cluster.Cluster, slot int, l2 func(*v1beta1.L2AdvertisementSpec)) *fixture {
	f := &fixture{t: t, c: c, ctx: t.Context(), name: fmt.Sprintf("e2e-slot-%d", slot)}
	first := netlab.PoolFirst + slot*slotSize
	if first+slotSize-1 > netlab.PoolLast {
		t.Fatalf("slot %d is outside the lab's pool range", slot)
	}
	for id := first; id < first+slotSize; id++ {
		a4, a6 := c.Lab.Addr(id)
		f.v4, f.v6 = append(f.v4, a4), append(f.v6, a6)
	}
	// One clean-up for the whole test: diagnostics first (while the objects
	// still exist), then the test's own clean-ups, newest first, then the
	// speakers back to full strength.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if t.Failed() {
			var b strings.Builder
			c.Diagnose(ctx, &b, 40)
			t.Logf("diagnostics:\n%s", b.String())
		}
		for i := len(f.cleanups) - 1; i >= 0; i-- {
			if err := f.cleanups[i](ctx); err != nil {
				t.Errorf("clean-up: %v", err)
			}
		}
		f.restoreSpeakers(ctx)
	})
	f.ns = strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(f.ns) > 50 {
		f.ns = f.ns[:50]
	}
	f.ns = strings.Trim(f.ns, "-") + fmt.Sprintf("-%d", time.Now().UnixMilli()%100000)
	f.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})
	// Not auto-assigned: only Services naming the pool, so tests stay apart.
	f.create(cluster.Pool(f.name, false, f.v4[0].String()+"-"+f.v4[slotSize-1].String(), f.v6[0].String()+"-"+f.v6[slotSize-1].String()))
	l2a := cluster.L2Advertisement(f.name, f.name)
	if l2 != nil {
		l2(&l2a.Spec)
	}
	f.create(l2a)
	return f
}

// create creates obj and deletes it at the end of the test.
func (f *fixture) create(obj client.Object) {
	f.t.Helper()
	if err := f.c.Client.Create(f.ctx, obj); err != nil {
		f.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	if _, ok := obj.(*corev1.Namespace); ok {
		return // no namespace controller in the lab: it would stay Terminating
	}
	f.cleanups = append(f.cleanups, func(ctx context.Context) error {
		if err := f.c.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %T %s: %w", obj, obj.GetName(), err)
		}
		return nil
	})
}

// onCleanup adds fn to the test's clean-ups.
func (f *fixture) onCleanup(fn func(context.Context) error) { f.cleanups = append(f.cleanups, fn) }

// pod adds a pod behind node, removed at the end of the test.
func (f *fixture) pod(node, name string) *cluster.Pod {
	f.t.Helper()
	p, err := f.c.AddPod(f.ctx, node, name, map[string]string{"app": name})
	if err != nil {
		f.t.Fatal(err)
	}
	f.onCleanup(func(ctx context.Context) error { return f.c.DeletePod(ctx, p) })
	return p
}

func ipv6() cluster.ServiceOption { return cluster.SingleStack(corev1.IPv6Protocol) }

func local() cluster.ServiceOption { return cluster.TrafficLocal() }

func port(p int32) cluster.ServiceOption { return func(s *corev1.Service) { s.Spec.Ports[0].Port = p } }

// shareIP requests ip with sharing key key.
func shareIP(key string, ip netip.Addr) cluster.ServiceOption {
	return func(s *corev1.Service) {
		cluster.Annotate(v1beta1.AnnotationAllowSharedIP, key)(s)
		cluster.Annotate(v1beta1.AnnotationLoadBalancerIPs, ip.String())(s)
	}
}

// service creates a LoadBalancer Service in the test's namespace, port 80
// to the pods' PodPort, from the test's pool, and waits for its address.
func (f *fixture) service(name string, opts ...cluster.ServiceOption) *corev1.Service {
	f.t.Helper()
	svc := cluster.Service(f.ns, name, append([]cluster.ServiceOption{cluster.FromPool(f.name), cluster.Port(corev1.ProtocolTCP, 80)}, opts...)...)
	start := time.Now()
	f.create(svc)
	f.eventually(10*time.Second, "an address for service "+name, func() error {
		if err := f.c.Client.Get(f.ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return err
		}
		if len(svc.Status.LoadBalancer.Ingress) == 0 {
			return errors.New("no ingress yet")
		}
		return nil
	})
	f.t.Logf("service %s/%s got %s in %v", f.ns, name, svc.Status.LoadBalancer.Ingress[0].IP, time.Since(start).Round(time.Millisecond))
	return svc
}

// vip returns the Service's only address.
func (f *fixture) vip(svc *corev1.Service) netip.Addr {
	f.t.Helper()
	if n := len(svc.Status.LoadBalancer.Ingress); n != 1 {
		f.t.Fatalf("service %s has %d addresses, want 1", svc.Name, n)
	}
	a, err := netip.ParseAddr(svc.Status.LoadBalancer.Ingress[0].IP)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// expose writes the Service's EndpointSlices for pods.
func (f *fixture) expose(svc *corev1.Service, pods ...*cluster.Pod) {
	f.t.Helper()
	if err := f.c.ExposePods(f.ctx, svc, pods...); err != nil {
		f.t.Fatal(err)
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name + "-" + fam}}
		f.onCleanup(func(ctx context.Context) error {
			if err := f.c.Client.Delete(ctx, es); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			return nil
		})
	}
}

// announcedBy returns the node the Service's announced condition names for
// ip, or "" when it names none (or another address).
func (f *fixture) announcedBy(svc *corev1.Service, ip netip.Addr) (string, error) {
	var cur corev1.Service
	if err := f.c.Client.Get(f.ctx, client.ObjectKeyFromObject(svc), &cur); err != nil {
		return "", err
	}
	return v1beta1.AnnouncingNode(&cur, ip), nil
}

// waitAnnouncer waits until the announced condition names a node for ip
// that ok accepts (any node when ok is nil), and returns it.
func (f *fixture) waitAnnouncer(svc *corev1.Service, ip netip.Addr, within time.Duration, ok func(string) bool) string {
	f.t.Helper()
	node, err := f.awaitAnnouncer(svc, ip, within, ok)
	if err != nil {
		f.t.Fatal(err)
	}
	return node
}

// awaitAnnouncer is waitAnnouncer returning the error instead of failing
// the test, for checks after which the test can still learn something.
func (f *fixture) awaitAnnouncer(svc *corev1.Service, ip netip.Addr, within time.Duration, ok func(string) bool) (string, error) {
	var node string
	err := netlab.Poll(f.ctx, 100*time.Millisecond, within, fmt.Sprintf("service %s's condition %s to name the right node for %s", svc.Name, "portico.dev/announced-ipv4|6", ip), func(context.Context) error {
		n, err := f.announcedBy(svc, ip)
		if err == nil && n != "" && (ok == nil || ok(n)) {
			node = n
			return nil
		}
		if err == nil {
			err = fmt.Errorf("condition names %q", n)
		}
		return err
	})
	return node, err
}

// resolve asks who has ip until someone answers (5 s at most) and returns
// the answering node.
func (f *fixture) resolve(ip netip.Addr) string {
	f.t.Helper()
	var node string
	f.eventually(5*time.Second, "an ARP/NDP answer for "+ip.String(), func() error {
		mac, err := f.c.Resolve(f.ctx, ip)
		if err != nil {
			return err
		}
		if node = f.c.NodeByMAC(mac); node == "" {
			return fmt.Errorf("%s answered by %s, which is no node's MAC", ip, mac)
		}
		return nil
	})
	return node
}

// waitResolves waits until ip resolves to node's MAC.
func (f *fixture) waitResolves(ip netip.Addr, node string, within time.Duration) {
	f.t.Helper()
	f.eventually(within, ip.String()+" answered by "+node, func() error {
		mac, err := f.c.Resolve(f.ctx, ip)
		if err != nil {
			return err
		}
		if got := f.c.NodeByMAC(mac); got != node {
			return fmt.Errorf("answered by %s (%s)", mac, got)
		}
		return nil
	})
}

// waitNoAnswer waits until nobody answers for ip.
func (f *fixture) waitNoAnswer(ip netip.Addr, within time.Duration) {
	f.t.Helper()
	f.eventually(within, "no answer for "+ip.String(), func() error {
		mac, err := f.c.Resolve(f.ctx, ip)
		if errors.Is(err, cluster.ErrNoAnswer) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still answered by %s (%s)", mac, f.c.NodeByMAC(mac))
	})
}

// dial connects to ip:port until it works (5 s at most) and returns the
// podserver's line.
func (f *fixture) dial(ip netip.Addr, port int) string {
	f.t.Helper()
	var line string
	f.eventually(5*time.Second, fmt.Sprintf("a TCP answer from %s", netip.AddrPortFrom(ip, uint16(port))), func() (err error) {
		line, err = f.c.Dial(f.ctx, ip, port)
		return err
	})
	return line
}

// ingressNode returns the node a podserver line came through: with
// externalTrafficPolicy Cluster kube-proxy masquerades to the address of
// the node that took the packet in.
func (f *fixture) ingressNode(line string) string {
	f.t.Helper()
	a, err := cluster.ClientAddr(line)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.c.NodeByIP(a)
}

// mac returns node's MAC.
func (f *fixture) mac(node string) net.HardwareAddr {
	for _, h := range f.c.Lab.Nodes {
		if h.Name == node {
			return h.MAC
		}
	}
	f.t.Fatalf("no node %s", node)
	return nil
}

// capture starts a capture, stopped at the end of the test at the latest.
func (f *fixture) capture() *cluster.Capture {
	f.t.Helper()
	cp, err := f.c.Capture()
	if err != nil {
		f.t.Fatal(err)
	}
	f.onCleanup(func(context.Context) error { cp.Stop(); return nil })
	return cp
}

// probeFor sends an ARP request / NS for ip every interval for d, so a
// capture sees every node that answers; it returns how many were answered.
func (f *fixture) probeFor(ip netip.Addr, d, interval time.Duration) (asked, answered int) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		asked++
		if _, err := f.c.Resolve(f.ctx, ip); err == nil {
			answered++
		}
		time.Sleep(interval)
	}
	return asked, answered
}

// onlyAnswerer checks that every answer captured for ip came from node,
// carrying node's MAC, and that there was at least one.
func (f *fixture) onlyAnswerer(frames []cluster.Frame, ip netip.Addr, node string) {
	f.t.Helper()
	if len(frames) == 0 {
		f.t.Errorf("no answer for %s captured; want answers from %s", ip, node)
		return
	}
	want := f.mac(node)
	for _, fr := range frames {
		if fr.Node != node || fr.MAC.String() != want.String() {
			f.t.Errorf("captured %v; want only %s (%s) to announce %s", fr, node, want, ip)
		}
	}
}

// otherNodes returns the node names except those given.
func (f *fixture) otherNodes(except ...string) []string {
	var out []string
	for _, h := range f.c.Lab.Nodes {
		if !slices.Contains(except, h.Name) {
			out = append(out, h.Name)
		}
	}
	return out
}

// waitEvent waits for an Event with reason about the Service.
func (f *fixture) waitEvent(svc *corev1.Service, reason string) eventsv1.Event {
	f.t.Helper()
	var found eventsv1.Event
	f.eventually(10*time.Second, "event "+reason+" on service "+svc.Name, func() error {
		var evs eventsv1.EventList
		if err := f.c.Client.List(f.ctx, &evs, client.InNamespace(svc.Namespace)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == reason && e.Regarding.Kind == "Service" && e.Regarding.Name == svc.Name {
				found = e
				return nil
			}
		}
		return fmt.Errorf("%d events, none %s", len(evs.Items), reason)
	})
	return found
}

// restoreSpeakers restarts any speaker a test stopped and waits until the
// membership has settled again, so the next test starts from a full,
// stable cluster.
func (f *fixture) restoreSpeakers(ctx context.Context) {
	for _, h := range f.c.Lab.Nodes {
		p := f.c.Speaker(h.Name)
		select {
		case <-p.Done():
			if err := f.c.StartSpeaker(h.Name); err != nil {
				f.t.Errorf("restarting the speaker on %s: %v", h.Name, err)
			}
		default:
		}
	}
	if err := f.c.WaitSettled(ctx); err != nil {
		f.t.Errorf("after the test: %v", err)
	}
}

// eventually calls fn every 100 ms until it returns nil, failing the test
// with fn's last error after within (netlab.Poll).
func (f *fixture) eventually(within time.Duration, what string, fn func() error) {
	f.t.Helper()
	if err := netlab.Poll(f.ctx, 100*time.Millisecond, within, what, func(context.Context) error { return fn() }); err != nil {
		f.t.Fatal(err)
	}
}
