// Package suites holds Portico's end-to-end tests. They run against a real
// cluster in a lab (e2etest/cluster: kube-apiserver, the controller, one
// speaker and one kube-proxy per node namespace, pods behind the nodes) and
// judge only what a user could observe: who answers ARP and NDP for a VIP,
// where a TCP connection lands, what the Service's status and Events say,
// and, for BGP (bgp_test.go, a cluster of its own with real FRR in the lab
// router), the router's sessions, BGP table and kernel routes;
// bgp_policy_test.go does the same on a second such cluster for what the
// BGPAdvertisements and BGPPeers ask (communities, localPref, aggregation,
// peers, node selectors, hold time, ebgpMultiHop to a second FRR two hops
// away).
//
// The tests are the root tier: they need root and skip (saying why) without
// it or with -short; PORTICO_E2E=1 turns those skips into failures. One
// cluster serves the whole package, started by the first test that needs it
// and stopped by TestMain; each test has its own Kubernetes namespace, pool,
// advertisement and slice of the lab's VIP range, and restores any speaker,
// node label or node link it changed. On failure a test logs the processes' logs,
// the nodes' nftables rulesets and neighbour tables and the API objects;
// the logs stay in the directory TestMain prints.
//
// The database tests (databases_test.go) need no cluster: they put real
// MariaDB, Redis and dnsmasq servers (internal/realserver) on lab hosts of
// their own and reach them from a node with the real clients, the ground
// the ExternalService tests stand on. Those (TestExternalService,
// external_*_test.go) put the same servers on hosts of the shared
// cluster's lab and check, through the ClusterIP a node's kube-proxy
// DNATs, what the controller's probes make of them: health, primary,
// DNS names, adoption, refused targets.
//
// Like all of e2etest this package imports only api/, internal/ and
// e2etest/ packages.
package suites
