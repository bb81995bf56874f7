package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IPAddressPoolSpec defines the addresses a pool hands out and to whom.
type IPAddressPoolSpec struct {
	// Addresses lists the IPv4 and IPv6 addresses of the pool, each a CIDR
	// ("192.0.2.0/24", "fd00::/64") or an inclusive range
	// ("192.0.2.10-192.0.2.20"). A CIDR includes its network and broadcast
	// addresses; set avoidBuggyIPs to skip them.
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
	Disabled bool `json:"disabled,omitempty"`
}

// ServiceAllocation restricts a pool to some Services and orders pools.
type ServiceAllocation struct {
	// Priority orders pools for automatic assignment: a lower number is tried
	// first; pools without a priority are tried after all pools with one.
	// +optional
	Priority *int32 `json:"priority,omitempty"`

	// Namespaces lists the namespaces whose Services may use this pool.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceSelectors select the namespaces whose Services may use this pool.
	// A Service qualifies when its namespace is listed in namespaces or matches
	// any of these selectors.
	// +optional
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`

	// ServiceSelectors select the Services that may use this pool. When set,
	// a Service must match one of them as well as the namespace restriction.
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// IPAddressPoolStatus reports how the pool is used.
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

	// Conditions: Ready (the pool is valid and in use) and Conflicting (its
	// addresses overlap another pool's; the newer pool is not used).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// IPAddressPool is a set of addresses Portico assigns to LoadBalancer Services.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ippool;ippools,categories=portico
type IPAddressPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IPAddressPoolSpec   `json:"spec"`
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
