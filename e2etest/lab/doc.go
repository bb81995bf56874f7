// Package lab runs Portico's test lab: a real kube-apiserver and etcd with
// the portico-controller binary running against them, started in the
// background so it outlives the command that started it (`make lab`), and a
// guided demo that shows the controller assigning addresses.
//
// A Lab owns one state directory (default /tmp/portico-lab, or
// $PORTICO_LAB_DIR). Up starts a detached supervisor process that runs Serve,
// waits until it is ready, runs the demo and prints how to poke the lab;
// Down stops the supervisor, which stops everything it started and removes
// the directory; Status reports what is running. Every file the lab writes,
// including the API server's certificates and etcd's data, lives under the
// state directory, and every process the lab starts listens on loopback.
//
// Later the supervisor also builds the network (namespaces, speakers,
// kube-proxy, FRR); it is the one place that starts and stops things.
//
// The package observes Portico from the outside. It imports api/ and
// internal/kubeapi from this module and never controller/, config/ or
// speaker/ internals; the controller runs as a separate binary.
package lab
