package service

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/allocator"
)

func TestRequestFor(t *testing.T) {
	dual := corev1.IPFamilyPolicyPreferDualStack
	tests := []struct {
		name    string
		svc     corev1.Service
		want    func(*requestView)
		wantErr string
	}{
		{name: "defaults", svc: svc(nil), want: func(v *requestView) {}},
		{name: "portico annotations", svc: svc(map[string]string{
			v1beta1.AnnotationAddressPool: "gold", v1beta1.AnnotationLoadBalancerIPs: "192.0.2.1, 2001:db8::1", v1beta1.AnnotationAllowSharedIP: "k",
		}), want: func(v *requestView) {
			v.Pool, v.Requested, v.SharingKey = "gold", []string{"192.0.2.1", "2001:db8::1"}, "k"
		}},
		{name: "metallb.io aliases", svc: svc(map[string]string{
			v1beta1.MetalLBAddressPool: "silver", v1beta1.MetalLBLoadBalancerIPs: "192.0.2.2", v1beta1.MetalLBAllowSharedIP: "m",
		}), want: func(v *requestView) { v.Pool, v.Requested, v.SharingKey = "silver", []string{"192.0.2.2"}, "m" }},
		{name: "metallb.universe.tf aliases", svc: svc(map[string]string{
			v1beta1.MetalLBLegacyAddressPool: "bronze", v1beta1.MetalLBLegacyLBIPs: "192.0.2.3", v1beta1.MetalLBLegacySharedIP: "u",
		}), want: func(v *requestView) { v.Pool, v.Requested, v.SharingKey = "bronze", []string{"192.0.2.3"}, "u" }},
		{name: "portico wins over alias", svc: svc(map[string]string{
			v1beta1.AnnotationAddressPool: "mine", v1beta1.MetalLBAddressPool: "theirs",
		}), want: func(v *requestView) { v.Pool = "mine" }},
		{name: "spec.loadBalancerIP", svc: func() corev1.Service {
			s := svc(nil)
			s.Spec.LoadBalancerIP = "192.0.2.9"
			return s
		}(), want: func(v *requestView) { v.Requested = []string{"192.0.2.9"} }},
		{name: "annotation wins over spec.loadBalancerIP", svc: func() corev1.Service {
			s := svc(map[string]string{v1beta1.AnnotationLoadBalancerIPs: "192.0.2.10"})
			s.Spec.LoadBalancerIP = "192.0.2.9"
			return s
		}(), want: func(v *requestView) { v.Requested = []string{"192.0.2.10"} }},
		{name: "dual stack preferred", svc: func() corev1.Service {
			s := svc(nil)
			s.Spec.IPFamilyPolicy = &dual
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
			return s
		}(), want: func(v *requestView) { v.Families, v.RequireAll = []bool{true, false}, false }},
		{name: "etp local backend key", svc: func() corev1.Service {
			s := svc(nil)
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.Selector = map[string]string{"app": "web"}
			return s
		}(), want: func(v *requestView) { v.BackendKey = "local:app=web" }},
		{name: "bad address", svc: svc(map[string]string{v1beta1.AnnotationLoadBalancerIPs: "192.0.2.1,nope"}),
			wantErr: `metadata.annotations[portico.dev/load-balancer-ips]: "nope" is not an IP address`},
		{name: "bad legacy field", svc: func() corev1.Service {
			s := svc(nil)
			s.Spec.LoadBalancerIP = "300.1.1.1"
			return s
		}(), wantErr: `spec.loadBalancerIP: "300.1.1.1" is not an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRequest(&tt.svc, nil)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := requestView{Key: "ns/web", Families: []bool{false}, RequireAll: true,
				Ports: []allocator.Port{{Protocol: "TCP", Port: 80}, {Protocol: "UDP", Port: 53}}}
			tt.want(&want)
			if diff := cmp.Diff(want, view(got.Owner, got.Families, got.RequireAll, got.Requested, got.Pool)); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

type requestView struct {
	Key, SharingKey, BackendKey, Pool string
	Ports                             []allocator.Port
	Families                          []bool
	RequireAll                        bool
	Requested                         []string
}

func view(o allocator.Owner, fams []bool, all bool, req []netip.Addr, pool string) requestView {
	v := requestView{Key: o.Key, SharingKey: o.SharingKey, BackendKey: o.BackendKey, Pool: pool, Ports: o.Ports, Families: fams, RequireAll: all}
	for _, a := range req {
		v.Requested = append(v.Requested, a.String())
	}
	return v
}

func svc(annotations map[string]string) corev1.Service {
	return corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Annotations: annotations},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeLoadBalancer,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}},
		},
	}
}
