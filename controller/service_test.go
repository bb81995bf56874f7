package controller_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

func TestAutoAssign(t *testing.T) {
	startController(t)
	tests := []struct {
		name     string
		families []corev1.IPFamily
		policy   corev1.IPFamilyPolicy
		pools    []string // "v4", "v6"
		want     []string // families of the ingress addresses, in order
	}{
		{name: "ipv4", families: []corev1.IPFamily{corev1.IPv4Protocol}, policy: corev1.IPFamilyPolicySingleStack, pools: []string{"v4", "v6"}, want: []string{"v4"}},
		{name: "ipv6", families: []corev1.IPFamily{corev1.IPv6Protocol}, policy: corev1.IPFamilyPolicySingleStack, pools: []string{"v4", "v6"}, want: []string{"v6"}},
		{name: "require-dual-stack", families: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, policy: corev1.IPFamilyPolicyRequireDualStack, pools: []string{"v4", "v6"}, want: []string{"v4", "v6"}},
		{name: "require-dual-stack-v6-first", families: []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}, policy: corev1.IPFamilyPolicyRequireDualStack, pools: []string{"v4", "v6"}, want: []string{"v6", "v4"}},
		{name: "prefer-dual-stack-both", families: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, policy: corev1.IPFamilyPolicyPreferDualStack, pools: []string{"v4", "v6"}, want: []string{"v4", "v6"}},
		{name: "prefer-dual-stack-v4-only-pool", families: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, policy: corev1.IPFamilyPolicyPreferDualStack, pools: []string{"v4"}, want: []string{"v4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t, nil)
			var addrs []string
			cidrs := map[string]string{"v4": subnet4(), "v6": subnet6()}
			for _, p := range tt.pools {
				addrs = append(addrs, cidrs[p])
			}
			newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: addrs})
			newService(t, ns, "web", withFamilies(tt.policy, tt.families...))
			svc := waitAssigned(t, ns, "web")
			got := ingressIPs(svc)
			if len(got) != len(tt.want) {
				t.Fatalf("ingress %v, want families %v", got, tt.want)
			}
			for i, fam := range tt.want {
				mustPrefixContain(t, cidrs[fam], got[i])
			}
			for _, in := range svc.Status.LoadBalancer.Ingress {
				if in.IPMode == nil || *in.IPMode != corev1.LoadBalancerIPModeVIP {
					t.Errorf("ingress %s ipMode = %v, want VIP", in.IP, in.IPMode)
				}
			}
		})
	}
}

func TestRequireDualStackWithoutV6PoolWaits(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{subnet4()}})
	newService(t, ns, "web", withFamilies(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol))
	svc := waitCondition(t, ns, "web", metav1.ConditionFalse, v1beta1.ReasonNoPoolMatches)
	if len(svc.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("half-assigned dual-stack Service: %v", ingressIPs(svc))
	}
	// Adding an IPv6 pool recovers it without a restart.
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{subnet6()}})
	svc = waitAssigned(t, ns, "web")
	if len(svc.Status.LoadBalancer.Ingress) != 2 {
		t.Errorf("ingress %v, want two addresses", ingressIPs(svc))
	}
}

func TestRequestedIP(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	cidr := subnet4()
	pool := newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{cidr}})
	base := cidr[:len(cidr)-len("0/24")]

	// A free requested address is given as asked.
	newService(t, ns, "free", withAnnotation(v1beta1.AnnotationLoadBalancerIPs, base+"10"))
	if got := ingressIPs(waitAssigned(t, ns, "free")); !slices.Equal(got, []string{base + "10"}) {
		t.Fatalf("free: ingress %v, want %s", got, base+"10")
	}
	// spec.loadBalancerIP (deprecated) is honoured too.
	newService(t, ns, "legacy", func(s *corev1.Service) { s.Spec.LoadBalancerIP = base + "11" })
	if got := ingressIPs(waitAssigned(t, ns, "legacy")); !slices.Equal(got, []string{base + "11"}) {
		t.Fatalf("legacy: ingress %v, want %s", got, base+"11")
	}

	tests := []struct {
		name, request, reason, fixed string
	}{
		{name: "taken", request: base + "10", reason: v1beta1.ReasonRequestedIPTaken, fixed: base + "20"},
		{name: "outside", request: "192.0.2.77", reason: v1beta1.ReasonRequestedIPNotInAnyPool, fixed: base + "21"},
		{name: "wrong-family", request: "fd00:ffff::1", reason: v1beta1.ReasonWrongFamily, fixed: base + "22"},
		{name: "garbage", request: "not-an-ip", reason: v1beta1.ReasonInvalidRequest, fixed: base + "23"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newService(t, ns, tt.name, withAnnotation(v1beta1.AnnotationLoadBalancerIPs, tt.request))
			got := waitCondition(t, ns, tt.name, metav1.ConditionFalse, tt.reason)
			if len(got.Status.LoadBalancer.Ingress) != 0 {
				t.Errorf("pending Service has ingress %v", ingressIPs(got))
			}
			waitEvent(t, ns, tt.name, tt.reason)
			// Fixing the request recovers without a restart.
			update(t, svc, func(s *corev1.Service) { s.Annotations[v1beta1.AnnotationLoadBalancerIPs] = tt.fixed })
			if got := ingressIPs(waitAssigned(t, ns, tt.name)); !slices.Equal(got, []string{tt.fixed}) {
				t.Errorf("after fix: ingress %v, want %s", got, tt.fixed)
			}
		})
	}
	// Pool status counts every assigned address.
	eventually(t, "pool status", func() (bool, string) {
		var p v1beta1.IPAddressPool
		_ = k8s.Get(context.Background(), clientKey(pool), &p)
		return p.Status.AssignedIPv4 == 6 && p.Status.AvailableIPv4 == 250, fmt.Sprintf("%+v", p.Status)
	})
}

func TestPoolAnnotationAndMetalLBAliases(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	a := newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{subnet4()}})
	bCIDR := subnet4()
	b := newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{bCIDR}, AutoAssign: ptr.To(false)})
	_ = a
	tests := []struct {
		name string
		opts []serviceOption
		want string // CIDR the address must be in
	}{
		{name: "portico", opts: []serviceOption{withAnnotation(v1beta1.AnnotationAddressPool, b.Name)}, want: bCIDR},
		{name: "metallb-io", opts: []serviceOption{withAnnotation(v1beta1.MetalLBAddressPool, b.Name)}, want: bCIDR},
		{name: "metallb-universe", opts: []serviceOption{withAnnotation(v1beta1.MetalLBLegacyAddressPool, b.Name)}, want: bCIDR},
		{name: "metallb-ips", opts: []serviceOption{withAnnotation(v1beta1.MetalLBLoadBalancerIPs, bCIDR[:len(bCIDR)-4]+"33")}, want: bCIDR[:len(bCIDR)-4] + "33/32"},
		{name: "metallb-universe-ips", opts: []serviceOption{withAnnotation(v1beta1.MetalLBLegacyLBIPs, bCIDR[:len(bCIDR)-4]+"34")}, want: bCIDR[:len(bCIDR)-4] + "34/32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newService(t, ns, tt.name, tt.opts...)
			got := ingressIPs(waitAssigned(t, ns, tt.name))
			if len(got) != 1 {
				t.Fatalf("ingress %v", got)
			}
			mustPrefixContain(t, tt.want, got[0])
		})
	}
	// Naming a pool that does not exist leaves the Service pending.
	newService(t, ns, "missing", withAnnotation(v1beta1.AnnotationAddressPool, "no-such-pool"))
	waitCondition(t, ns, "missing", metav1.ConditionFalse, v1beta1.ReasonNoPoolMatches)
}

func TestAutoAssignFalseIsNotUsedAutomatically(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	p := newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{subnet4()}, AutoAssign: ptr.To(false)})
	newService(t, ns, "web")
	waitCondition(t, ns, "web", metav1.ConditionFalse, v1beta1.ReasonNoPoolMatches)
	// Turning autoAssign on recovers the Service.
	update(t, p, func(p *v1beta1.IPAddressPool) { p.Spec.AutoAssign = ptr.To(true) })
	waitAssigned(t, ns, "web")
}

func TestNamespaceAndServiceSelectors(t *testing.T) {
	startController(t)
	team := map[string]string{"team": fmt.Sprintf("blue-%d", subnetSeq.Add(1))}
	nsBlue := newNamespace(t, team)
	nsOther := newNamespace(t, nil)
	byLabelCIDR := subnet4()
	newPool(t, "", v1beta1.IPAddressPoolSpec{Addresses: []string{byLabelCIDR}, AllocateTo: &v1beta1.ServiceAllocation{
		NamespaceSelectors: []metav1.LabelSelector{{MatchLabels: team}},
	}})
	selCIDR := subnet4()
	newPool(t, "", v1beta1.IPAddressPoolSpec{Addresses: []string{selCIDR}, AllocateTo: &v1beta1.ServiceAllocation{
		Namespaces:       []string{nsOther},
		ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "edge"}}},
	}})

	newService(t, nsBlue, "a")
	mustPrefixContain(t, byLabelCIDR, ingressIPs(waitAssigned(t, nsBlue, "a"))[0])

	newService(t, nsOther, "edge", withLabels(map[string]string{"tier": "edge"}))
	mustPrefixContain(t, selCIDR, ingressIPs(waitAssigned(t, nsOther, "edge"))[0])

	// Neither pool admits an unlabelled Service in nsOther.
	newService(t, nsOther, "plain")
	waitCondition(t, nsOther, "plain", metav1.ConditionFalse, v1beta1.ReasonNoPoolMatches)

	// Labelling the namespace admits its Services without a restart.
	var ns corev1.Namespace
	ns.Name = nsOther
	update(t, &ns, func(n *corev1.Namespace) { n.Labels = team })
	mustPrefixContain(t, byLabelCIDR, ingressIPs(waitAssigned(t, nsOther, "plain"))[0])
}

func TestPriorityOrder(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	low, high, none := subnet4(), subnet4(), subnet4()
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{none}})
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{low}, AllocateTo: &v1beta1.ServiceAllocation{Priority: ptr.To[int32](20), Namespaces: []string{ns}}})
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{high}, AllocateTo: &v1beta1.ServiceAllocation{Priority: ptr.To[int32](10), Namespaces: []string{ns}}})
	newService(t, ns, "web")
	mustPrefixContain(t, high, ingressIPs(waitAssigned(t, ns, "web"))[0])
}

func TestExhaustionAndRecovery(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	cidr := subnet4()
	two := cidr[:len(cidr)-len("0/24")] + "1-" + cidr[:len(cidr)-len("0/24")] + "2"
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{two}})
	a := newService(t, ns, "a")
	newService(t, ns, "b")
	waitAssigned(t, ns, "a")
	waitAssigned(t, ns, "b")
	newService(t, ns, "c")
	waitCondition(t, ns, "c", metav1.ConditionFalse, v1beta1.ReasonPoolExhausted)
	waitEvent(t, ns, "c", v1beta1.ReasonPoolExhausted)
	freed := ingressIPs(getService(t, ns, "a"))[0]
	deleteObject(t, a)
	if got := ingressIPs(waitAssigned(t, ns, "c")); !slices.Equal(got, []string{freed}) {
		t.Errorf("c got %v, want the freed %s", got, freed)
	}
}

func TestSharing(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	cidr := subnet4()
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{cidr}})
	ip := cidr[:len(cidr)-len("0/24")] + "50"
	shared := func(key string) serviceOption { return withAnnotation(v1beta1.AnnotationAllowSharedIP, key) }
	want := withAnnotation(v1beta1.AnnotationLoadBalancerIPs, ip)

	newService(t, ns, "dns-tcp", want, shared("dns"), withPort(corev1.ProtocolTCP, 53))
	newService(t, ns, "dns-udp", want, shared("dns"), withPort(corev1.ProtocolUDP, 53))
	for _, n := range []string{"dns-tcp", "dns-udp"} {
		if got := ingressIPs(waitAssigned(t, ns, n)); !slices.Equal(got, []string{ip}) {
			t.Fatalf("%s: ingress %v, want shared %s", n, got, ip)
		}
	}
	// Automatic assignment with the same key joins the shared address.
	newService(t, ns, "dns-metrics", shared("dns"), withPort(corev1.ProtocolTCP, 9153))
	if got := ingressIPs(waitAssigned(t, ns, "dns-metrics")); !slices.Equal(got, []string{ip}) {
		t.Errorf("dns-metrics: ingress %v, want shared %s", got, ip)
	}
	tests := []struct {
		name string
		opts []serviceOption
	}{
		{name: "port-clash", opts: []serviceOption{want, shared("dns"), withPort(corev1.ProtocolUDP, 53)}},
		{name: "other-key", opts: []serviceOption{want, shared("web"), withPort(corev1.ProtocolTCP, 8080)}},
		{name: "no-key", opts: []serviceOption{want, withPort(corev1.ProtocolTCP, 8081)}},
		{name: "metallb-alias-other-key", opts: []serviceOption{want, withAnnotation(v1beta1.MetalLBAllowSharedIP, "x"), withPort(corev1.ProtocolTCP, 8082)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newService(t, ns, tt.name, tt.opts...)
			waitCondition(t, ns, tt.name, metav1.ConditionFalse, v1beta1.ReasonRequestedIPTaken)
		})
	}
	// The MetalLB sharing alias shares like Portico's own annotation.
	newService(t, ns, "alias", want, withAnnotation(v1beta1.MetalLBLegacySharedIP, "dns"), withPort(corev1.ProtocolTCP, 853))
	if got := ingressIPs(waitAssigned(t, ns, "alias")); !slices.Equal(got, []string{ip}) {
		t.Errorf("alias: ingress %v, want shared %s", got, ip)
	}
}

func TestClassFiltering(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{subnet4()}})
	newService(t, ns, "ours", func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To(v1beta1.LoadBalancerClass) })
	newService(t, ns, "theirs", func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To("example.com/other") })
	newService(t, ns, "noclass")
	waitAssigned(t, ns, "ours")
	waitAssigned(t, ns, "noclass")
	// "theirs" was queued before "noclass" finished; it must still be untouched.
	svc := getService(t, ns, "theirs")
	if len(svc.Status.LoadBalancer.Ingress) != 0 || len(svc.Status.Conditions) != 0 {
		t.Errorf("Service of another class was touched: %+v", svc.Status)
	}
}

func TestReleaseOnTypeChangeAndDelete(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	cidr := subnet4()
	one := cidr[:len(cidr)-len("0/24")] + "9/32"
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{one}})
	a := newService(t, ns, "a")
	waitAssigned(t, ns, "a")
	newService(t, ns, "b")
	waitCondition(t, ns, "b", metav1.ConditionFalse, v1beta1.ReasonPoolExhausted)

	// Type change away from LoadBalancer releases: b gets the address.
	update(t, a, func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeClusterIP
		for i := range s.Spec.Ports {
			s.Spec.Ports[i].NodePort = 0
		}
		s.Spec.AllocateLoadBalancerNodePorts = nil
		s.Spec.ExternalTrafficPolicy = ""
	})
	waitAssigned(t, ns, "b")
	eventually(t, "a's status cleared", func() (bool, string) {
		s := getService(t, ns, "a")
		return len(s.Status.LoadBalancer.Ingress) == 0 && len(s.Status.Conditions) == 0, fmt.Sprintf("%+v", s.Status)
	})
	// Deleting b releases: a third Service gets the address.
	deleteObject(t, getService(t, ns, "b"))
	newService(t, ns, "c")
	waitAssigned(t, ns, "c")
}

func TestDisabledPool(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	cidr := subnet4()
	p := newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{cidr}})
	newService(t, ns, "old")
	before := ingressIPs(waitAssigned(t, ns, "old"))
	update(t, p, func(p *v1beta1.IPAddressPool) { p.Spec.Disabled = true })
	newService(t, ns, "new")
	waitCondition(t, ns, "new", metav1.ConditionFalse, v1beta1.ReasonNoPoolMatches)
	newService(t, ns, "named", withAnnotation(v1beta1.AnnotationAddressPool, p.Name))
	waitCondition(t, ns, "named", metav1.ConditionFalse, v1beta1.ReasonPoolDisabled)
	if got := ingressIPs(getService(t, ns, "old")); !slices.Equal(got, before) {
		t.Errorf("disabled pool took back %v (now %v)", before, got)
	}
	update(t, p, func(p *v1beta1.IPAddressPool) { p.Spec.Disabled = false })
	waitAssigned(t, ns, "new")
	waitAssigned(t, ns, "named")
}

// A pool shrunk or deleted no longer covers some Services' addresses. Portico
// follows the pools: such a Service is moved to an address the remaining
// pools give it (with an IPChanged Event), or waits with NoPoolMatches.
func TestPoolShrunkOrDeleted(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	cidr := subnet4()
	base := cidr[:len(cidr)-len("0/24")]
	p := newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{base + "10-" + base + "20"}})
	newService(t, ns, "web", withAnnotation(v1beta1.AnnotationLoadBalancerIPs, base+"20"))
	waitAssigned(t, ns, "web")
	newService(t, ns, "api")
	apiBefore := ingressIPs(waitAssigned(t, ns, "api"))
	other := subnet4()
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{other}})

	// Shrink to exclude .20: the requested address is now outside every pool.
	update(t, p, func(p *v1beta1.IPAddressPool) { p.Spec.Addresses = []string{base + "10-" + base + "19"} })
	waitCondition(t, ns, "web", metav1.ConditionFalse, v1beta1.ReasonRequestedIPNotInAnyPool)
	if got := ingressIPs(getService(t, ns, "api")); !slices.Equal(got, apiBefore) {
		t.Errorf("api moved from %v to %v although its address is still in the pool", apiBefore, got)
	}
	// Delete the pool: api moves to the other pool.
	deleteObject(t, p)
	eventually(t, "api moved to the remaining pool", func() (bool, string) {
		got := ingressIPs(getService(t, ns, "api"))
		return len(got) == 1 && inPrefix(other, got[0]), fmt.Sprint(got)
	})
	waitEvent(t, ns, "api", v1beta1.ReasonIPChanged)
}

func TestOverlappingPoolsConflict(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	cidr := subnet4()
	older := newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{cidr}})
	newService(t, ns, "web")
	before := ingressIPs(waitAssigned(t, ns, "web"))
	newer := newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{cidr[:len(cidr)-len("0/24")] + "128/25"}})
	for _, p := range []*v1beta1.IPAddressPool{older, newer} {
		eventually(t, "Conflicting on "+p.Name, func() (bool, string) {
			var got v1beta1.IPAddressPool
			_ = k8s.Get(context.Background(), clientKey(p), &got)
			c := findCondition(got.Status.Conditions, v1beta1.ConditionConflicting)
			return c != nil && c.Status == metav1.ConditionTrue, fmt.Sprintf("%+v", got.Status.Conditions)
		})
	}
	// The newer pool is not used; the older keeps serving.
	newService(t, ns, "api", withAnnotation(v1beta1.AnnotationAddressPool, newer.Name))
	waitCondition(t, ns, "api", metav1.ConditionFalse, v1beta1.ReasonNoPoolMatches)
	if got := ingressIPs(getService(t, ns, "web")); !slices.Equal(got, before) {
		t.Errorf("web moved from %v to %v", before, got)
	}
	// Deleting the older pool lets the newer one in.
	deleteObject(t, older)
	waitAssigned(t, ns, "api")
}

func TestAvoidBuggyIPs(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	cidr := subnet4()
	base := cidr[:len(cidr)-len("0/24")]
	// 4 addresses: .254, .255, next .0, .1; only .254 and .1 are usable.
	next := nextBlock(cidr)
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{base + "254-" + next + "1"}, AvoidBuggyIPs: true})
	for i := range 3 {
		newService(t, ns, fmt.Sprintf("s%d", i))
	}
	// Any two of the three win; the third finds the pool exhausted.
	var got []string
	eventually(t, "two assigned, one exhausted", func() (bool, string) {
		got = got[:0]
		exhausted := 0
		for i := range 3 {
			s := getService(t, ns, fmt.Sprintf("s%d", i))
			got = append(got, ingressIPs(s)...)
			if c := findCondition(s.Status.Conditions, v1beta1.ServiceConditionIPAssigned); c != nil && c.Reason == v1beta1.ReasonPoolExhausted {
				exhausted++
			}
		}
		return len(got) == 2 && exhausted == 1, fmt.Sprintf("assigned %v, exhausted %d", got, exhausted)
	})
	slices.Sort(got)
	want := []string{base + "254", next + "1"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("assigned %v, want %v", got, want)
	}
	newService(t, ns, "asks-broadcast", withAnnotation(v1beta1.AnnotationLoadBalancerIPs, base+"255"))
	waitCondition(t, ns, "asks-broadcast", metav1.ConditionFalse, v1beta1.ReasonRequestedIPTaken)
}
