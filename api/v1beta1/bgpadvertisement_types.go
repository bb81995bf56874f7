package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPAdvertisementSpec selects the pools announced over BGP, and how.
type BGPAdvertisementSpec struct {
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
	// NodeSelectors limit the nodes that announce: a node qualifies when it
	// matches any of them. Empty means every node.
	// +optional
	// +listType=atomic
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`
	// Peers names the BGPPeers to announce to. Empty means every peer.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,messageExpression=`'spec.peers: "' + self + '" is not a BGPPeer name (lower-case letters, digits, "-" and ".", starting and ending with a letter or digit)'`
	Peers []string `json:"peers,omitempty"`
	// AggregationLength is the prefix length, 0 to 32, announced for IPv4
	// addresses: 32 announces each address alone, a shorter length announces
	// the prefix of that length that holds the address, so Services share
	// routes.
	// +optional
	// +kubebuilder:default:=32
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=32
	AggregationLength *int32 `json:"aggregationLength,omitempty"`
	// AggregationLengthV6 is the prefix length, 0 to 128, announced for IPv6
	// addresses: 128 announces each address alone.
	// +optional
	// +kubebuilder:default:=128
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	AggregationLengthV6 *int32 `json:"aggregationLengthV6,omitempty"`
	// LocalPref is the LOCAL_PREF attribute, 0 to 4294967295, sent to iBGP
	// peers (eBGP peers never receive it).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	LocalPref *int64 `json:"localPref,omitempty"`
	// Communities attached to the routes: standard "a:b" with a and b from 0
	// to 65535 ("65000:100"), large "large:a:b:c" with each from 0 to
	// 4294967295 ("large:65000:1:2"), or the well-known names no-export,
	// no-advertise, no-export-subconfed, local-as, no-peer, blackhole,
	// graceful-shutdown, accept-own, llgr-stale and no-llgr.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=40
	// +kubebuilder:validation:items:XValidation:rule=`self in ['no-export', 'no-advertise', 'no-export-subconfed', 'local-as', 'no-peer', 'blackhole', 'graceful-shutdown', 'accept-own', 'llgr-stale', 'no-llgr'] || (self.matches('^[0-9]{1,5}:[0-9]{1,5}$') && int(self.split(':')[0]) <= 65535 && int(self.split(':')[1]) <= 65535) || (self.matches('^large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') && int(self.split(':')[1]) <= 4294967295 && int(self.split(':')[2]) <= 4294967295 && int(self.split(':')[3]) <= 4294967295)`,messageExpression=`self.startsWith('large:') ? 'spec.communities: "' + self + '" is not a large community; write large:a:b:c with a, b and c from 0 to 4294967295' : 'spec.communities: "' + self + '" is not a BGP community; write a:b with a and b from 0 to 65535 (65000:100), large:a:b:c (large:65000:1:2), or a well-known name (no-export, no-advertise, no-export-subconfed, local-as, no-peer, blackhole, graceful-shutdown, accept-own, llgr-stale, no-llgr)'`
	Communities []string `json:"communities,omitempty"`
}

// BGPAdvertisementStatus reports whether the advertisement is valid.
type BGPAdvertisementStatus struct {
	// LastValid is the last valid version of the advertisement, recorded by the
	// controller so that every process keeps using it, after restarts too,
	// while the spec as written is invalid. Unset while it never was valid.
	// +optional
	LastValid *BGPAdvertisementVersion `json:"lastValid,omitempty"`
	// Conditions: Ready (the advertisement is valid and in use).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// BGPAdvertisement announces pool addresses to BGP peers.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=bgpadv,categories=portico
// +kubebuilder:printcolumn:name="Pools",type=string,JSONPath=`.spec.ipAddressPools`,description="Pools announced by name (none and no selectors: every pool)"
// +kubebuilder:printcolumn:name="Pool-Selectors",type=string,JSONPath=`.spec.ipAddressPoolSelectors`,priority=1,description="Pools announced by label"
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.peers`,description="Peers announced to (none: every peer)"
// +kubebuilder:printcolumn:name="Communities",type=string,JSONPath=`.spec.communities`,description="Communities attached to the routes"
// +kubebuilder:printcolumn:name="Aggregation-v4",type=integer,JSONPath=`.spec.aggregationLength`,priority=1,description="Announced IPv4 prefix length"
// +kubebuilder:printcolumn:name="Aggregation-v6",type=integer,JSONPath=`.spec.aggregationLengthV6`,priority=1,description="Announced IPv6 prefix length"
// +kubebuilder:printcolumn:name="Local-Pref",type=integer,JSONPath=`.spec.localPref`,priority=1,description="LOCAL_PREF sent to iBGP peers"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="True when the advertisement is valid and in use"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec selects what is announced, to whom and with which attributes; an
	// empty spec announces every pool from every node to every peer.
	// +optional
	Spec BGPAdvertisementSpec `json:"spec,omitempty"`
	// Status reports whether the advertisement is valid, written by the controller.
	// +optional
	Status BGPAdvertisementStatus `json:"status,omitempty"`
}

// BGPAdvertisementList is a list of BGPAdvertisement.
//
// +kubebuilder:object:root=true
type BGPAdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPAdvertisement `json:"items"`
}

// BGPAdvertisementVersion is a valid version of a BGPAdvertisement, as the controller recorded it.
type BGPAdvertisementVersion struct {
	// Generation is the metadata.generation this version's spec was written in.
	// +required
	Generation int64 `json:"generation"`
	// Spec is that generation's spec.
	// +required
	Spec BGPAdvertisementSpec `json:"spec"`
}

func init() {
	SchemeBuilder.Register(&BGPAdvertisement{}, &BGPAdvertisementList{})
}
