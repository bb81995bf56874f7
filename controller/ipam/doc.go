// Package ipam decides which addresses each Service holds. It owns the
// controller's in-memory truth, the validated configuration model and the
// allocator, behind one lock, and turns a Service's Request into a Decision
// with a condition reason a user can act on.
//
// It does no API I/O: the service reconciler reads Services and writes their
// status; ipam only decides. It must not import a Kubernetes client.
package ipam
