package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPNodeStatusSpec names the node whose sessions the object reports.
type BGPNodeStatusSpec struct {
	// Node is the node whose speaker holds the sessions and writes this
	// object; the object has the node's name. It cannot change.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`self == oldSelf`,message=`spec.node cannot change`
	Node string `json:"node"`
}

// BGPNodeStatusStatus is one node's BGP sessions, as its speaker last saw them.
type BGPNodeStatusStatus struct {
	// Peers is the number of BGPPeers this node opens a session to.
	// +optional
	Peers int32 `json:"peers"`
	// Established is the number of those sessions that are Established.
	// +optional
	Established int32 `json:"established"`
	// NotEstablished names the BGPPeers whose session is not Established,
	// sorted; their entries in sessions say why.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1024
	NotEstablished []string `json:"notEstablished,omitempty"`
	// Sessions lists one entry per BGPPeer this node opens a session to.
	// +optional
	// +listType=map
	// +listMapKey=peer
	// +kubebuilder:validation:MaxItems=1024
	Sessions []BGPNodeSession `json:"sessions,omitempty"`
}

// BGPNodeSession is the state of this node's session with one BGPPeer.
type BGPNodeSession struct {
	// Peer is the BGPPeer's name.
	// +required
	Peer string `json:"peer"`
	// State is the BGP finite-state-machine state: Idle, Connect, Active,
	// OpenSent, OpenConfirm or Established.
	// +required
	State string `json:"state"`
	// Since is when the session entered State, as the speaker saw it.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// PrefixesSent is the number of prefixes the peer was sent and holds.
	// +optional
	PrefixesSent int32 `json:"prefixesSent"`
	// Routes is the number of prefixes this node means to announce to the
	// peer; while the session is down the peer holds none of them.
	// +optional
	Routes int32 `json:"routes"`
	// LastError says in plain words why the session last failed or could
	// not be opened (a NOTIFICATION sent or received, a refused
	// connection, an expired hold timer); empty if it never did.
	// +optional
	LastError string `json:"lastError,omitempty"`
}

// BGPNodeStatus reports the BGP sessions of one node. The speaker on that
// node is its only writer and writes it when a session changes state, so no
// object is written by every node. It lives in the speakers' namespace,
// named after the node, and goes away with the Node.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=bgpstatus,categories=portico
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`,description="The node holding the sessions"
// +kubebuilder:printcolumn:name="Peers",type=integer,JSONPath=`.status.peers`,description="BGPPeers this node opens a session to"
// +kubebuilder:printcolumn:name="Established",type=integer,JSONPath=`.status.established`,description="Sessions that are Established"
// +kubebuilder:printcolumn:name="Not-Established",type=string,JSONPath=`.status.notEstablished`,description="BGPPeers whose session is not Established"
// +kubebuilder:printcolumn:name="First-Error",type=string,JSONPath=`.status.sessions[*].lastError`,priority=1,description="The last error of the first session (by peer) that reports one"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPNodeStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec names the node.
	Spec BGPNodeStatusSpec `json:"spec"`
	// Status is the node's sessions, written by its speaker.
	// +optional
	Status BGPNodeStatusStatus `json:"status,omitempty"`
}

// BGPNodeStatusList is a list of BGPNodeStatus.
//
// +kubebuilder:object:root=true
type BGPNodeStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPNodeStatus `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BGPNodeStatus{}, &BGPNodeStatusList{})
}
