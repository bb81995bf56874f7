// Package ipam decides which addresses each Service holds. It owns the
// controller's in-memory truth, the validated configuration model and the
// allocator, behind one lock. It turns a Service's Request and the pool
// policy into one allocator.Claim, and the allocator's Outcome into a
// Decision with a condition reason a user can act on. Whether the Service
// may hold an address is the allocator's answer alone: ipam keeps no pool
// index of its own and applies no sharing rule.
//
// It does no API I/O: the service reconciler reads Services and writes their
// status; ipam only decides. It must not import a Kubernetes client (or any
// Kubernetes package beyond what api/v1beta1 and config bring);
// imports_test.go holds it to that.
package ipam
