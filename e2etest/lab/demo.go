package lab

import (
	"context"
	"fmt"
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
)

// The demo's objects. The pools use documentation ranges (RFC 5737, RFC
// 3849), which never route anywhere.
const (
	demoNamespace = "demo"
	demoPoolV4    = "demo-v4"
	demoPoolV6    = "demo-v6"
	sharingKey    = "dns"
)

// demoRangeV4 and demoRangeV6 are the demo pools' addresses.
func demoRangeV4() netip.Prefix { return netip.MustParsePrefix("198.51.100.0/28") }
func demoRangeV6() netip.Prefix { return netip.MustParsePrefix("2001:db8:100::/120") }

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

// demo creates the pools and Services, waits until the controller has
// served them as expected, and shows the result with kubectl.
func (l *Lab) demo(ctx context.Context, info readyInfo) error {
	out := l.opts.Out
	c, err := l.newClient()
	if err != nil {
		return err
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, l.opts.DemoTimeout)
	defer cancel()

	fmt.Fprintf(out, "\nDemo: Portico hands out addresses from two pools to Services in namespace %s.\n", demoNamespace)
	objs := []client.Object{
		pool(demoPoolV4, demoRangeV4()), pool(demoPoolV6, demoRangeV6()),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace}},
		service("web", nil, nil, port(corev1.ProtocolTCP, 80)),
	}
	if err := create(wctx, c, objs...); err != nil {
		return err
	}
	fmt.Fprintf(out, "  created IPAddressPools %s (%s) and %s (%s), Service web (TCP/80)\n",
		demoPoolV4, demoRangeV4(), demoPoolV6, demoRangeV6())
	// wants-taken asks for the address web got, so web must have one first.
	var webIP string
	if err := poll(wctx, func() (bool, string, error) {
		svc := &corev1.Service{}
		if err := c.Get(wctx, client.ObjectKey{Namespace: demoNamespace, Name: "web"}, svc); err != nil {
			return false, "", fmt.Errorf("lab: reading Service web: %w", err)
		}
		if ips := ingressIPs(svc); len(ips) > 0 {
			webIP = ips[0]
			return true, "", nil
		}
		return false, "web has no address yet", nil
	}); err != nil {
		return fmt.Errorf("lab: demo: %w", err)
	}
	fmt.Fprintf(out, "  web got %s\n", webIP)

	shared := map[string]string{v1beta1.AnnotationAllowSharedIP: sharingKey}
	dual := []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	objs = []client.Object{
		service("dns-tcp", shared, nil, port(corev1.ProtocolTCP, 53)),
		service("dns-udp", shared, nil, port(corev1.ProtocolUDP, 53)),
		service("dual", nil, dual, port(corev1.ProtocolTCP, 443)),
		service("wants-taken", map[string]string{v1beta1.AnnotationLoadBalancerIPs: webIP}, nil, port(corev1.ProtocolTCP, 8080)),
	}
	if err := create(wctx, c, objs...); err != nil {
		return err
	}
	fmt.Fprintf(out, "  created Services dns-tcp (TCP/53) and dns-udp (UDP/53) with %s: %s,\n", v1beta1.AnnotationAllowSharedIP, sharingKey)
	fmt.Fprintf(out, "  dual (RequireDualStack) and wants-taken (%s: %s, which web holds)\n", v1beta1.AnnotationLoadBalancerIPs, webIP)
	if err := poll(wctx, func() (bool, string, error) {
		problems, err := checkDemo(wctx, c)
		return len(problems) == 0, strings.Join(problems, "; "), err
	}); err != nil {
		return fmt.Errorf("lab: demo: %w", err)
	}
	fmt.Fprintf(out, "  the controller served all five in %.1fs\n", time.Since(start).Seconds())
	// Events are written asynchronously, after the condition; give them a moment.
	ectx, ecancel := context.WithTimeout(ctx, 10*time.Second)
	defer ecancel()
	if err := poll(ectx, func() (bool, string, error) { return hasWarning(ectx, c, "wants-taken") }); err != nil {
		fmt.Fprintf(out, "  (no Warning Event for wants-taken yet: %v)\n", err)
	}
	return l.show(ctx, info)
}

// checkDemo returns what is not yet as the demo expects, one phrase each.
func checkDemo(ctx context.Context, c client.Client) ([]string, error) {
	var list corev1.ServiceList
	if err := c.List(ctx, &list, client.InNamespace(demoNamespace)); err != nil {
		return nil, fmt.Errorf("lab: listing Services in %s: %w", demoNamespace, err)
	}
	ips := map[string][]string{}
	var cond *metav1.Condition
	for i := range list.Items {
		svc := &list.Items[i]
		ips[svc.Name] = ingressIPs(svc)
		if svc.Name == "wants-taken" {
			cond = meta.FindStatusCondition(svc.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
		}
	}
	var problems []string
	want := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	for _, name := range []string{"web", "dns-tcp", "dns-udp"} {
		want(inPools(ips[name], demoRangeV4()), "%s has %v, want one address of %s", name, ips[name], demoRangeV4())
	}
	want(slices.Equal(ips["dns-tcp"], ips["dns-udp"]), "dns-tcp has %v and dns-udp %v, want one shared address", ips["dns-tcp"], ips["dns-udp"])
	want(inPools(ips["dual"], demoRangeV4(), demoRangeV6()), "dual has %v, want one address of %s and one of %s", ips["dual"], demoRangeV4(), demoRangeV6())
	want(len(ips["wants-taken"]) == 0, "wants-taken has %v, want none", ips["wants-taken"])
	want(cond != nil && cond.Status == metav1.ConditionFalse, "wants-taken has condition %s %v, want status False",
		v1beta1.ServiceConditionIPAssigned, cond)

	// Pool status is written after the Services', so wait for it too, or
	// kubectl would show empty columns.
	var pools v1beta1.IPAddressPoolList
	if err := c.List(ctx, &pools); err != nil {
		return nil, fmt.Errorf("lab: listing IPAddressPools: %w", err)
	}
	assigned := map[string]int64{demoPoolV4: 3, demoPoolV6: 1} // web, dns-*, dual; dual
	for _, p := range pools.Items {
		if n, ok := assigned[p.Name]; ok {
			want(p.Status.Assigned == n, "pool %s reports %d assigned, want %d", p.Name, p.Status.Assigned, n)
		}
	}
	return problems, nil
}

// inPools reports whether ips holds exactly one address of each prefix, in
// any order.
func inPools(ips []string, prefixes ...netip.Prefix) bool {
	if len(ips) != len(prefixes) {
		return false
	}
	for _, p := range prefixes {
		n := 0
		for _, s := range ips {
			if a, err := netip.ParseAddr(s); err == nil && p.Contains(a) {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}

// hasWarning reports whether a Warning Event names the demo Service.
func hasWarning(ctx context.Context, c client.Client, name string) (bool, string, error) {
	var events corev1.EventList
	if err := c.List(ctx, &events, client.InNamespace(demoNamespace)); err != nil {
		return false, "", fmt.Errorf("lab: listing Events in %s: %w", demoNamespace, err)
	}
	for _, e := range events.Items {
		if e.Type == corev1.EventTypeWarning && e.InvolvedObject.Kind == "Service" && e.InvolvedObject.Name == name {
			return true, "", nil
		}
	}
	return false, "no Warning Event for " + name, nil
}

// poll calls check every 200 ms until it reports done, fails, or ctx ends;
// the error then carries the last thing check said was missing.
func poll(ctx context.Context, check func() (done bool, missing string, err error)) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		done, missing, err := check()
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", missing, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

func create(ctx context.Context, c client.Client, objs ...client.Object) error {
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("lab: demo: creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

func pool(name string, p netip.Prefix) *v1beta1.IPAddressPool {
	return &v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: []string{p.String()}},
	}
}

// service returns a LoadBalancer Service in the demo namespace. With two
// families it requires dual-stack; otherwise it is IPv4 only.
func service(name string, annotations map[string]string, families []corev1.IPFamily, ports ...corev1.ServicePort) *corev1.Service {
	policy := corev1.IPFamilyPolicySingleStack
	if len(families) == 0 {
		families = []corev1.IPFamily{corev1.IPv4Protocol}
	} else if len(families) > 1 {
		policy = corev1.IPFamilyPolicyRequireDualStack
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: demoNamespace, Annotations: annotations},
		Spec: corev1.ServiceSpec{
			Type:           corev1.ServiceTypeLoadBalancer,
			Selector:       map[string]string{"app": name},
			Ports:          ports,
			IPFamilyPolicy: &policy,
			IPFamilies:     families,
		},
	}
}

func port(proto corev1.Protocol, n int32) corev1.ServicePort {
	return corev1.ServicePort{Name: strings.ToLower(string(proto)), Protocol: proto, Port: n}
}

func ingressIPs(svc *corev1.Service) []string {
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			ips = append(ips, in.IP)
		}
	}
	return ips
}
