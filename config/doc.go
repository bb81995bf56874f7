// Package config turns a snapshot of every Portico object (IPAddressPools,
// L2Advertisements, BGPPeers, BGPAdvertisements, plus the Secrets and Nodes
// they refer to) into one immutable, validated model, and reports what is
// wrong with each object.
//
// For is the only entry point. It is a pure function of API state: the
// controller and the speaker list the objects, statuses included, call For,
// and hand the Config to the parts that assign and announce addresses. No
// process keeps anything of its own between calls, so a restarted
// controller, a new leader and every speaker build the same model from the
// same objects.
//
// What the model depends on beyond the specs, the controller records: after
// each build it writes Config.Decisions into every object's status.lastValid
// (the controller is the only writer of status; speakers only read it), and
// puts the Problems on the objects they name (a status condition and an
// Event each). For given its own Decisions back builds the same Config, so
// a controller that stops between building and recording loses nothing.
//
// Two rules keep a working installation working:
//
//   - An object that has errors is not used as written. If its
//     status.lastValid holds a valid version, that version stays in use.
//     (A BGPPeer's password is never recorded: it is read again from the
//     Secret that version names.)
//   - Pools in use never overlap. When two do, the one whose recorded
//     version is in use with the same addresses takes precedence, then the
//     one with a recorded version, then the older one; the other gives way.
//     overlap.go has the details.
//
// Pool entries that include non-unicast addresses (unspecified, loopback,
// link-local, multicast, broadcast) are refused, and entries that contain a
// Node's InternalIP or ExternalIP are warned about.
//
// CEL rules in the CRDs refuse most malformed objects at admission, but For
// does not rely on them: it checks everything again, never panics on
// garbage, and names the object and field of every error.
//
// This package never imports a Kubernetes client, does no I/O and keeps no
// package-level state. Besides the standard library it imports only API
// types (api/v1beta1, k8s.io/api, k8s.io/apimachinery) and internal/iprange.
package config
