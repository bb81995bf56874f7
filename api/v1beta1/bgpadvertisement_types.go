package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPAdvertisementSpec selects the pools announced over BGP, and how.
type BGPAdvertisementSpec struct {
	// IPAddressPools names the pools whose addresses are announced.
	// With neither this nor ipAddressPoolSelectors set, every pool is.
	// +optional
	IPAddressPools []string `json:"ipAddressPools,omitempty"`
	// IPAddressPoolSelectors select pools by label, in addition to ipAddressPools.
	// +optional
	IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`
	// NodeSelectors limit the nodes that announce. Empty means every node.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`
	// Peers names the BGPPeers to announce to. Empty means every peer.
	// +optional
	Peers []string `json:"peers,omitempty"`
	// AggregationLength is the prefix length announced for IPv4 addresses
	// (32 announces each address alone).
	// +optional
	// +kubebuilder:default:=32
	AggregationLength *int32 `json:"aggregationLength,omitempty"`
	// AggregationLengthV6 is the prefix length announced for IPv6 addresses.
	// +optional
	// +kubebuilder:default:=128
	AggregationLengthV6 *int32 `json:"aggregationLengthV6,omitempty"`
	// LocalPref is the LOCAL_PREF attribute sent to iBGP peers.
	// +optional
	LocalPref *int64 `json:"localPref,omitempty"`
	// Communities attached to the routes: standard ("65000:100"), well-known
	// names ("no-export", "no-advertise", "no-peer", "blackhole",
	// "graceful-shutdown", "accept-own", "llgr-stale", "no-llgr") or large
	// ("large:1:2:3").
	// +optional
	Communities []string `json:"communities,omitempty"`
}

// BGPAdvertisementStatus reports whether the advertisement is valid.
type BGPAdvertisementStatus struct {
	// Conditions: Ready.
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
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPAdvertisementSpec   `json:"spec,omitempty"`
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

func init() {
	SchemeBuilder.Register(&BGPAdvertisement{}, &BGPAdvertisementList{})
}
