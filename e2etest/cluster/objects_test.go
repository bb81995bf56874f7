package cluster

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// TestBuilders pins the objects the suites, the lab demo and the benchmarks
// built by hand before they shared these builders.
func TestBuilders(t *testing.T) {
	tcp80 := corev1.ServicePort{Name: "tcp", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(PodPort)}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{
			name: "a test's pool, named Services only",
			got:  Pool("p", false, "10.0.0.200-10.0.0.203"),
			want: &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "p"},
				Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.200-10.0.0.203"}, AutoAssign: ptr.To(false)}},
		},
		{
			name: "the demo's pool leaves autoAssign to its default",
			got:  Pool("demo", true, "10.0.0.0/28"),
			want: &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "demo"},
				Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/28"}}},
		},
		{
			name: "advertisement",
			got:  L2Advertisement("l2", "a", "b"),
			want: &v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "l2"},
				Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"a", "b"}}},
		},
		{
			name: "a suite's Service",
			got:  Service("ns", "web", FromPool("p"), Port(corev1.ProtocolTCP, 80), SingleStack(corev1.IPv6Protocol), TrafficLocal()),
			want: &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Annotations: map[string]string{v1beta1.AnnotationAddressPool: "p"}},
				Spec: corev1.ServiceSpec{
					Type:                  corev1.ServiceTypeLoadBalancer,
					ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
					Ports:                 []corev1.ServicePort{tcp80},
					IPFamilyPolicy:        ptr.To(corev1.IPFamilyPolicySingleStack),
					IPFamilies:            []corev1.IPFamily{corev1.IPv6Protocol},
				},
			},
		},
		{
			name: "the demo's dual-stack Service, dual-stack winning over the IPv4 default",
			got: Service("demo", "web", SelectApp("web"), SingleStack(corev1.IPv4Protocol), DualStack(),
				Port(corev1.ProtocolTCP, 80), Port(corev1.ProtocolUDP, 53)),
			want: &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
				Spec: corev1.ServiceSpec{
					Type:                  corev1.ServiceTypeLoadBalancer,
					ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
					Selector:              map[string]string{"app": "web"},
					Ports: []corev1.ServicePort{tcp80,
						{Name: "udp", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(PodPort)}},
					IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicyRequireDualStack),
					IPFamilies:     []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol},
				},
			},
		},
		{
			name: "the allocation bench's Service",
			got:  Service("ns", "s", Port(corev1.ProtocolTCP, 80), NoNodePorts(), Annotate("k", "v")),
			want: &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", Annotations: map[string]string{"k": "v"}},
				Spec: corev1.ServiceSpec{
					Type:                          corev1.ServiceTypeLoadBalancer,
					ExternalTrafficPolicy:         corev1.ServiceExternalTrafficPolicyCluster,
					Ports:                         []corev1.ServicePort{tcp80},
					AllocateLoadBalancerNodePorts: ptr.To(false),
				},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
