package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/frr"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// BGPOptions configures the bgp benchmark.
type BGPOptions struct {
	// Latency is the number of Services created one at a time for the
	// address → route latency. Default 100.
	Latency int
	// Scale is the number of Services created at once. Default 1000.
	Scale int
	// Reps is the number of repetitions of each fault. Default 10.
	Reps int
	// Creators is the number of concurrent clients creating the Scale
	// Services. Default 16.
	Creators int
	// HoldTime is the BGPPeer's (and gobgpd's) hold time. Default 3 s.
	HoldTime time.Duration
	// GoBGPDir holds (or receives) the built gobgpd and its driver.
	// Default: portico/gobgp-<version> in the user's cache directory.
	GoBGPDir string
	// Phases are the parts to run, in this order whatever the order
	// given: "latency", "scale", "faults". Default all of them.
	Phases []string
	// Keep leaves the logs in place.
	Keep bool
}

// bgpPhases returns the bgp bench's phases, in the order they run.
func bgpPhases() []string { return []string{"latency", "scale", "faults"} }

// setBGPDefaults fills the unset fields of o and checks the rest.
func setBGPDefaults(o BGPOptions, cacheDir func() (string, error)) (BGPOptions, error) {
	if o.Latency == 0 {
		o.Latency = 100
	}
	if o.Scale == 0 {
		o.Scale = 1000
	}
	if o.Reps == 0 {
		o.Reps = 10
	}
	if o.Creators == 0 {
		o.Creators = 16
	}
	if o.HoldTime == 0 {
		o.HoldTime = 3 * time.Second
	}
	if o.GoBGPDir == "" {
		d, err := cacheDir()
		if err != nil {
			return o, fmt.Errorf("bgp: locating the cache for gobgpd: %w", err)
		}
		o.GoBGPDir = filepath.Join(d, "portico", "gobgp-"+gobgpVersion)
	}
	if len(o.Phases) == 0 {
		o.Phases = bgpPhases()
	}
	for _, ph := range o.Phases {
		if !slices.Contains(bgpPhases(), ph) {
			return o, fmt.Errorf("bgp: phase %q: want one of %v", ph, bgpPhases())
		}
	}
	switch {
	case o.Latency < 1 || o.Scale < 1 || o.Reps < 1 || o.Creators < 1:
		return o, errors.New("bgp: latency, scale, reps and creators must be at least 1")
	case o.Scale > 4000:
		return o, fmt.Errorf("bgp: scale %d: at most 4000 (the pool is a /20)", o.Scale)
	case o.HoldTime < 3*time.Second || o.HoldTime%time.Second != 0:
		return o, fmt.Errorf("bgp: hold time %v: want whole seconds, at least 3", o.HoldTime)
	}
	return o, nil
}

// The bench's objects and address plan: Portico's Services draw from
// bgpPool; gobgpd announces the same addresses after Portico withdrew them
// (the latency and scale runs) or one of its own, bgpRefFault (the faults).
const (
	bgpNS        = "bgp-bench"
	bgpPoolName  = "bgp-bench"
	bgpPool      = "100.64.0.0/20"
	bgpPeerName  = "bench-router"
	gobgpHostID  = 103
	bgpFaultSvc  = "fault"
	bgpWaitLimit = 2 * time.Minute
)

var bgpRefFault = netip.MustParsePrefix("100.65.0.1/32")

// bgpBench is one run: the cluster, the router, the reference, the
// observers.
type bgpBench struct {
	o       BGPOptions
	r       report
	cl      *cluster.Cluster
	clients *clients
	router  *frr.Router
	fib     *fibMonitor
	ref     *gobgpRef
	watch   *serviceWatch
	res     bgpResult
}

// BGP measures Portico's BGP announcer against a bare gobgpd, both peering
// with one FRR router in a lab cluster, and prints the report to w.
func BGP(ctx context.Context, o BGPOptions, w io.Writer) (err error) {
	o, err = setBGPDefaults(o, os.UserCacheDir)
	if err != nil {
		return err
	}
	if err := frr.Installed(); err != nil {
		return err
	}
	dir, tidy, err := logDir("portico-bgp-", o.Keep, w)
	if err != nil {
		return err
	}
	defer func() { tidy(err) }()
	b := &bgpBench{o: o, r: report{w: w}}
	bins, err := buildGoBGP(ctx, o.GoBGPDir)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := b.setUp(ctx, dir, bins); err != nil {
		b.tearDown()
		return err
	}
	defer b.tearDown()
	b.printHeader(time.Since(start))
	names := bgpPhases()
	for i, phase := range []func(context.Context) error{b.latency, b.scale, b.faults} {
		if !slices.Contains(o.Phases, names[i]) {
			continue
		}
		if err := phase(ctx); err != nil {
			b.printResult()
			return err
		}
	}
	b.printResult()
	return nil
}

// setUp starts the cluster, the router (FRR peering with every node and
// with gobgpd's host), gobgpd, and creates the pool, advertisement and peer.
func (b *bgpBench) setUp(ctx context.Context, dir string, bins gobgpBins) error {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var err error
	b.cl, err = cluster.Start(sctx, cluster.Options{Dir: filepath.Join(dir, "cluster"), NoKubeProxy: true})
	if err != nil {
		return err
	}
	if b.clients, err = newClients(b.cl.Config); err != nil {
		return err
	}
	rh, err := b.cl.Lab.AddRouter(sctx)
	if err != nil {
		return err
	}
	gh, err := b.cl.Lab.AddHost(sctx, "gobgp", gobgpHostID)
	if err != nil {
		return err
	}
	nbrs := []frr.Neighbor{{Addr: gh.IPv4, ASN: cluster.NodeASN}}
	for _, n := range b.cl.Lab.Nodes {
		nbrs = append(nbrs, frr.Neighbor{Addr: n.IPv4, ASN: cluster.NodeASN})
	}
	if b.router, err = frr.Start(sctx, frr.Config{Host: rh, Neighbors: nbrs}); err != nil {
		return err
	}
	if b.fib, err = startFIBMonitor(rh.Namespace); err != nil {
		return err
	}
	if b.ref, err = startGoBGP(sctx, bins, gh, dir, cluster.NodeASN, frr.DefaultASN, rh.IPv4, b.o.HoldTime); err != nil {
		return err
	}
	if err := createNamespaces(sctx, b.clients.fast, bgpNS); err != nil {
		return err
	}
	for _, obj := range []client.Object{
		cluster.Pool(bgpPoolName, false, bgpPool),
		cluster.BGPAdvertisement(bgpPoolName, bgpPoolName),
		cluster.BGPPeer(bgpPeerName, rh.IPv4, frr.DefaultASN, b.o.HoldTime),
	} {
		if err := b.cl.Client.Create(sctx, obj); err != nil {
			return fmt.Errorf("bench: creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	if b.watch, err = watchServices(ctx, b.clients.watch, bgpNS); err != nil {
		return err
	}
	return b.waitSessions(sctx, append(b.nodeAddrs(), gh.IPv4), time.Minute)
}

func (b *bgpBench) tearDown() {
	if b.watch != nil {
		b.watch.stop()
	}
	if b.ref != nil {
		b.ref.stop()
	}
	if b.fib != nil {
		b.fib.stop()
	}
	if b.router != nil {
		b.router.Stop()
	}
	if b.cl != nil {
		b.cl.Stop()
	}
}

func (b *bgpBench) nodeAddrs() []netip.Addr {
	var out []netip.Addr
	for _, n := range b.cl.Lab.Nodes {
		out = append(out, n.IPv4)
	}
	return out
}

// waitSessions waits until the router's sessions with addrs are Established.
func (b *bgpBench) waitSessions(ctx context.Context, addrs []netip.Addr, within time.Duration) error {
	return netlab.Poll(ctx, 100*time.Millisecond, within, fmt.Sprintf("the router's sessions with %v Established", addrs), func(ctx context.Context) error {
		s, err := b.router.Neighbors(ctx)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if s[a].State != "Established" {
				return fmt.Errorf("session with %s is %q", a, s[a].State)
			}
		}
		return nil
	})
}

// service returns the bench's Service name, from the pool.
func bgpService(name string) *corev1.Service {
	return cluster.Service(bgpNS, name, cluster.FromPool(bgpPoolName), cluster.SingleStack(corev1.IPv4Protocol),
		cluster.Port(corev1.ProtocolTCP, 80))
}
