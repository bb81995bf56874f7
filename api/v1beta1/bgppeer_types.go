package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Cross-field rules of BGPPeerSpec. Durations are Go durations ("90s",
// "1m30s"); every rule that calls duration() first tests the syntax, so a
// malformed value gets its own syntax message (from the field's rule) instead
// of a CEL evaluation error here.
// +kubebuilder:validation:XValidation:rule=`!has(self.sourceAddress) || !isIP(self.sourceAddress) || !isIP(self.peerAddress) || ip(self.sourceAddress).family() == ip(self.peerAddress).family()`,message="spec.sourceAddress must be of the same IP family as spec.peerAddress",fieldPath=".sourceAddress"
// +kubebuilder:validation:XValidation:rule=`!has(self.keepaliveTime) || !has(self.holdTime) || !self.holdTime.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') || !self.keepaliveTime.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') || duration(self.holdTime) != duration('0s') || duration(self.keepaliveTime) == duration('0s')`,message="spec.keepaliveTime must be 0 or unset when spec.holdTime is 0 (a hold time of 0 turns keepalives off)",fieldPath=".keepaliveTime"
// +kubebuilder:validation:XValidation:rule=`!has(self.keepaliveTime) || !self.keepaliveTime.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') || (has(self.holdTime) && (!self.holdTime.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') || duration(self.holdTime) == duration('0s'))) || (duration(self.keepaliveTime) > duration('0s') && duration(self.keepaliveTime) < (has(self.holdTime) ? duration(self.holdTime) : duration('90s')))`,message="spec.keepaliveTime must be more than 0 and less than spec.holdTime (90s when unset), typically a third of it",fieldPath=".keepaliveTime"

// BGPPeerSpec describes one BGP session from the selected nodes to a router.
type BGPPeerSpec struct {
	// MyASN is the local autonomous system number, 1 to 4294967295.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	MyASN int64 `json:"myASN"`
	// PeerASN is the router's autonomous system number, 1 to 4294967295. When
	// it equals myASN the session is iBGP, otherwise eBGP.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	PeerASN int64 `json:"peerASN"`
	// PeerAddress is the router's IPv4 or IPv6 address (no zone).
	// +required
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule=`isIP(self) && !ip(self).isUnspecified() && !cidr('224.0.0.0/4').containsIP(self) && !cidr('ff00::/8').containsIP(self)`,messageExpression=`'spec.peerAddress: "' + self + '" is not the unicast IPv4 or IPv6 address of a router (zones and IPv4-mapped IPv6 are not allowed)'`
	PeerAddress string `json:"peerAddress"`
	// PeerPort is the router's BGP TCP port.
	// +optional
	// +kubebuilder:default:=179
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	PeerPort int32 `json:"peerPort,omitempty"`
	// SourceAddress is the local address the session starts from; it must be
	// an address of the node and of the same family as peerAddress. Empty
	// lets the kernel choose.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule=`isIP(self) && !ip(self).isUnspecified() && !cidr('224.0.0.0/4').containsIP(self) && !cidr('ff00::/8').containsIP(self)`,messageExpression=`'spec.sourceAddress: "' + self + '" is not a unicast IPv4 or IPv6 address (zones and IPv4-mapped IPv6 are not allowed)'`
	SourceAddress string `json:"sourceAddress,omitempty"`
	// RouterID is the BGP router ID, written as an IPv4 address (also for
	// IPv6-only sessions). Empty means one derived from the node's address.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule=`isIP(self) && ip(self).family() == 4 && !ip(self).isUnspecified() && !cidr('224.0.0.0/4').containsIP(self)`,messageExpression=`'spec.routerID: "' + self + '" is not a router ID; it is written as a unicast IPv4 address such as 192.0.2.1'`
	RouterID string `json:"routerID,omitempty"`
	// HoldTime is the BGP hold time proposed to the router: 0 (no keepalives,
	// the session never times out) or 3s to 65535s.
	// Empty means the usual BGP default, 90s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$')`,messageExpression=`'spec.holdTime: "' + self + '" is not a duration such as 90s or 1m30s'`
	// +kubebuilder:validation:XValidation:rule=`!self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') || duration(self) == duration('0s') || (duration(self) >= duration('3s') && duration(self) <= duration('65535s'))`,messageExpression=`'spec.holdTime: ' + self + ' is not a valid BGP hold time; use 0, or 3s to 65535s'`
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`
	// KeepaliveTime is the interval between keepalive messages: more than 0
	// and less than holdTime, or 0 when holdTime is 0. Empty means a third of
	// the hold time.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$')`,messageExpression=`'spec.keepaliveTime: "' + self + '" is not a duration such as 30s'`
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`
	// ConnectTime is the interval between attempts to open the session, 1s to
	// 65535s. Empty means the BGP implementation's default.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$')`,messageExpression=`'spec.connectTime: "' + self + '" is not a duration such as 10s'`
	// +kubebuilder:validation:XValidation:rule=`!self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') || (duration(self) >= duration('1s') && duration(self) <= duration('65535s'))`,messageExpression=`'spec.connectTime: ' + self + ' is out of range; use 1s to 65535s'`
	ConnectTime *metav1.Duration `json:"connectTime,omitempty"`
	// EBGPMultiHop allows an eBGP router to be more than one hop away.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`
	// PasswordSecret references a Secret of type kubernetes.io/basic-auth
	// whose "password" key is the TCP MD5 password.
	// +optional
	PasswordSecret *SecretReference `json:"passwordSecret,omitempty"`
	// NodeSelectors limit the nodes that open this session: a node qualifies
	// when it matches any of them. Empty means every node.
	// +optional
	// +listType=atomic
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`
	// GracefulRestart keeps routes at the router while a speaker restarts
	// (RFC 4724, restart time 120s). When the speaker dies without closing
	// its session (a crash, kill -9, an OOM kill) the router keeps this
	// node's routes as stale; the restarted speaker opens the session only
	// once it knows its routes again, and its End-of-RIB refreshes them
	// without a withdrawal. A SIGTERM still closes the session with a Cease
	// NOTIFICATION, which ends graceful restart: the router withdraws the
	// node's routes at once, as it does without this field.
	// +optional
	GracefulRestart bool `json:"gracefulRestart,omitempty"`
	// BFD turns on Bidirectional Forwarding Detection (RFC 5880) for this
	// session, so that a dead link or node is noticed within a few BFD
	// intervals (900ms with the defaults on both sides) instead of at the
	// hold time. Only asynchronous mode is
	// spoken: no echo mode and no authentication. The BFD session is single
	// hop (RFC 5881: UDP port 3784, TTL 255 sent and required on receipt)
	// unless ebgpMultiHop is set, then multihop (RFC 5883: UDP port 4784).
	// When BFD goes Down the BGP session is brought down at once, and the
	// BGP session does not come up while its BFD session is Down, so the
	// router must run BFD for this neighbor too. Absent means no BFD; an
	// empty block means BFD with the defaults of its fields.
	// +optional
	BFD *BGPPeerBFD `json:"bfd,omitempty"`
}

// BGPPeerBFD are the BFD timers of a BGP session. Both sides agree on the
// slower of their intervals (RFC 5880 §6.8.2), so the router's settings may
// lengthen these. Intervals are Go durations from 10ms to 60s in whole
// microseconds, BFD's unit.
type BGPPeerBFD struct {
	// ReceiveInterval is the shortest interval between BFD packets this node
	// is willing to receive (Required Min RX Interval), 10ms to 60s in whole
	// microseconds. Empty means 300ms.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$')`,messageExpression=`'spec.bfd.receiveInterval: "' + self + '" is not a duration such as 300ms'`
	// +kubebuilder:validation:XValidation:rule=`!self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') || (duration(self) >= duration('10ms') && duration(self) <= duration('60s'))`,messageExpression=`'spec.bfd.receiveInterval: ' + self + ' is out of range; use 10ms to 60s'`
	ReceiveInterval *metav1.Duration `json:"receiveInterval,omitempty"`
	// TransmitInterval is the shortest interval at which this node wants to
	// send BFD packets (Desired Min TX Interval), 10ms to 60s in whole
	// microseconds. Empty means 300ms.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$')`,messageExpression=`'spec.bfd.transmitInterval: "' + self + '" is not a duration such as 300ms'`
	// +kubebuilder:validation:XValidation:rule=`!self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') || (duration(self) >= duration('10ms') && duration(self) <= duration('60s'))`,messageExpression=`'spec.bfd.transmitInterval: ' + self + ' is out of range; use 10ms to 60s'`
	TransmitInterval *metav1.Duration `json:"transmitInterval,omitempty"`
	// DetectMultiplier is how many of this node's intervals the router may
	// miss before it declares the session down (Detect Mult), 2 to 255.
	// Empty means 3.
	// +optional
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=255
	DetectMultiplier *int32 `json:"detectMultiplier,omitempty"`
	// Passive makes this node wait for the router's first BFD packet before
	// it sends any (RFC 5880 §6.1), for a router that must start the session.
	// +optional
	Passive bool `json:"passive,omitempty"`
}

// SecretReference names a Secret.
type SecretReference struct {
	// Name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,messageExpression=`'spec.passwordSecret.name: "' + self + '" is not a Secret name (lower-case letters, digits, "-" and ".", starting and ending with a letter or digit)'`
	Name string `json:"name"`
	// Namespace of the Secret; defaults to Portico's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')`,messageExpression=`'spec.passwordSecret.namespace: "' + self + '" is not a namespace name (lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters)'`
	Namespace string `json:"namespace,omitempty"`
}

// BGPPeerStatus reports the sessions to this peer, one per node.
type BGPPeerStatus struct {
	// LastValid is the last valid version of the peer, recorded by the
	// controller so that every process keeps using it, after restarts too,
	// while the spec as written is invalid. Unset while it never was valid.
	// The password is not recorded: it is read from the Secret the
	// version names, so this version can be used only while that Secret holds it.
	// +optional
	LastValid *BGPPeerVersion `json:"lastValid,omitempty"`
	// Conditions: Ready (the peer is valid and configured on the selected
	// nodes).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Sessions is not written: each node reports its sessions in its own
	// BGPNodeStatus (in the speakers' namespace), so that no object is
	// written by every node.
	// +optional
	// +listType=map
	// +listMapKey=node
	Sessions []BGPSessionStatus `json:"sessions,omitempty"`
}

// BGPSessionStatus is the state of one node's session with the peer.
type BGPSessionStatus struct {
	// Node is the node that holds the session.
	// +required
	Node string `json:"node"`
	// State is the BGP finite-state-machine state: Idle, Connect, Active,
	// OpenSent, OpenConfirm or Established.
	// +required
	State string `json:"state"`
	// EstablishedSince is when the session last reached Established; the
	// session's uptime is measured from it.
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
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`,description="The router's address"
// +kubebuilder:printcolumn:name="Port",type=integer,JSONPath=`.spec.peerPort`,priority=1,description="The router's BGP port"
// +kubebuilder:printcolumn:name="Peer-ASN",type=integer,JSONPath=`.spec.peerASN`,description="The router's AS number"
// +kubebuilder:printcolumn:name="My-ASN",type=integer,JSONPath=`.spec.myASN`,description="The local AS number"
// +kubebuilder:printcolumn:name="Hold-Time",type=string,JSONPath=`.spec.holdTime`,priority=1,description="Proposed BGP hold time"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="True when the peer is valid and in use"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the session to open.
	Spec BGPPeerSpec `json:"spec"`
	// Status reports the sessions, written by the controller and speakers.
	// +optional
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

// BGPPeerVersion is a valid version of a BGP peer, as the controller recorded it.
type BGPPeerVersion struct {
	// Generation is the metadata.generation this version's spec was written in.
	// +required
	Generation int64 `json:"generation"`
	// Spec is that generation's spec.
	// +required
	Spec BGPPeerSpec `json:"spec"`
}

func init() {
	SchemeBuilder.Register(&BGPPeer{}, &BGPPeerList{})
}
