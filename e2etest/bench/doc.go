// Package bench measures Portico from the outside: it starts a real
// kube-apiserver (internal/kubeapi), runs portico-controller as a separate
// process, drives Services through the API and reports timings, API writes,
// CPU and memory.
//
// It observes behaviour only. It imports api/ and internal/kubeapi from this
// module and never controller/, config/ or speaker/ internals.
package bench
