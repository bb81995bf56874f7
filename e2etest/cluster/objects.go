package cluster

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// The objects e2etest creates: one set of builders for the suites, the lab
// demo and the benchmarks, so each says only what its objects have of
// their own.

// Pool returns an IPAddressPool over addresses (CIDRs or a-b ranges). With
// autoAssign false only Services that name it get its addresses, which
// keeps tests that share a cluster apart.
func Pool(name string, autoAssign bool, addresses ...string) *v1beta1.IPAddressPool {
	p := &v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: addresses},
	}
	if !autoAssign {
		p.Spec.AutoAssign = ptr.To(false)
	}
	return p
}

// L2Advertisement returns an L2Advertisement of the named pools.
func L2Advertisement(name string, pools ...string) *v1beta1.L2Advertisement {
	return &v1beta1.L2Advertisement{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1beta1.L2AdvertisementSpec{IPAddressPools: pools},
	}
}

// ServiceOption changes a Service that Service builds.
type ServiceOption func(*corev1.Service)

// Service returns a LoadBalancer Service ns/name with
// externalTrafficPolicy Cluster and no ports, changed by opts in order.
func Service(ns, name string, opts ...ServiceOption) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
		},
	}
	for _, o := range opts {
		o(svc)
	}
	return svc
}

// Annotate sets annotation key to value.
func Annotate(key, value string) ServiceOption {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[key] = value
	}
}

// FromPool asks for an address from the named pool.
func FromPool(pool string) ServiceOption { return Annotate(v1beta1.AnnotationAddressPool, pool) }

// Port adds a port, named after its protocol, that the pods' podserver
// (PodPort) serves.
func Port(proto corev1.Protocol, port int32) ServiceOption {
	return func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{
			Name: strings.ToLower(string(proto)), Protocol: proto, Port: port, TargetPort: intstr.FromInt32(PodPort),
		})
	}
}

// SelectApp selects the pods labelled app=app.
func SelectApp(app string) ServiceOption {
	return func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": app} }
}

// SingleStack asks for one address, of family.
func SingleStack(family corev1.IPFamily) ServiceOption {
	return func(s *corev1.Service) {
		s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
		s.Spec.IPFamilies = []corev1.IPFamily{family}
	}
}

// DualStack requires one address of each family.
func DualStack() ServiceOption {
	return func(s *corev1.Service) {
		s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}
}

// TrafficLocal sets externalTrafficPolicy Local.
func TrafficLocal() ServiceOption {
	return func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }
}

// NoNodePorts turns NodePort allocation off, so runs with many Services do
// not exhaust the NodePort range.
func NoNodePorts() ServiceOption {
	return func(s *corev1.Service) { s.Spec.AllocateLoadBalancerNodePorts = ptr.To(false) }
}
