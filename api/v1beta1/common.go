package v1beta1

// Condition types and reasons shared by Portico's configuration objects.
const (
	// ConditionReady is True when the object is valid and in use.
	ConditionReady = "Ready"
	// ConditionConflicting is True on an IPAddressPool whose addresses overlap another pool's.
	ConditionConflicting = "Conflicting"

	ReasonValid          = "Valid"
	ReasonInvalid        = "Invalid"
	ReasonOverlap        = "Overlap"
	ReasonNoOverlap      = "NoOverlap"
	ReasonPoolNotFound   = "PoolNotFound"
	ReasonSelectsNothing = "SelectsNothing"
	ReasonSecretNotFound = "SecretNotFound"
	ReasonLastValidInUse = "LastValidConfigInUse"
	ReasonPeerNotFound   = "PeerNotFound"
	// ReasonNotUnicast: a pool entry includes addresses no Service can use
	// (unspecified, loopback, link-local, multicast, broadcast).
	ReasonNotUnicast = "NotUnicast"
	// ReasonNodeAddress: a pool contains a Node's InternalIP or ExternalIP.
	ReasonNodeAddress = "NodeAddressInPool"
	// ReasonLocalPrefIgnored: a BGPAdvertisement's localPref is not sent to
	// the eBGP peers it announces to (LOCAL_PREF is for iBGP only).
	ReasonLocalPrefIgnored = "LocalPrefIgnored"
)
