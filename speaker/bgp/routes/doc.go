// Package routes is BGP's pure part: from the configuration model, this
// node's labels and the desired state the election gave it, it decides which
// BGP peers this node opens a session to and which prefixes, with which
// attributes, it announces to each. The session package applies that plan
// to GoBGP; it never decides.
//
// Every eligible node announces every address it is eligible for (ECMP at
// the router); announce.Want.Eligible already encodes the alive nodes and,
// for externalTrafficPolicy: Local, the nodes with a ready endpoint.
//
// It does no I/O, reads no clock and keeps no state; besides the standard
// library's pure packages it imports only the config model, the announce
// types and apimachinery's labels (TestImports holds it to that).
package routes
