package service

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/controller/allocator"
	"github.com/portico-lb/portico/controller/ipam"
)

// RequestError is a Service asking for something that cannot be read; the
// user must fix the Service.
type RequestError struct{ Field, Message string }

func (e *RequestError) Error() string { return e.Field + ": " + e.Message }

// annotation returns the first non-empty value among names, Portico's own first.
func annotation(svc *corev1.Service, names ...string) (string, string) {
	for _, n := range names {
		if v := strings.TrimSpace(svc.Annotations[n]); v != "" {
			return n, v
		}
	}
	return "", ""
}

// requestFor reads what svc asks for. A request that cannot be read says
// why in Invalid, naming the field.
func requestFor(svc *corev1.Service, nsLabels map[string]string) ipam.Request {
	req, err := parseRequest(svc, nsLabels)
	if err != nil {
		req.Invalid = err.Error()
	}
	return req
}

func parseRequest(svc *corev1.Service, nsLabels map[string]string) (ipam.Request, error) {
	req := ipam.Request{
		Owner: ownerFor(svc),
		Info:  config.ServiceInfo{Namespace: svc.Namespace, NamespaceLabels: nsLabels, Labels: svc.Labels},
	}
	for _, f := range svc.Spec.IPFamilies {
		req.Families = append(req.Families, f == corev1.IPv6Protocol)
	}
	if len(req.Families) == 0 {
		req.Families = []bool{false}
	}
	policy := corev1.IPFamilyPolicySingleStack
	if svc.Spec.IPFamilyPolicy != nil {
		policy = *svc.Spec.IPFamilyPolicy
	}
	req.RequireAll = policy != corev1.IPFamilyPolicyPreferDualStack

	_, req.Pool = annotation(svc, v1beta1.AnnotationAddressPool, v1beta1.MetalLBAddressPool, v1beta1.MetalLBLegacyAddressPool)

	field, ips := annotation(svc, v1beta1.AnnotationLoadBalancerIPs, v1beta1.MetalLBLoadBalancerIPs, v1beta1.MetalLBLegacyLBIPs)
	if field != "" {
		field = fmt.Sprintf("metadata.annotations[%s]", field)
	} else if ips = strings.TrimSpace(svc.Spec.LoadBalancerIP); ips != "" {
		field = "spec.loadBalancerIP"
	}
	for s := range strings.SplitSeq(ips, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" || ip.Is4In6() {
			return req, &RequestError{Field: field, Message: fmt.Sprintf("%q is not an IP address", s)}
		}
		if slices.Contains(req.Requested, ip) {
			continue
		}
		req.Requested = append(req.Requested, ip)
	}
	return req, nil
}

// ownerFor describes svc to the allocator: its sharing key and ports, and a
// backend key so that only Services with the same announcement behaviour
// share an address (ETP Local announces from the nodes with endpoints of the
// selector, so they must select the same pods).
func ownerFor(svc *corev1.Service) allocator.Owner {
	o := allocator.Owner{Key: svc.Namespace + "/" + svc.Name}
	_, o.SharingKey = annotation(svc, v1beta1.AnnotationAllowSharedIP, v1beta1.MetalLBAllowSharedIP, v1beta1.MetalLBLegacySharedIP)
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		o.BackendKey = "local:" + labels.SelectorFromSet(svc.Spec.Selector).String()
	}
	for _, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		o.Ports = append(o.Ports, allocator.Port{Protocol: string(proto), Port: p.Port})
	}
	return o
}
