package service

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// FuzzRequestFor: whatever a user writes in a Service's address, pool and
// sharing annotations or spec.loadBalancerIP, requestFor does not panic;
// it either names the field it cannot read, or asks only for addresses that
// were written there, each once, with no zone or IPv4-mapped form.
func FuzzRequestFor(f *testing.F) {
	seeds := []struct{ ips, legacy, pool, share string }{
		{"192.0.2.10", "", "", ""},                           // one address
		{"192.0.2.10, 2001:db8::10", "", "blue", "k"},        // dual stack, pool and key
		{"192.0.2.10,192.0.2.10", "", "", ""},                // repeated
		{"", "198.51.100.7", "", ""},                         // legacy field
		{"192.0.2.x", "", "", ""},                            // typo
		{"fe80::1%eth0", "", "", ""},                         // zone
		{"::ffff:192.0.2.1", "", "", ""},                     // IPv4-mapped
		{",,,", " ", "\x00", "\xff"},                         // separators and junk
		{"192.0.2.1", "2001:db8::1", "", ""},                 // the annotation wins
		{strings.Repeat("1.1.1.1,", 50), "", "", ""},         // long
		{"", "", "", strings.Repeat("x", 300)},               // long key
		{"192.0.2.1/32", "", "", ""},                         // a prefix is not an address
		{"\t192.0.2.1\n", "", "", ""},                        // whitespace
		{"192.0.2.256", "", "", ""},                          // out of range
		{"2001:db8::1,2001:db8::2", "", "", ""},              // two of one family: ipam refuses
		{"1.2.3.4", "", "missing-pool", "metallb-style-key"}, // names ipam checks
	}
	for _, s := range seeds {
		f.Add(s.ips, s.legacy, s.pool, s.share)
	}
	f.Fuzz(func(t *testing.T, ips, legacy, pool, share string) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Annotations: map[string]string{
				v1beta1.AnnotationLoadBalancerIPs: ips,
				v1beta1.AnnotationAddressPool:     pool,
				v1beta1.AnnotationAllowSharedIP:   share,
			}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerIP: legacy},
		}
		req := requestFor(svc, nil)
		source := ips
		if strings.TrimSpace(ips) == "" {
			source = legacy
		}
		if req.Invalid != "" {
			if !strings.HasPrefix(req.Invalid, "metadata.annotations[") && !strings.HasPrefix(req.Invalid, "spec.loadBalancerIP") {
				t.Fatalf("Invalid %q names no field", req.Invalid)
			}
			return
		}
		seen := map[netip.Addr]bool{}
		var again []string
		for _, a := range req.Requested {
			if seen[a] || a.Zone() != "" || a.Is4In6() || !a.IsValid() {
				t.Fatalf("requested %v from %q", req.Requested, source)
			}
			seen[a] = true
			again = append(again, a.String())
		}
		// Round trip: the request written back reads the same.
		svc.Spec.LoadBalancerIP = ""
		svc.Annotations[v1beta1.AnnotationLoadBalancerIPs] = strings.Join(again, ",")
		if back := requestFor(svc, nil); back.Invalid != "" || !slices.Equal(back.Requested, req.Requested) {
			t.Fatalf("%q read as %v, written back as %q, read again as %v (%s)", source, req.Requested, again, back.Requested, back.Invalid)
		}
		if req.Pool != strings.TrimSpace(pool) || req.Owner.SharingKey != strings.TrimSpace(share) {
			t.Fatalf("pool %q key %q from %q %q", req.Pool, req.Owner.SharingKey, pool, share)
		}
	})
}
