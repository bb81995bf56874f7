// Package v1beta1 holds Portico's API types, group portico.dev, version v1beta1:
// IPAddressPool, L2Advertisement, BGPPeer, BGPAdvertisement and the namespaced
// ExternalService.
//
// Types carry their admission rules as markers (OpenAPI bounds and CEL
// XValidation rules), so no webhook is needed; the config package still checks
// everything again and is the only judge of what CEL cannot see (overlaps,
// references between objects, the order of IPv6 range ends). The rules use the
// Kubernetes IP and CIDR CEL libraries, so the CRDs install on Kubernetes 1.31
// or newer. This package imports only API machinery, never a client.
//
// +kubebuilder:object:generate=true
// +groupName=portico.dev
package v1beta1
