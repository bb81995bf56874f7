package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IPAddressPoolSpec defines the addresses a pool hands out and to whom.
type IPAddressPoolSpec struct {
	// Admission rules for each entry of addresses, in the order a reader checks
	// them. Every rule but the first returns true for entries the first refuses,
	// so one mistake yields one message. The config package parses the same
	// syntax with iprange.Parse and checks what CEL cannot see (overlaps).
	//
	// Shape: a CIDR, or exactly two IP addresses joined by "-".
	// +kubebuilder:validation:items:XValidation:rule=`self.contains('-') ? (self.split('-').size() == 2 && isIP(self.split('-')[0].trim()) && isIP(self.split('-')[1].trim())) : isCIDR(self)`,messageExpression=`'spec.addresses: "' + self + '" is not a CIDR (192.0.2.0/24, 2001:db8::/120) or a range first-last (192.0.2.10-192.0.2.20) of plain IPv4 or IPv6 addresses (a single address is a /32 or /128; zones and IPv4-mapped IPv6 are not allowed)'`
	//
	// CIDRs are canonical: "192.0.2.9/24" is far more often a typo for /32 than
	// a way to write 192.0.2.0/24, and silently taking the whole /24 would hand
	// out other hosts' addresses. (The message cannot compute the masked form:
	// string(cidr) has no size bound for the cost estimate.)
	// +kubebuilder:validation:items:XValidation:rule=`self.contains('-') || !isCIDR(self) || cidr(self) == cidr(self).masked()`,messageExpression=`'spec.addresses: "' + self + '" has bits set after the prefix length; write the network address (192.0.2.0/24, not 192.0.2.9/24), or a /32 or /128 for a single address'`
	//
	// Both ends of a range are of one family.
	// +kubebuilder:validation:items:XValidation:rule=`!(self.split('-').size() == 2 && isIP(self.split('-')[0].trim()) && isIP(self.split('-')[1].trim())) || ip(self.split('-')[0].trim()).family() == ip(self.split('-')[1].trim()).family()`,messageExpression=`'spec.addresses: range "' + self + '" mixes IPv4 and IPv6; both ends must be of the same family'`
	//
	// IPv4 range order: compare the addresses as 32-bit numbers.
	// +kubebuilder:validation:items:XValidation:rule=`!(self.split('-').size() == 2 && isIP(self.split('-')[0].trim()) && isIP(self.split('-')[1].trim()) && ip(self.split('-')[0].trim()).family() == 4 && ip(self.split('-')[1].trim()).family() == 4) || (int(self.split('-')[0].trim().split('.')[0]) * 16777216 + int(self.split('-')[0].trim().split('.')[1]) * 65536 + int(self.split('-')[0].trim().split('.')[2]) * 256 + int(self.split('-')[0].trim().split('.')[3]) <= int(self.split('-')[1].trim().split('.')[0]) * 16777216 + int(self.split('-')[1].trim().split('.')[1]) * 65536 + int(self.split('-')[1].trim().split('.')[2]) * 256 + int(self.split('-')[1].trim().split('.')[3]))`,messageExpression=`'spec.addresses: range "' + self + '" starts after it ends; write the lower address first'`
	//
	// Only unicast addresses: a CIDR must start at a unicast address and hold
	// none of the loopback, link-local, multicast or limited broadcast blocks
	// (a block either holds the entry, which then starts in it, or lies in
	// it); a range must start and end at unicast addresses. A range around a
	// whole block (126.0.0.0-128.0.0.0) is left to the config package, which
	// checks every entry against every block.
	// +kubebuilder:validation:items:XValidation:rule=`self.contains('-') || !isCIDR(self) || (cidr(self).ip().isGlobalUnicast() && (cidr(self).ip().family() == 4 ? !cidr(self).containsCIDR('127.0.0.0/8') && !cidr(self).containsCIDR('169.254.0.0/16') && !cidr(self).containsCIDR('224.0.0.0/4') && !cidr(self).containsCIDR('255.255.255.255/32') : !cidr(self).containsCIDR('::1/128') && !cidr(self).containsCIDR('fe80::/10') && !cidr(self).containsCIDR('ff00::/8')))`,messageExpression=`'spec.addresses: "' + self + '" includes addresses that are not unicast (unspecified, loopback, link-local, multicast or broadcast), which no Service can use'`
	// +kubebuilder:validation:items:XValidation:rule=`!(self.split('-').size() == 2 && isIP(self.split('-')[0].trim()) && isIP(self.split('-')[1].trim())) || (ip(self.split('-')[0].trim()).isGlobalUnicast() && ip(self.split('-')[1].trim()).isGlobalUnicast())`,messageExpression=`'spec.addresses: range "' + self + '" starts or ends at an address that is not unicast (unspecified, loopback, link-local, multicast or broadcast), which no Service can use'`
	//
	// IPv6 range order is left to the config package (iprange.Parse), which
	// reports a reversed range on the pool's Ready condition. CEL's ip type has
	// no ordering, and every formulation tried costs too much: finding the
	// first differing bit by CIDR containment over the 128 prefix lengths
	// needs each length and its successor as strings, which CEL can only build
	// from literal lists or string(int) (unbounded in the cost estimate); the
	// cheapest version estimated 140,000 per entry, capping addresses near 70
	// entries. Expanding "::" and comparing zero-padded hextets needs
	// map().join(), whose size the estimator also cannot bound.

	// Addresses lists the IPv4 and IPv6 addresses of the pool, each a CIDR
	// ("192.0.2.0/24", "2001:db8::/120") or an inclusive range
	// ("192.0.2.10-192.0.2.20", spaces around "-" allowed). A CIDR includes
	// its network and broadcast addresses; set avoidBuggyIPs to skip them.
	// A single address is written as a /32 or /128.
	// A CIDR must have no bits set after its prefix length ("192.0.2.9/24" is
	// refused: write "192.0.2.0/24", or "192.0.2.9/32" for the one address).
	// Zones ("fe80::1%eth0") and IPv4-mapped IPv6 ("::ffff:192.0.2.1") are refused.
	// Entries that include addresses that are not unicast (0.0.0.0, ::,
	// loopback, link-local, multicast, 255.255.255.255) are refused: no
	// Service can use them, and nobody answers ARP/NDP for them.
	// An IPv6 range written high-to-low, and entries that overlap, pass
	// admission but are refused by the controller (see the pool's conditions).
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=100
	Addresses []string `json:"addresses"`

	// AutoAssign lets Portico pick addresses from this pool for Services that
	// do not request one. When false, the pool only serves Services that name
	// it or request one of its addresses.
	// +optional
	// +kubebuilder:default:=true
	AutoAssign *bool `json:"autoAssign,omitempty"`

	// AvoidBuggyIPs skips IPv4 addresses ending in .0 and .255, which some
	// old client stacks treat as broadcast addresses.
	// +optional
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`

	// AllocateTo restricts which Services may receive addresses from this pool,
	// and in which order pools are tried.
	// +optional
	AllocateTo *ServiceAllocation `json:"allocateTo,omitempty"`

	// Disabled stops the pool from giving out new addresses. Services that
	// already hold one of its addresses keep it.
	// +optional
	// +kubebuilder:default:=false
	Disabled bool `json:"disabled,omitempty"`
}

// ServiceAllocation restricts a pool to some Services and orders pools.
type ServiceAllocation struct {
	// Priority orders pools for automatic assignment: a lower number is tried
	// first; pools without a priority are tried after all pools with one.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Priority *int32 `json:"priority,omitempty"`

	// Namespaces lists the namespaces whose Services may use this pool.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')`,messageExpression=`'spec.allocateTo.namespaces: "' + self + '" is not a namespace name (lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters)'`
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceSelectors select the namespaces whose Services may use this pool.
	// A Service qualifies when its namespace is listed in namespaces or matches
	// any of these selectors.
	// +optional
	// +listType=atomic
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`

	// ServiceSelectors select the Services that may use this pool. When set,
	// a Service must match one of them as well as the namespace restriction.
	// +optional
	// +listType=atomic
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// IPAddressPoolStatus reports how the pool is used. The controller writes it.
type IPAddressPoolStatus struct {
	// AssignedIPv4 is the number of IPv4 addresses of the pool held by Services.
	// +optional
	AssignedIPv4 int64 `json:"assignedIPv4"`
	// AssignedIPv6 is the number of IPv6 addresses of the pool held by Services.
	// +optional
	AssignedIPv6 int64 `json:"assignedIPv6"`
	// AvailableIPv4 is the number of IPv4 addresses still free.
	// +optional
	AvailableIPv4 int64 `json:"availableIPv4"`
	// AvailableIPv6 is the number of IPv6 addresses still free, capped at
	// 9223372036854775807 for very large ranges.
	// +optional
	AvailableIPv6 int64 `json:"availableIPv6"`
	// Assigned is the total number of addresses held by Services.
	// +optional
	Assigned int64 `json:"assigned"`

	// LastValid is the version of the pool the controller decided on: the
	// spec as written when it is valid, otherwise the last valid one. It is
	// kept here, not in the controller's memory, so that a restarted
	// controller, a new leader and every speaker build the same model from
	// API state alone. Unset while the pool never had a valid version.
	// +optional
	LastValid *IPAddressPoolVersion `json:"lastValid,omitempty"`

	// Conditions: Ready (the pool is valid and in use) and Conflicting (its
	// addresses overlap another pool's; the newer pool is not used).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// IPAddressPoolVersion is a valid version of a pool, as the controller
// recorded it.
type IPAddressPoolVersion struct {
	// Generation is the metadata.generation this version's spec was written in.
	// +required
	Generation int64 `json:"generation"`
	// Spec is that generation's spec.
	// +required
	Spec IPAddressPoolSpec `json:"spec"`
	// InUse is true when this version hands out addresses. False means it
	// gave way to an overlapping pool; its addresses then still keep newer
	// pools off. A pool whose version is in use takes precedence over pools
	// edited or created to overlap it, whatever their age.
	// +optional
	InUse bool `json:"inUse,omitempty"`
}

// IPAddressPool is a set of addresses Portico assigns to LoadBalancer Services.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ippool;ippools,categories=portico
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`,description="CIDRs and ranges of the pool"
// +kubebuilder:printcolumn:name="Assigned",type=integer,JSONPath=`.status.assigned`,description="Addresses held by Services"
// +kubebuilder:printcolumn:name="Available-v4",type=integer,JSONPath=`.status.availableIPv4`,description="IPv4 addresses still free"
// +kubebuilder:printcolumn:name="Available-v6",type=integer,JSONPath=`.status.availableIPv6`,priority=1,description="IPv6 addresses still free (capped)"
// +kubebuilder:printcolumn:name="Auto-Assign",type=boolean,JSONPath=`.spec.autoAssign`,description="Whether Services that request nothing get addresses from this pool"
// +kubebuilder:printcolumn:name="Disabled",type=boolean,JSONPath=`.spec.disabled`,description="Whether the pool gives out no new addresses"
// +kubebuilder:printcolumn:name="Priority",type=integer,JSONPath=`.spec.allocateTo.priority`,priority=1,description="Order in which pools are tried (lower first)"
// +kubebuilder:printcolumn:name="Conflicting",type=string,JSONPath=`.status.conditions[?(@.type=="Conflicting")].status`,description="True when the pool overlaps another pool"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1,description="True when the pool is valid and in use"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPAddressPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the pool's addresses and who may use them.
	Spec IPAddressPoolSpec `json:"spec"`
	// Status is how the pool is used, written by the controller.
	// +optional
	Status IPAddressPoolStatus `json:"status,omitempty"`
}

// IPAddressPoolList is a list of IPAddressPool.
//
// +kubebuilder:object:root=true
type IPAddressPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAddressPool `json:"items"`
}

func init() {
	SchemeBuilder.Register(&IPAddressPool{}, &IPAddressPoolList{})
}
