package bench

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/frr"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// bgpResult holds the figures of a run; a phase that did not run leaves its
// fields empty.
type bgpResult struct {
	latPortico, latRef []time.Duration

	scaleN                              int
	scalePortico, scaleCreate, scaleRef time.Duration
	scaleAddressed                      time.Duration // first address → last address
	scaleTail                           time.Duration // last address → all routes
	scaleCreated                        time.Duration // first create → last create returned
	scaleFloor                          time.Duration // the same creates of Services nobody serves
	speakerCPU, refCPU                  time.Duration
	speakerRSS, refRSS                  int64
	writes                              writeCounts

	sigterm, sigtermRef, kill, killRef, linkDown []time.Duration
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// latency creates Services one at a time and measures address → route,
// then has gobgpd announce the same addresses one at a time.
func (b *bgpBench) latency(ctx context.Context) error {
	var names []string
	var ps []netip.Prefix
	for i := range b.o.Latency {
		name := fmt.Sprintf("lat-%d", i)
		t0 := time.Now()
		if err := b.cl.Client.Create(ctx, bgpService(name)); err != nil {
			return fmt.Errorf("bench: creating Service %s: %w", name, err)
		}
		names = append(names, name)
		a, err := b.watch.waitAddress(ctx, name, 30*time.Second)
		if err != nil {
			return err
		}
		p := hostPrefix(a.ip)
		at, err := b.fib.waitAdded(ctx, p, t0, 30*time.Second)
		if err != nil {
			return err
		}
		ps = append(ps, p)
		b.res.latPortico = append(b.res.latPortico, at.Sub(a.at))
	}
	if err := b.deleteServices(ctx, names, ps); err != nil {
		return err
	}
	for _, p := range ps {
		t0 := time.Now()
		if err := b.ref.do("add", p); err != nil {
			return err
		}
		at, err := b.fib.waitAdded(ctx, p, t0, 30*time.Second)
		if err != nil {
			return err
		}
		b.res.latRef = append(b.res.latRef, at.Sub(t0))
	}
	return b.refWithdraw(ctx, ps)
}

// scale creates Scale Services at once and measures until all are routed,
// with the speakers' CPU and memory and the API writes; then gobgpd
// announces the same addresses in one stream.
func (b *bgpBench) scale(ctx context.Context) error {
	n := b.o.Scale
	b.res.scaleN = n
	var err error
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("scale-%d", i)
	}
	if b.res.scaleFloor, err = b.apiFloor(ctx, n); err != nil {
		return err
	}
	u0, err := b.speakerUsage()
	if err != nil {
		return err
	}
	w0, err := scrapeWrites(ctx, b.clients.metrics)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := b.parallel(ctx, names, func(ctx context.Context, name string) error {
		_, err := b.clients.fast.CoreV1().Services(bgpNS).Create(ctx, bgpService(name), metav1.CreateOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("bench: creating Services: %w", err)
	}
	b.res.scaleCreated = time.Since(t0)
	var ps []netip.Prefix
	var first, lastIP time.Time
	for _, name := range names {
		a, err := b.watch.waitAddress(ctx, name, bgpWaitLimit)
		if err != nil {
			return err
		}
		ps = append(ps, hostPrefix(a.ip))
		if first.IsZero() || a.at.Before(first) {
			first = a.at
		}
		if a.at.After(lastIP) {
			lastIP = a.at
		}
	}
	b.res.scaleAddressed = lastIP.Sub(first)
	last, err := b.fib.waitAll(ctx, ps, true, bgpWaitLimit)
	if err != nil {
		return err
	}
	b.res.scalePortico, b.res.scaleCreate, b.res.scaleTail = last.Sub(first), last.Sub(t0), last.Sub(lastIP)
	u1, err := b.speakerUsage()
	if err != nil {
		return err
	}
	for node, u := range u1 {
		b.res.speakerCPU += u.cpu - u0[node].cpu
		b.res.speakerRSS = max(b.res.speakerRSS, u.maxRSS)
	}
	// The speakers' condition writes follow the routes: count once quiet.
	w1, err := b.quietWrites(ctx, 3*time.Second, time.Minute)
	if err != nil {
		return err
	}
	b.res.writes = w1.minus(w0)
	if err := b.deleteServices(ctx, names, ps); err != nil {
		return err
	}
	g0, err := liveUsage(b.ref.proc)
	if err != nil {
		return err
	}
	t1 := time.Now()
	if err := b.ref.do("add", ps...); err != nil {
		return err
	}
	last, err = b.fib.waitAll(ctx, ps, true, bgpWaitLimit)
	if err != nil {
		return err
	}
	b.res.scaleRef = last.Sub(t1)
	g1, err := liveUsage(b.ref.proc)
	if err != nil {
		return err
	}
	b.res.refCPU, b.res.refRSS = g1.cpu-g0.cpu, g1.maxRSS
	return b.refWithdraw(ctx, ps)
}

// unservedClass is a loadBalancerClass no controller serves.
const unservedClass = "bench.portico.dev/none"

// apiFloor creates n Services like the scale run's, of a class Portico does
// not serve, the same way (Creators clients), and returns how long the API
// server took to accept them all: what creating them costs with no
// controller work behind it, the floor of the scale run's addressing. They
// are deleted before it returns.
func (b *bgpBench) apiFloor(ctx context.Context, n int) (time.Duration, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("floor-%d", i)
	}
	unserved := func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To(unservedClass) }
	t0 := time.Now()
	if err := b.parallel(ctx, names, func(ctx context.Context, name string) error {
		svc := cluster.Service(bgpNS, name, unserved, cluster.SingleStack(corev1.IPv4Protocol), cluster.Port(corev1.ProtocolTCP, 80))
		_, err := b.clients.fast.CoreV1().Services(bgpNS).Create(ctx, svc, metav1.CreateOptions{})
		return err
	}); err != nil {
		return 0, fmt.Errorf("bench: creating unserved Services: %w", err)
	}
	d := time.Since(t0)
	if err := b.parallel(ctx, names, func(ctx context.Context, name string) error {
		return b.clients.fast.CoreV1().Services(bgpNS).Delete(ctx, name, metav1.DeleteOptions{})
	}); err != nil {
		return 0, fmt.Errorf("bench: deleting unserved Services: %w", err)
	}
	return d, nil
}

// quietWrites returns the API server's write counters once they stayed the
// same for quiet (at most limit).
func (b *bgpBench) quietWrites(ctx context.Context, quiet, limit time.Duration) (writeCounts, error) {
	end := time.Now().Add(limit)
	prev, err := scrapeWrites(ctx, b.clients.metrics)
	if err != nil {
		return nil, err
	}
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(quiet):
		}
		cur, err := scrapeWrites(ctx, b.clients.metrics)
		if err != nil {
			return nil, err
		}
		if len(cur.minus(prev)) == 0 {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

func (b *bgpBench) speakerUsage() (map[string]usage, error) {
	out := map[string]usage{}
	for _, h := range b.cl.Lab.Nodes {
		p := b.cl.Speaker(h.Name)
		if p == nil {
			return nil, fmt.Errorf("bench: no speaker on %s", h.Name)
		}
		u, err := liveUsage(p)
		if err != nil {
			return nil, err
		}
		out[h.Name] = u
	}
	return out, nil
}

// deleteServices deletes the named Services and waits until their routes
// ps left the router's FIB.
func (b *bgpBench) deleteServices(ctx context.Context, names []string, ps []netip.Prefix) error {
	if err := b.parallel(ctx, names, func(ctx context.Context, name string) error {
		return b.clients.fast.CoreV1().Services(bgpNS).Delete(ctx, name, metav1.DeleteOptions{})
	}); err != nil {
		return fmt.Errorf("bench: deleting Services: %w", err)
	}
	_, err := b.fib.waitAll(ctx, ps, false, bgpWaitLimit)
	return err
}

func (b *bgpBench) refWithdraw(ctx context.Context, ps []netip.Prefix) error {
	if err := b.ref.do("del", ps...); err != nil {
		return err
	}
	_, err := b.fib.waitAll(ctx, ps, false, bgpWaitLimit)
	return err
}

// parallel runs fn for every name with o.Creators workers; the first error
// wins.
func (b *bgpBench) parallel(ctx context.Context, names []string, fn func(context.Context, string) error) error {
	ch := make(chan string)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(b.o.Creators, len(names)) {
		wg.Go(func() {
			for name := range ch {
				if err := fn(ctx, name); err != nil {
					once.Do(func() { first = fmt.Errorf("%s: %w", name, err) })
				}
			}
		})
	}
	for _, n := range names {
		ch <- n
	}
	close(ch)
	wg.Wait()
	return first
}

// faults measures how fast a node's next hop leaves the router's FIB after
// SIGTERM, kill -9 and link down of its speaker, and gobgpd's route after
// SIGTERM (Cease) and kill -9.
func (b *bgpBench) faults(ctx context.Context) error {
	if err := b.cl.Client.Create(ctx, bgpService(bgpFaultSvc)); err != nil {
		return fmt.Errorf("bench: creating Service %s: %w", bgpFaultSvc, err)
	}
	a, err := b.watch.waitAddress(ctx, bgpFaultSvc, 30*time.Second)
	if err != nil {
		return err
	}
	p, all := hostPrefix(a.ip), b.nodeAddrs()
	if _, err := b.waitHops(ctx, p, all, time.Minute); err != nil {
		return err
	}
	if err := b.ref.do("add", bgpRefFault); err != nil {
		return err
	}
	if _, err := b.waitHops(ctx, bgpRefFault, []netip.Addr{b.ref.h.IPv4}, 30*time.Second); err != nil {
		return err
	}
	nodes := b.cl.Lab.Nodes
	for _, f := range []struct {
		into   *[]time.Duration
		inject func(node string) error
		fix    func(node string) error
	}{
		{&b.res.sigterm, func(n string) error { return b.cl.KillSpeaker(n, syscall.SIGTERM) }, b.cl.StartSpeaker},
		{&b.res.kill, func(n string) error { return b.cl.KillSpeaker(n, syscall.SIGKILL) }, b.cl.StartSpeaker},
		{&b.res.linkDown, func(n string) error { return b.cl.SetNodeLink(ctx, n, false) },
			func(n string) error { return b.cl.SetNodeLink(ctx, n, true) }},
	} {
		for i := range b.o.Reps {
			h := nodes[i%len(nodes)]
			rest := slices.DeleteFunc(slices.Clone(all), func(x netip.Addr) bool { return x == h.IPv4 })
			d, err := b.timeFault(ctx, func() error { return f.inject(h.Name) }, p, rest)
			if err != nil {
				return err
			}
			*f.into = append(*f.into, d)
			if err := f.fix(h.Name); err != nil {
				return err
			}
			if _, err := b.waitHops(ctx, p, all, time.Minute); err != nil {
				return err
			}
		}
	}
	for _, f := range []struct {
		into *[]time.Duration
		sig  syscall.Signal
	}{{&b.res.sigtermRef, syscall.SIGTERM}, {&b.res.killRef, syscall.SIGKILL}} {
		for range b.o.Reps {
			d, err := b.timeFault(ctx, func() error { return b.ref.kill(f.sig) }, bgpRefFault, nil)
			if err != nil {
				return err
			}
			*f.into = append(*f.into, d)
			if err := b.ref.start(ctx); err != nil {
				return err
			}
			if err := b.waitSessions(ctx, []netip.Addr{b.ref.h.IPv4}, 30*time.Second); err != nil {
				return err
			}
			if err := b.ref.do("add", bgpRefFault); err != nil {
				return err
			}
			if _, err := b.waitHops(ctx, bgpRefFault, []netip.Addr{b.ref.h.IPv4}, 30*time.Second); err != nil {
				return err
			}
		}
	}
	return nil
}

// timeFault runs inject (which may wait for a process to exit) beside a
// poll of the router's FIB, and returns how long after inject began p was
// routed via exactly hops (none: gone).
func (b *bgpBench) timeFault(ctx context.Context, inject func() error, p netip.Prefix, hops []netip.Addr) (time.Duration, error) {
	errc := make(chan error, 1)
	t0 := time.Now()
	go func() { errc <- inject() }()
	_, werr := b.waitHops(ctx, p, hops, 30*time.Second)
	d := time.Since(t0)
	if err := <-errc; err != nil {
		return 0, fmt.Errorf("bench: fault: %w", err)
	}
	return d, werr
}

// waitHops polls the router's FIB until p is routed by BGP via exactly
// hops (none: no route), and returns how long that took.
func (b *bgpBench) waitHops(ctx context.Context, p netip.Prefix, hops []netip.Addr, within time.Duration) (time.Duration, error) {
	start := time.Now()
	want := slices.Clone(hops)
	slices.SortFunc(want, netip.Addr.Compare)
	err := netlab.Poll(ctx, 10*time.Millisecond, within, fmt.Sprintf("%s routed via %v", p, hops), func(ctx context.Context) error {
		fib, err := b.router.FIB(ctx, frr.IPv4)
		if err != nil {
			return err
		}
		r, ok := fib[p]
		got := slices.Clone(r.NextHops)
		slices.SortFunc(got, netip.Addr.Compare)
		switch {
		case len(want) == 0 && !ok:
			return nil
		case len(want) == 0:
			return fmt.Errorf("still routed via %v", got)
		case !ok:
			return fmt.Errorf("no route")
		case r.Protocol != "bgp" || !slices.Equal(got, want):
			return fmt.Errorf("routed via %v (%s)", got, r.Protocol)
		}
		return nil
	})
	return time.Since(start), err
}
