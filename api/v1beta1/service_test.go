package v1beta1_test

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

func TestServes(t *testing.T) {
	for _, tt := range []struct {
		name         string
		typ          corev1.ServiceType
		class        *string
		serveNoClass bool
		want         bool
	}{
		{"no class", corev1.ServiceTypeLoadBalancer, nil, true, true},
		{"no class, ignored", corev1.ServiceTypeLoadBalancer, nil, false, false},
		{"portico class", corev1.ServiceTypeLoadBalancer, ptr.To(v1beta1.LoadBalancerClass), false, true},
		{"other class", corev1.ServiceTypeLoadBalancer, ptr.To("example.com/lb"), true, false},
		{"cluster ip", corev1.ServiceTypeClusterIP, nil, true, false},
	} {
		s := &corev1.Service{Spec: corev1.ServiceSpec{Type: tt.typ, LoadBalancerClass: tt.class}}
		if got := v1beta1.Serves(s, tt.serveNoClass); got != tt.want {
			t.Errorf("%s: serves = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIngressAddrs(t *testing.T) {
	s := &corev1.Service{Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
		{IP: "192.0.2.1"}, {Hostname: "lb.example.com"}, {IP: "2001:db8::1"}, {IP: "not-an-ip"},
	}}}}
	want := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}
	if got := v1beta1.IngressAddrs(s); !slices.Equal(got, want) {
		t.Errorf("IngressAddrs = %v, want %v", got, want)
	}
}
