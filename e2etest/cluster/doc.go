// Package cluster runs a small but real Kubernetes cluster inside a netlab
// lab, for Portico's end-to-end tests, the lab demo and the benchmarks
// (DESIGN §5):
//
//	client ─┐                 kube-apiserver + etcd + portico-controller
//	node-1 ─┤                   (root namespace, on the bridge address)
//	node-2 ─┼─ bridge
//	node-3 ─┘  each node: portico-speaker + kube-proxy (nftables)
//	             └─ pods: namespaces behind the node running podserver
//
// Start builds the binaries (once per process), creates the lab, starts the
// API server on the bridge's IPv4 address, creates one Node object per node
// namespace (InternalIP IPv4 and IPv6, kubernetes.io/hostname) and the
// portico-system namespace, then starts the controller in the root namespace
// and one speaker and one kube-proxy in every node namespace. It returns once
// kube-proxy is healthy on every node and every speaker counts every other
// one as a stable member. Stop removes all of it, also after a partial
// failure.
//
// # Pods and routes
//
// AddPod creates a namespace "<prefix>-pod-<name>" joined to its node by a
// veth pair (eth0 in the pod, "<prefix>p<n>" on the node; both live only in
// lab namespaces). Pod addresses are 10.244.<i>.<n>/32 and
// fd00:244:<i>::<n>/128 for node-<i>, with host routes on the node to the
// veth. The pod's default routes are "via <node's LAN IPv4> dev eth0 onlink"
// (Linux answers ARP for any of its addresses on any link, so the node
// answers for its LAN address on the veth: no proxy ARP and no extra address
// needed) and "via fe80::1 dev eth0" (NDP answers only for addresses of the
// receiving link, so the node's end of the veth carries fe80::1). Every node
// routes the other nodes' pod ranges (10.244.<j>.0/24, fd00:244:<j>::/64)
// via their LAN addresses, so kube-proxy on any node can forward to a pod on
// any other, as a flat pod network would. Every node also routes the
// Service range (10.96.0.0/16, fd00:96::/112) out of eth0, standing in for
// a real node's default route, so a client in a node reaches a ClusterIP
// (kube-proxy's output chain DNATs it). The kernel deletes a node's
// routes via the LAN when its link goes down, so tests flap a node's link
// with SetNodeLink, which puts them back when the link comes up again.
//
// There is no kubelet and no endpoint controller: ExposePods writes the
// EndpointSlices they would write (ready, serving, nodeName set).
//
// # ExternalServices
//
// The controller resolves ExternalService endpoint names with ResolvConf
// (a file in Dir, empty of servers until SetNameservers names the lab's
// DNS hosts) and refuses targets in the pod ranges and on the nodes' own
// addresses. The database hosts themselves (real MariaDB, Redis, dnsmasq)
// are lab hosts the suites add (internal/realserver).
//
// # Observing
//
// The client namespace plays the LAN host: Resolve sends one ARP request or
// Neighbor Solicitation from it (an Asker, which any lab host can run) and
// returns the MAC that answered, Dial opens a TCP connection to a VIP and
// returns the podserver's line. Capture listens on the root-side ends of the
// nodes' veths (AF_PACKET, root namespace, read only), so every ARP reply,
// gratuitous ARP and Neighbor Advertisement a node sends is seen with the
// node that sent it. Both are one observer (observe.go): sockets and wire
// formats from the mdlayher packages, one decoding into Frame. BlockAPIServer cuts every node
// namespace off the API server (an nftables table that drops both
// directions), which is how the tests take the API server away from the
// speakers and kube-proxy: restarting envtest on the same etcd would change
// its port and certificates under the running processes.
//
// # Imports
//
// Like all of e2etest, this package runs binaries and observes behaviour:
// it imports api/, internal/ and e2etest/netlab from this module and never
// controller/, config/ or speaker/. It also holds e2etest's one set of
// object builders (objects.go) and its one go build (GoBuild).
package cluster
