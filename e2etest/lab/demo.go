package lab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// The demo's objects.
const (
	demoNamespace = "demo"
	demoPoolV4    = "demo-v4"
	demoPoolV6    = "demo-v6"
	demoL2        = "demo"
	sharingKey    = "dns"
	localNode     = "node-3" // the only node with a pod of web-local
)

// demoPods are the pods behind the nodes: web's on every node, so any
// node's kube-proxy may pick any of them, and web-local's on one node only.
var demoPods = []podRequest{
	{Node: "node-1", Name: "web-1", Labels: map[string]string{"app": "web"}},
	{Node: "node-2", Name: "web-2", Labels: map[string]string{"app": "web"}},
	{Node: "node-3", Name: "web-3", Labels: map[string]string{"app": "web"}},
	{Node: localNode, Name: "local-3", Labels: map[string]string{"app": "web-local"}},
}

// newClient returns a client for the lab's API server that knows Portico's types.
func (l *Lab) newClient() (client.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig())
	if err != nil {
		return nil, fmt.Errorf("lab: loading %s: %w", l.Kubeconfig(), err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1beta1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("lab: scheme: %w", err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("lab: client: %w", err)
	}
	return c, nil
}

// demo creates the pools, the pods and the Services, waits until the
// controller has given them addresses and the speakers announce them, and
// shows the result: kubectl, ARP/NDP and TCP from the client.
func (l *Lab) demo(ctx context.Context, info readyInfo) error {
	out := l.opts.Out
	c, err := l.newClient()
	if err != nil {
		return err
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, l.opts.DemoTimeout)
	defer cancel()

	fmt.Fprintf(out, "\nDemo: Services in namespace %s get addresses from the lab's LAN; one node answers ARP/NDP for each.\n", demoNamespace)
	objs := []client.Object{
		cluster.Pool(demoPoolV4, true, info.PoolV4), cluster.Pool(demoPoolV6, true, info.PoolV6),
		cluster.L2Advertisement(demoL2, demoPoolV4, demoPoolV6),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace}},
	}
	if err := create(wctx, c, objs...); err != nil {
		return err
	}
	fmt.Fprintf(out, "  created IPAddressPools %s (%s) and %s (%s), L2Advertisement %s for both\n",
		demoPoolV4, info.PoolV4, demoPoolV6, info.PoolV6, demoL2)
	for _, p := range demoPods {
		var pod podReply
		if err := l.call(wctx, http.MethodPost, "/pods", nil, p, &pod); err != nil {
			return fmt.Errorf("lab: demo: pod %s: %w", p.Name, err)
		}
		fmt.Fprintf(out, "  pod %-8s on %s: %s, %s (namespace %s, podserver on :%d)\n", pod.Name, pod.Node, pod.IPv4, pod.IPv6, pod.Namespace, cluster.PodPort)
	}

	shared := cluster.Annotate(v1beta1.AnnotationAllowSharedIP, sharingKey)
	objs = []client.Object{
		service("web", cluster.DualStack(), cluster.Port(corev1.ProtocolTCP, 80)),
		service("web-local", cluster.TrafficLocal(), cluster.Port(corev1.ProtocolTCP, 80)),
		service("dns-tcp", shared, cluster.Port(corev1.ProtocolTCP, 53)),
		service("dns-udp", shared, cluster.Port(corev1.ProtocolUDP, 53)),
	}
	if err := create(wctx, c, objs...); err != nil {
		return err
	}
	for svc, pods := range map[string][]string{"web": {"web-1", "web-2", "web-3"}, "web-local": {"local-3"}} {
		req := exposeRequest{Namespace: demoNamespace, Service: svc, Pods: pods}
		if err := l.call(wctx, http.MethodPost, "/expose", nil, req, &struct{}{}); err != nil {
			return fmt.Errorf("lab: demo: endpoints of %s: %w", svc, err)
		}
	}
	fmt.Fprintf(out, "  created Services web (dual-stack, externalTrafficPolicy Cluster, pods web-1..3),\n")
	fmt.Fprintf(out, "  web-local (externalTrafficPolicy Local, pod local-3 on %s), and dns-tcp (TCP/53) and dns-udp\n", localNode)
	fmt.Fprintf(out, "  (UDP/53) with %s: %s, with EndpointSlices as kubelet would write them\n", v1beta1.AnnotationAllowSharedIP, sharingKey)

	// wants-taken asks for the address web got, so web must have one first.
	var webIP string
	if err := netlab.Poll(wctx, 200*time.Millisecond, 0, "an address for web", func(ctx context.Context) error {
		svc, err := getService(ctx, c, "web")
		if err != nil {
			return netlab.Permanent(err)
		}
		if ips := ingressIPs(svc); len(ips) > 0 {
			webIP = ips[0]
			return nil
		}
		return errors.New("web has no address yet")
	}); err != nil {
		return fmt.Errorf("lab: demo: %w", err)
	}
	taken := cluster.Annotate(v1beta1.AnnotationLoadBalancerIPs, webIP)
	if err := create(wctx, c, service("wants-taken", taken, cluster.Port(corev1.ProtocolTCP, 8080))); err != nil {
		return err
	}
	fmt.Fprintf(out, "  created Service wants-taken (%s: %s, which web holds)\n", v1beta1.AnnotationLoadBalancerIPs, webIP)
	// Announcers are collected across polls rather than required at one
	// instant: a condition that a speaker rewrites (a takeover, or a
	// conflict between speakers) may be missing at any one read.
	seen := map[string]string{}
	if err := netlab.Poll(wctx, 200*time.Millisecond, 0, "every demo address assigned and announced", func(ctx context.Context) error {
		problems, err := checkDemo(ctx, c, info, seen)
		if err != nil {
			return netlab.Permanent(err)
		}
		if len(problems) > 0 {
			return errors.New(strings.Join(problems, "; "))
		}
		return nil
	}); err != nil {
		return fmt.Errorf("lab: demo: %w", err)
	}
	fmt.Fprintf(out, "  the controller assigned and the speakers announced every address %.1fs after the first object\n", time.Since(start).Seconds())
	return l.show(ctx, c, info, seen)
}

// checkDemo returns what is not yet as the demo expects, one phrase each.
// It adds the announcers it reads to seen (address → node).
func checkDemo(ctx context.Context, c client.Client, info readyInfo, seen map[string]string) ([]string, error) {
	var list corev1.ServiceList
	if err := c.List(ctx, &list, client.InNamespace(demoNamespace)); err != nil {
		return nil, fmt.Errorf("lab: listing Services in %s: %w", demoNamespace, err)
	}
	byName := map[string]*corev1.Service{}
	for i := range list.Items {
		byName[list.Items[i].Name] = &list.Items[i]
	}
	ips := func(name string) []string { return ingressIPs(byName[name]) }
	var problems []string
	want := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	want(inPools(ips("web"), info.PoolV4, info.PoolV6), "web has %v, want one address of %s and one of %s", ips("web"), info.PoolV4, info.PoolV6)
	for _, name := range []string{"web-local", "dns-tcp", "dns-udp"} {
		want(inPools(ips(name), info.PoolV4), "%s has %v, want one address of %s", name, ips(name), info.PoolV4)
	}
	want(slices.Equal(ips("dns-tcp"), ips("dns-udp")), "dns-tcp has %v and dns-udp %v, want one shared address", ips("dns-tcp"), ips("dns-udp"))
	want(len(ips("wants-taken")) == 0, "wants-taken has %v, want none", ips("wants-taken"))
	var cond *metav1.Condition
	if svc := byName["wants-taken"]; svc != nil {
		cond = meta.FindStatusCondition(svc.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
	}
	want(cond != nil && cond.Status == metav1.ConditionFalse, "wants-taken has condition %s %v, want status False",
		v1beta1.ServiceConditionIPAssigned, cond)
	for _, name := range []string{"web", "web-local", "dns-tcp"} {
		for _, ip := range ips(name) {
			if node := announcedBy(byName[name], ip); node != "" {
				seen[ip] = node
			}
			node := seen[ip]
			want(node != "", "no node announces %s's %s yet", name, ip)
			want(name != "web-local" || node == "" || node == localNode, "%s announces web-local's %s; only %s has its pod", node, ip, localNode)
		}
	}
	// Pool status is written after the Services', so wait for it too, or
	// kubectl would show empty columns.
	var pools v1beta1.IPAddressPoolList
	if err := c.List(ctx, &pools); err != nil {
		return nil, fmt.Errorf("lab: listing IPAddressPools: %w", err)
	}
	assigned := map[string]int64{demoPoolV4: 3, demoPoolV6: 1} // web, web-local, dns-*; web
	for _, p := range pools.Items {
		if n, ok := assigned[p.Name]; ok {
			want(p.Status.Assigned == n, "pool %s reports %d assigned, want %d", p.Name, p.Status.Assigned, n)
		}
	}
	return problems, nil
}

// announcedBy returns the node the Service's announced condition names for
// ip, or "".
func announcedBy(svc *corev1.Service, ip string) string {
	addr, err := netip.ParseAddr(ip)
	if svc == nil || err != nil {
		return ""
	}
	return v1beta1.AnnouncingNode(svc, addr)
}

// inPools reports whether ips holds exactly one address of each range
// ("first-last"), in any order.
func inPools(ips []string, ranges ...string) bool {
	if len(ips) != len(ranges) {
		return false
	}
	for _, r := range ranges {
		first, last, _ := strings.Cut(r, "-")
		lo, err1 := netip.ParseAddr(first)
		hi, err2 := netip.ParseAddr(last)
		if err1 != nil || err2 != nil {
			return false
		}
		n := 0
		for _, s := range ips {
			if a, err := netip.ParseAddr(s); err == nil && a.BitLen() == lo.BitLen() && a.Compare(lo) >= 0 && a.Compare(hi) <= 0 {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}

func create(ctx context.Context, c client.Client, objs ...client.Object) error {
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("lab: demo: creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

func getService(ctx context.Context, c client.Client, name string) (*corev1.Service, error) {
	svc := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: name}, svc); err != nil {
		return nil, fmt.Errorf("lab: reading Service %s: %w", name, err)
	}
	return svc, nil
}

// service returns an IPv4 LoadBalancer Service in the demo namespace,
// selecting the pods labelled app=name, with externalTrafficPolicy Cluster,
// changed by opts.
func service(name string, opts ...cluster.ServiceOption) *corev1.Service {
	base := []cluster.ServiceOption{cluster.SelectApp(name), cluster.SingleStack(corev1.IPv4Protocol)}
	return cluster.Service(demoNamespace, name, append(base, opts...)...)
}

func ingressIPs(svc *corev1.Service) []string {
	if svc == nil {
		return nil
	}
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			ips = append(ips, in.IP)
		}
	}
	return ips
}
