package controller_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// TestSharedAddressFollowsEdits: Services sharing an address are judged by
// their current specs. An edit after which two of them may no longer share
// moves the one that came second, with IPChanged and the reason in its
// condition, whichever of the two was edited; and a restart then finds no
// duplicate.
func TestSharedAddressFollowsEdits(t *testing.T) {
	stop := startController(t)
	shared := func(key string) serviceOption { return withAnnotation(v1beta1.AnnotationAllowSharedIP, key) }
	tests := []struct {
		name string
		// edit is applied to first or second.
		editFirst bool
		edit      func(*corev1.Service)
		want      string // in the moved Service's condition
	}{
		{name: "second-port-clash", edit: setPort(80), want: "port TCP/80 already used by"},
		{name: "second-drops-key", edit: func(s *corev1.Service) { delete(s.Annotations, v1beta1.AnnotationAllowSharedIP) }, want: "does not share"},
		{name: "second-changes-key", edit: func(s *corev1.Service) { s.Annotations[v1beta1.AnnotationAllowSharedIP] = "other" }, want: `sharing key "other" differs`},
		{name: "second-local-other-backends", edit: func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, want: "backends differ"},
		{name: "first-port-clash", editFirst: true, edit: setPort(443), want: "port TCP/443 already used by"},
	}
	var namespaces []string
	for _, tt := range tests {
		// Made by the parent test, so they outlive the subtests for the restart.
		ns := newNamespace(t, nil)
		namespaces = append(namespaces, ns)
		newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{subnet4()}})
		t.Run(tt.name, func(t *testing.T) {
			newService(t, ns, "first", shared("k"), withPort(corev1.ProtocolTCP, 80))
			ip := ingressIPs(waitAssigned(t, ns, "first"))
			newService(t, ns, "second", shared("k"), withPort(corev1.ProtocolTCP, 443))
			if got := ingressIPs(waitAssigned(t, ns, "second")); !slices.Equal(got, ip) {
				t.Fatalf("second got %v, want to share %v", got, ip)
			}
			edited := "second"
			if tt.editFirst {
				edited = "first"
			}
			update(t, getService(t, ns, edited), tt.edit)
			eventually(t, "second moves off "+ip[0], func() (bool, string) {
				s := getService(t, ns, "second")
				c := meta.FindStatusCondition(s.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
				got := ingressIPs(s)
				return c != nil && c.Reason == v1beta1.ReasonAssigned && len(got) == 1 && got[0] != ip[0] &&
					strings.Contains(c.Message, "lost "+ip[0]) && strings.Contains(c.Message, tt.want), c.String() + " " + strings.Join(got, ",")
			})
			waitEvent(t, ns, "second", v1beta1.ReasonIPChanged)
			if got := ingressIPs(getService(t, ns, "first")); !slices.Equal(got, ip) {
				t.Errorf("first moved to %v; it held %v first", got, ip)
			}
		})
	}
	// A restart finds every Service where the edits left it, and no duplicate.
	before := map[string][]string{}
	for _, ns := range namespaces {
		for _, name := range []string{"first", "second"} {
			s := getService(t, ns, name)
			before[ns+"/"+name] = append(ingressIPs(s), s.ResourceVersion)
		}
	}
	stop()
	startController(t)
	probe := namespaces[0]
	newService(t, probe, "after-restart")
	waitAssigned(t, probe, "after-restart")
	for key, want := range before {
		ns, name, _ := strings.Cut(key, "/")
		s := getService(t, ns, name)
		if got := append(ingressIPs(s), s.ResourceVersion); !slices.Equal(got, want) {
			t.Errorf("%s changed across the restart: %v, was %v", key, got, want)
		}
	}
}

func setPort(port int32) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.Ports = nil
		withPort(corev1.ProtocolTCP, port)(s)
	}
}

// TestDuplicateFixedByEditingIt: a Service reported DuplicateIP at start-up
// recovers when it is edited to request a free address, as its condition
// says; the older Service keeps the address.
func TestDuplicateFixedByEditingIt(t *testing.T) {
	ns := newNamespace(t, nil)
	cidr := subnet4()
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{cidr}})
	dup := strings.TrimSuffix(cidr, "0/24") + "10"
	free := strings.TrimSuffix(cidr, "0/24") + "11"
	// Two statuses with one address, as a restore from a backup might leave
	// them, written while no controller runs.
	for _, name := range []string{"older", "younger"} {
		s := newService(t, ns, name)
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: dup}}
		if err := k8s.Status().Update(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	startController(t)
	waitCondition(t, ns, "younger", metav1.ConditionFalse, v1beta1.ReasonDuplicateIP)
	if got := ingressIPs(getService(t, ns, "older")); !slices.Equal(got, []string{dup}) {
		t.Fatalf("older Service = %v, want it to keep %s", got, dup)
	}
	update(t, getService(t, ns, "younger"), func(s *corev1.Service) {
		s.Annotations = map[string]string{v1beta1.AnnotationLoadBalancerIPs: free}
	})
	if got := ingressIPs(waitAssigned(t, ns, "younger")); !slices.Equal(got, []string{free}) {
		t.Fatalf("younger after the edit = %v, want %s", got, free)
	}
	if got := ingressIPs(waitAssigned(t, ns, "older")); !slices.Equal(got, []string{dup}) {
		t.Errorf("older = %v, want %s", got, dup)
	}
}

// TestTypoKeepsAddress: a malformed requested-address annotation keeps the
// address the Service holds and says InvalidRequest; nobody else can take
// the address meanwhile; fixing the typo recovers it.
func TestTypoKeepsAddress(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	cidr := subnet4()
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{cidr}})
	ip := strings.TrimSuffix(cidr, "0/24") + "20"
	newService(t, ns, "web", withAnnotation(v1beta1.AnnotationLoadBalancerIPs, ip))
	waitAssigned(t, ns, "web")

	update(t, getService(t, ns, "web"), func(s *corev1.Service) {
		s.Annotations[v1beta1.AnnotationLoadBalancerIPs] = ip + "x"
	})
	svc := waitCondition(t, ns, "web", metav1.ConditionFalse, v1beta1.ReasonInvalidRequest)
	if got := ingressIPs(svc); !slices.Equal(got, []string{ip}) {
		t.Fatalf("after the typo the Service shows %v, want %s kept", got, ip)
	}
	c := meta.FindStatusCondition(svc.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
	if !strings.Contains(c.Message, "metadata.annotations[portico.dev/load-balancer-ips]") || !strings.Contains(c.Message, "keeping "+ip) {
		t.Errorf("condition message %q should name the field and the kept address", c.Message)
	}
	newService(t, ns, "thief", withAnnotation(v1beta1.AnnotationLoadBalancerIPs, ip))
	waitCondition(t, ns, "thief", metav1.ConditionFalse, v1beta1.ReasonRequestedIPTaken)

	update(t, getService(t, ns, "web"), func(s *corev1.Service) {
		s.Annotations[v1beta1.AnnotationLoadBalancerIPs] = ip
	})
	if got := ingressIPs(waitAssigned(t, ns, "web")); !slices.Equal(got, []string{ip}) {
		t.Errorf("after the fix = %v, want %s", got, ip)
	}
}

// TestPreferDualStackGetsIPv6WhenOneFrees: a PreferDualStack Service that
// got only IPv4 because IPv6 was exhausted gets IPv6 once an address frees.
func TestPreferDualStackGetsIPv6WhenOneFrees(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	v6 := strings.TrimSuffix(subnet6(), "/120") + "5"
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{subnet4(), v6 + "/128"}})
	hog := newService(t, ns, "hog", withFamilies(corev1.IPFamilyPolicySingleStack, corev1.IPv6Protocol))
	waitAssigned(t, ns, "hog")
	newService(t, ns, "dual", withFamilies(corev1.IPFamilyPolicyPreferDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol))
	if got := ingressIPs(waitAssigned(t, ns, "dual")); len(got) != 1 {
		t.Fatalf("dual = %v, want IPv4 only while IPv6 is exhausted", got)
	}
	deleteObject(t, hog)
	eventually(t, "dual gets "+v6, func() (bool, string) {
		got := ingressIPs(getService(t, ns, "dual"))
		return len(got) == 2 && got[1] == v6, strings.Join(got, ",")
	})
}
