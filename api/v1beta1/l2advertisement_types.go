package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// L2AdvertisementSpec selects the pools announced by ARP/NDP, and from where.
type L2AdvertisementSpec struct {
	// IPAddressPools names the pools whose addresses are announced.
	// With neither this nor ipAddressPoolSelectors set, every pool is.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,messageExpression=`'spec.ipAddressPools: "' + self + '" is not an IPAddressPool name (lower-case letters, digits, "-" and ".", starting and ending with a letter or digit)'`
	IPAddressPools []string `json:"ipAddressPools,omitempty"`
	// IPAddressPoolSelectors select pools by label, in addition to ipAddressPools.
	// +optional
	// +listType=atomic
	IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`
	// NodeSelectors limit the nodes that may announce: a node qualifies when it
	// matches any of them. Empty means every node. Nodes labelled
	// node.kubernetes.io/exclude-from-external-load-balancers never announce.
	// +optional
	// +listType=atomic
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`
	// Interfaces limit the network interfaces announcements are made on, by
	// Linux interface name ("eth0", "bond0.100"). Empty means every interface
	// whose subnet contains the address.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=15
	// +kubebuilder:validation:items:XValidation:rule=`size(bytes(self)) <= 15 && self != '.' && self != '..' && !self.matches('[/:[:space:]]')`,messageExpression=`'spec.interfaces: "' + self + '" is not a Linux interface name (1 to 15 bytes, no "/", ":" or whitespace, not "." or "..")'`
	Interfaces []string `json:"interfaces,omitempty"`
}

// L2AdvertisementStatus reports whether the advertisement is valid.
type L2AdvertisementStatus struct {
	// LastValid is the last valid version of the advertisement, recorded by the
	// controller so that every process keeps using it, after restarts too,
	// while the spec as written is invalid. Unset while it never was valid.
	// +optional
	LastValid *L2AdvertisementVersion `json:"lastValid,omitempty"`
	// Conditions: Ready (the advertisement is valid and in use).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// L2Advertisement announces pool addresses on the local network by ARP (IPv4)
// and NDP (IPv6) from one elected node per address.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=l2adv,categories=portico
// +kubebuilder:printcolumn:name="Pools",type=string,JSONPath=`.spec.ipAddressPools`,description="Pools announced by name (none and no selectors: every pool)"
// +kubebuilder:printcolumn:name="Pool-Selectors",type=string,JSONPath=`.spec.ipAddressPoolSelectors`,priority=1,description="Pools announced by label"
// +kubebuilder:printcolumn:name="Node-Selectors",type=string,JSONPath=`.spec.nodeSelectors`,description="Nodes that may announce (none: every node)"
// +kubebuilder:printcolumn:name="Interfaces",type=string,JSONPath=`.spec.interfaces`,description="Interfaces announced on (none: every matching interface)"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="True when the advertisement is valid and in use"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type L2Advertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec selects what is announced and from where; an empty spec announces
	// every pool from every node on every interface.
	// +optional
	Spec L2AdvertisementSpec `json:"spec,omitempty"`
	// Status reports whether the advertisement is valid, written by the controller.
	// +optional
	Status L2AdvertisementStatus `json:"status,omitempty"`
}

// L2AdvertisementList is a list of L2Advertisement.
//
// +kubebuilder:object:root=true
type L2AdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L2Advertisement `json:"items"`
}

// L2AdvertisementVersion is a valid version of a L2Advertisement, as the controller recorded it.
type L2AdvertisementVersion struct {
	// Generation is the metadata.generation this version's spec was written in.
	// +required
	Generation int64 `json:"generation"`
	// Spec is that generation's spec.
	// +required
	Spec L2AdvertisementSpec `json:"spec"`
}

func init() {
	SchemeBuilder.Register(&L2Advertisement{}, &L2AdvertisementList{})
}
