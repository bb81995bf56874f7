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
// BGP (root) runs a lab cluster with a router running FRR (e2etest/frr)
// and, beside the nodes, a bare gobgpd of GoBGP v4 peering with the same
// router as the floor: it times Service address → route in the router's
// FIB, 1000 Services at once, and a node's next hop leaving the FIB after
// SIGTERM, kill -9 and link down, each as a ratio to gobgpd doing the same,
// and counts the API writes. GoBGP v4 is built in a throwaway module
// (gobgpd.go), never in Portico's.
//
// It observes behaviour only. It imports api/, internal/kubeapi and
// e2etest/ packages from this module and never controller/, config/ or
// speaker/ internals.
package bench
