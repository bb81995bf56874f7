// Package externalservice runs the ExternalService reconciler: it keeps a
// selectorless Service of the ExternalService's name, its EndpointSlices
// and, on request, a core/v1 Endpoints true to what the probes say about
// each target.
//
// Probes and DNS lookups run on their own schedule (controller/probe/
// scheduler and one goroutine per name), never inside a reconcile; a
// transition (a target turning healthy, a role change, a new answer for a
// name) queues the ExternalService, and the reconcile writes only what
// differs. So a steady ExternalService costs no API write at all.
//
// The decisions (which targets exist, which are ready, who is primary, what
// the slices and the status say) are made by plan, a pure function of the
// ExternalService and a snapshot of the probe state; reconciler.go does
// the I/O around it.
package externalservice
