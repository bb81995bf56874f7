// Package bench measures Portico from the outside and prints the figures.
//
// Alloc starts a real kube-apiserver (internal/kubeapi), runs
// portico-controller as a separate process, drives Services through the API
// and reports timings, API writes, CPU and memory.
//
// Failover (root) runs a lab cluster (e2etest/cluster) and, for reference,
// keepalived on two nodes of a lab of its own (e2etest/netlab), kills,
// unplugs and stops the node announcing a VIP again and again, and reports
// what a client opening a fresh TCP connection every 10 ms saw: the outage,
// failed connects, how soon it moved to another node and back, and whether
// two nodes ever answered ARP for the VIP at once.
//
// It observes behaviour only. It imports api/, internal/kubeapi and
// e2etest/ packages from this module and never controller/, config/ or
// speaker/ internals.
package bench
