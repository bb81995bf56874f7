package v1beta1

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// The Service-facing API: load balancer class, annotations and the condition
// Portico writes on every Service it serves.
const (
	// LoadBalancerClass is the spec.loadBalancerClass Portico serves. By
	// default it also serves Services with no class.
	LoadBalancerClass = "portico.dev/lb"

	// AnnotationAddressPool names the pool to take addresses from.
	AnnotationAddressPool = "portico.dev/address-pool"
	// AnnotationLoadBalancerIPs requests specific addresses, comma separated,
	// at most one per IP family.
	AnnotationLoadBalancerIPs = "portico.dev/load-balancer-ips"
	// AnnotationAllowSharedIP is the sharing key: Services with the same key
	// may share an address when their ports do not clash.
	AnnotationAllowSharedIP = "portico.dev/allow-shared-ip"

	// ServiceConditionIPAssigned is True when the Service holds its addresses.
	ServiceConditionIPAssigned = "portico.dev/ip-assigned"

	// ServiceConditionAnnouncedIPv4 and ServiceConditionAnnouncedIPv6 are
	// written by the speaker that announces the Service's address of that
	// family; the message says "<ip> is announced by node <name> (…)"
	// (AnnouncedMessage renders and parses it; the reasons are below). One
	// per family, because the two addresses of a dual-stack Service may be
	// announced by different nodes.
	ServiceConditionAnnouncedIPv4 = "portico.dev/announced-ipv4"
	ServiceConditionAnnouncedIPv6 = "portico.dev/announced-ipv6"
)

// Reasons of the ServiceConditionIPAssigned condition and of Service Events.
const (
	ReasonAssigned                = "Assigned"
	ReasonNoPoolMatches           = "NoPoolMatches"
	ReasonPoolExhausted           = "PoolExhausted"
	ReasonRequestedIPTaken        = "RequestedIPTaken"
	ReasonRequestedIPNotInAnyPool = "RequestedIPNotInAnyPool"
	ReasonRequestedIPNotAllowed   = "RequestedIPNotAllowed"
	ReasonWrongFamily             = "WrongFamily"
	ReasonInvalidRequest          = "InvalidRequest"
	ReasonPoolDisabled            = "PoolDisabled"
	ReasonDuplicateIP             = "DuplicateIP"
	ReasonIPChanged               = "IPChanged"
	ReasonIPReleased              = "IPReleased"
)

// Reasons of the announced conditions (ServiceConditionAnnouncedIPv4 and
// ServiceConditionAnnouncedIPv6) and of the speakers' Service Events.
const (
	// ReasonAnnounced: a node announces the address.
	ReasonAnnounced = "Announced"
	// ReasonNotAnnounced: no node may announce the address; the message
	// says why.
	ReasonNotAnnounced = "NotAnnounced"
	// ReasonNoInterface: the node elected to announce the address has no
	// interface it can answer ARP/NDP on for it, typically none whose subnet
	// contains the address.
	ReasonNoInterface = "NoInterface"
	// ReasonAnnouncerChanged is the Normal Event a speaker records when it
	// starts announcing an address of the Service.
	ReasonAnnouncerChanged = "AnnouncerChanged"
)

// MetalLB's Service annotations, honoured as aliases so users can switch over.
// Portico's own annotation wins when several are set.
const (
	MetalLBAddressPool       = "metallb.io/address-pool"
	MetalLBLegacyAddressPool = "metallb.universe.tf/address-pool"
	MetalLBLoadBalancerIPs   = "metallb.io/loadBalancerIPs"
	MetalLBLegacyLBIPs       = "metallb.universe.tf/loadBalancerIPs"
	MetalLBAllowSharedIP     = "metallb.io/allow-shared-ip"
	MetalLBLegacySharedIP    = "metallb.universe.tf/allow-shared-ip"
)

// Serves reports whether Portico is responsible for svc: a LoadBalancer of
// class portico.dev/lb, or of no class when serveNoClass is set. The
// controller and the speakers must agree on it, so both call this.
func Serves(svc *corev1.Service, serveNoClass bool) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if svc.Spec.LoadBalancerClass == nil {
		return serveNoClass
	}
	return *svc.Spec.LoadBalancerClass == LoadBalancerClass
}

// IngressAddrs returns the addresses in svc's status.loadBalancer.ingress,
// skipping entries that are not IP addresses (hostnames).
func IngressAddrs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			out = append(out, a)
		}
	}
	return out
}
