// Package lab runs Portico's network lab for people (`make lab`): the
// e2etest/cluster harness (network namespaces for three nodes and a client
// on a bridge, a real kube-apiserver and etcd on the bridge address, the
// controller, and a speaker and the real kube-proxy per node) started in
// the background so it outlives the command that started it, and a guided
// demo that gives Services addresses, shows which node answers ARP/NDP for
// each and the client reaching pods through them, and prints how to kill
// the announcing node's speaker and watch another take over. With FRR
// installed the lab also has a router namespace peering with every node
// over BGP: the demo's Service web-bgp is reached through the router's ECMP
// route, and `lab routes -w` shows a node's next hop go (bgp.go).
//
// A Lab owns one state directory (default /tmp/portico-lab, or
// $PORTICO_LAB_DIR). Up starts a detached supervisor process that runs
// Serve, waits until it is ready, runs the demo and prints how to poke the
// lab; Down stops the supervisor, which stops everything it started and
// removes the directory; Status reports what is running. The state
// directory holds the kubeconfig, one log per process, and ready.json: the
// lab's prefix (the start of every namespace and link name), the
// namespaces with their addresses and MACs, and the speakers' PIDs, kept
// current by the supervisor. Every file the lab writes, including the API
// server's certificates, etcd's data and the binaries it builds, lives
// under the state directory, so Down finds every process of a supervisor
// that died by its command line and the network by its prefix.
//
// The supervisor is the only process that owns the cluster: only it can
// add a pod or start a speaker. It serves a small HTTP API on a unix socket
// in the state directory (control.go), which the demo and the poke
// commands (Dial, Resolve, KillSpeaker, StartSpeaker; `lab dial` and so
// on) use. Nothing restarts a process that dies.
//
// The package observes Portico from the outside. It imports api/,
// internal/kubeapi and e2etest/{cluster,netlab} from this module and never
// controller/, config/ or speaker/ internals; Portico runs as its binaries.
package lab
