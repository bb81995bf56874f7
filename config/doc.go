// Package config turns a snapshot of every Portico object (IPAddressPools,
// L2Advertisements, BGPPeers, BGPAdvertisements, plus the Secrets and Nodes
// they refer to) into one immutable, validated model, and reports what is
// wrong with each object.
//
// For is the only entry point. It is a pure function: the controller and
// the speaker list the objects, call For with the Config it returned last
// time, and hand the new Config to the parts that assign and announce
// addresses. The controller also puts the Problems on the objects they name
// (a status condition and an Event each).
//
// Two rules keep a working installation working:
//
//   - An object that has errors is not used as written. If the previous
//     Config holds a valid version of it, that version stays in use.
//   - Pools in use never overlap. When two do, the one already using its
//     addresses takes precedence, then the one that had a valid version
//     before, then the older one; the other gives way. overlap.go has the
//     details.
//
// CEL rules in the CRDs refuse most malformed objects at admission, but For
// does not rely on them: it checks everything again, never panics on
// garbage, and names the object and field of every error.
//
// This package never imports a Kubernetes client, does no I/O and keeps no
// package-level state. Besides the standard library it imports only API
// types (api/v1beta1, k8s.io/api, k8s.io/apimachinery) and internal/iprange.
package config
