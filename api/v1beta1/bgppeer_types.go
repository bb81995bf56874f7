package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPPeerSpec describes one BGP session from the selected nodes to a router.
type BGPPeerSpec struct {
	// MyASN is the local autonomous system number.
	MyASN int64 `json:"myASN"`
	// PeerASN is the router's autonomous system number.
	PeerASN int64 `json:"peerASN"`
	// PeerAddress is the router's IPv4 or IPv6 address.
	PeerAddress string `json:"peerAddress"`
	// PeerPort is the router's BGP port.
	// +optional
	// +kubebuilder:default:=179
	PeerPort int32 `json:"peerPort,omitempty"`
	// SourceAddress is the local address the session starts from.
	// +optional
	SourceAddress string `json:"sourceAddress,omitempty"`
	// RouterID is the BGP router ID (an IPv4 address). Defaults to the node's address.
	// +optional
	RouterID string `json:"routerID,omitempty"`
	// HoldTime is the BGP hold time: 0 (no keepalives) or at least 3s.
	// +optional
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`
	// KeepaliveTime is the interval between keepalives; it must be below holdTime.
	// +optional
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`
	// ConnectTime is the interval between attempts to connect.
	// +optional
	ConnectTime *metav1.Duration `json:"connectTime,omitempty"`
	// EBGPMultiHop allows the router to be more than one hop away.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`
	// PasswordSecret references a Secret of type kubernetes.io/basic-auth in
	// Portico's namespace whose "password" key is the TCP MD5 password.
	// +optional
	PasswordSecret *SecretReference `json:"passwordSecret,omitempty"`
	// NodeSelectors limit the nodes that open this session. Empty means every node.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`
	// GracefulRestart keeps routes at the router while a speaker restarts.
	// +optional
	GracefulRestart bool `json:"gracefulRestart,omitempty"`
}

// SecretReference names a Secret.
type SecretReference struct {
	// Name of the Secret.
	Name string `json:"name"`
	// Namespace of the Secret; defaults to Portico's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// BGPPeerStatus reports the sessions to this peer, one per node.
type BGPPeerStatus struct {
	// Conditions: Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Sessions lists the state of the session from each node.
	// +optional
	// +listType=map
	// +listMapKey=node
	Sessions []BGPSessionStatus `json:"sessions,omitempty"`
}

// BGPSessionStatus is the state of one node's session with the peer.
type BGPSessionStatus struct {
	// Node is the node that holds the session.
	Node string `json:"node"`
	// State is the BGP finite-state-machine state, e.g. Established or Active.
	State string `json:"state"`
	// EstablishedSince is when the session last reached Established.
	// +optional
	EstablishedSince *metav1.Time `json:"establishedSince,omitempty"`
	// PrefixesSent is the number of prefixes advertised to the peer.
	// +optional
	PrefixesSent int64 `json:"prefixesSent,omitempty"`
}

// BGPPeer is a router that the speakers on the selected nodes peer with.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=portico
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPPeerSpec   `json:"spec"`
	Status BGPPeerStatus `json:"status,omitempty"`
}

// BGPPeerList is a list of BGPPeer.
//
// +kubebuilder:object:root=true
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BGPPeer{}, &BGPPeerList{})
}
