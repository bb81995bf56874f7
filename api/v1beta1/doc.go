// Package v1beta1 holds Portico's API types, group portico.dev, version v1beta1:
// IPAddressPool, L2Advertisement, BGPPeer and BGPAdvertisement.
//
// Types carry their admission rules as CEL markers, so no webhook is needed.
// This package imports only API machinery, never a client.
//
// +kubebuilder:object:generate=true
// +groupName=portico.dev
package v1beta1
