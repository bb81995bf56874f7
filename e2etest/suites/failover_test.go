package suites

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
)

var (
	outage = flag.Duration("e2e.apiserver-outage", 30*time.Second,
		"how long TestAPIServerOutage keeps the speakers away from the API server")
	maxHandoverFailures = flag.Int("e2e.max-handover-failures", 2,
		"failed connects TestHandoverSIGTERM tolerates (the goal is 0)")
)

// failoverWithin bounds how long a VIP may be unreachable after its
// announcer dies.
const failoverWithin = 10 * time.Second

// TestFailoverKill: kill -9 of the announcing speaker moves the VIP to
// another node, which announces it with gratuitous ARP; the client's
// connections follow without any help, and the Service names the new node.
func TestFailoverKill(t *testing.T) {
	f := setup(t, 5, nil)
	pod := f.pod("node-2", "kill-web")
	svc := f.service("web")
	f.expose(svc, pod)
	vip := f.vip(svc)
	old := f.waitAnnouncer(svc, vip, 10*time.Second, nil)
	f.waitResolves(vip, old, 5*time.Second)
	if via := f.ingressNode(f.dial(vip, 80)); via != old {
		t.Fatalf("before the kill, TCP to %s entered at %s; want %s", vip, via, old)
	}

	cp := f.capture()
	killed := time.Now()
	if err := f.c.KillSpeaker(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The client keeps its neighbour entry: only a gratuitous ARP can move
	// it. (The old node's kube-proxy still forwards, so a stale entry keeps
	// working and the ingress node shows whether the client moved.)
	var via, line string
	var lastErr error
	// Its error is the assertion's below, which says the same with the
	// last line seen.
	_ = netlab.Poll(f.ctx, 50*time.Millisecond, failoverWithin-time.Since(killed), "TCP to enter at another node", func(context.Context) error {
		if line, lastErr = f.c.Dial(f.ctx, vip, 80); lastErr != nil {
			return lastErr
		}
		if via = f.ingressNode(line); via == old {
			return fmt.Errorf("enters at %s", via)
		}
		return nil
	})
	moved := time.Since(killed)
	if via == old || via == "" {
		t.Fatalf("%v after kill -9 of %s's speaker, TCP to %s still enters at %q (last line %q, error %v)", failoverWithin, old, vip, via, line, lastErr)
	}
	t.Logf("kill -9 of %s's speaker: client reaches %s through %s after %v", old, vip, via, moved.Round(time.Millisecond))

	garps := cp.For(vip, killed, cluster.GratuitousARP)
	if len(garps) == 0 {
		t.Errorf("no gratuitous ARP for %s after the kill; captured: %v", vip, cp.For(vip, killed))
	} else {
		t.Logf("first gratuitous ARP %v after %v", garps[0], garps[0].Time.Sub(killed).Round(time.Millisecond))
	}
	for _, g := range garps {
		if g.Node != via || g.MAC.String() != f.mac(via).String() {
			t.Errorf("gratuitous ARP %v; want only %s (%s)", g, via, f.mac(via))
		}
	}
	if n := f.waitAnnouncer(svc, vip, 5*time.Second, func(n string) bool { return n != old }); n != via {
		t.Errorf("condition names %s; the client reaches %s through %s", n, vip, via)
	}
	for _, fr := range cp.For(vip, killed.Add(time.Second)) {
		if fr.Node == old {
			t.Errorf("%s still announces %s a second after its speaker was killed: %v", old, vip, fr)
		}
	}
}

// TestHandoverSIGTERM: a speaker stopped with SIGTERM hands its VIP over
// before it stops answering, so a client connecting every 10 ms sees no
// (or hardly any) failed connection.
func TestHandoverSIGTERM(t *testing.T) {
	f := setup(t, 6, nil)
	pod := f.pod("node-2", "term-web")
	svc := f.service("web")
	f.expose(svc, pod)
	vip := f.vip(svc)
	old := f.waitAnnouncer(svc, vip, 10*time.Second, nil)
	f.waitResolves(vip, old, 5*time.Second)
	f.dial(vip, 80)

	type result struct {
		at  time.Time
		dur time.Duration
		via string
		err error
	}
	var (
		mu      sync.Mutex
		results []result
	)
	ctx, cancel := context.WithCancel(f.ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			start := time.Now()
			line, err := f.c.Dial(ctx, vip, 80)
			r := result{at: start, dur: time.Since(start), err: err}
			if err == nil {
				if a, perr := cluster.ClientAddr(line); perr == nil {
					r.via = f.c.NodeByIP(a)
				}
			}
			if ctx.Err() != nil && err != nil {
				return // cancelled mid-dial: not the product's failure
			}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	})
	time.Sleep(time.Second)
	term := time.Now()
	err := f.c.KillSpeaker(old, syscall.SIGTERM)
	exited := time.Since(term)
	time.Sleep(3 * time.Second)
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}

	var failed, slow, total int
	var after []string
	for _, r := range results {
		total++
		switch {
		case r.err != nil:
			failed++
			t.Logf("connect at +%v failed after %v: %v", r.at.Sub(term).Round(time.Millisecond), r.dur.Round(time.Millisecond), r.err)
		case r.dur > 200*time.Millisecond:
			slow++
			t.Logf("connect at +%v took %v (via %s)", r.at.Sub(term).Round(time.Millisecond), r.dur.Round(time.Millisecond), r.via)
		}
		if r.err == nil && r.at.After(term.Add(exited)) {
			after = append(after, r.via)
		}
	}
	t.Logf("SIGTERM to %s's speaker: it exited after %v; %d connects, %d failed, %d slower than 200ms", old, exited.Round(time.Millisecond), total, failed, slow)
	if failed > *maxHandoverFailures {
		t.Errorf("%d connects failed during the handover; want at most %d (the goal is 0)", failed, *maxHandoverFailures)
	}
	if len(after) == 0 {
		t.Fatalf("no successful connect after the speaker exited")
	}
	if last := after[len(after)-1]; last == old || last == "" {
		t.Errorf("after %s's speaker exited, connects still enter at %q; want another node", old, last)
	}
	if n := f.waitAnnouncer(svc, vip, 5*time.Second, func(n string) bool { return n != old }); n == old {
		t.Errorf("condition still names %s", old)
	}
}

// TestExcludedNode: a node labelled
// node.kubernetes.io/exclude-from-external-load-balancers stops announcing:
// its VIPs move away, and new ones never land on it.
func TestExcludedNode(t *testing.T) {
	f := setup(t, 7, nil)
	pod := f.pod("node-1", "excl-web")
	svc := f.service("web")
	f.expose(svc, pod)
	vip := f.vip(svc)
	node := f.waitAnnouncer(svc, vip, 10*time.Second, nil)
	f.waitResolves(vip, node, 5*time.Second)

	f.labelNode(node, corev1.LabelNodeExcludeBalancers, ptr.To(""))
	moved := f.waitAnnouncer(svc, vip, 5*time.Second, func(n string) bool { return n != node })
	f.waitResolves(vip, moved, 5*time.Second)
	t.Logf("%s excluded: %s moved to %s", node, vip, moved)

	// More Services while the label is on: none may land on the node.
	var vips []netip.Addr
	for _, name := range []string{"b", "c", "d"} {
		s := f.service(name)
		f.expose(s, pod)
		v := f.vip(s)
		vips = append(vips, v)
		if n := f.waitAnnouncer(s, v, 10*time.Second, nil); n == node {
			t.Errorf("new service %s (%s) announced by the excluded node %s", name, v, node)
		}
	}
	cp := f.capture()
	for _, v := range append(vips, vip) {
		f.probeFor(v, 400*time.Millisecond, 200*time.Millisecond)
	}
	cp.Stop()
	for _, fr := range cp.Frames() {
		if fr.Node == node && (fr.IP == vip || slices.Contains(vips, fr.IP)) {
			t.Errorf("excluded node %s announced: %v", node, fr)
		}
	}
	if line := f.dial(vip, 80); f.ingressNode(line) == node {
		t.Errorf("TCP to %s entered at the excluded node %s", vip, node)
	}
}

// TestRestartNonAnnouncer: restarting (kill -9, start) the speaker of a
// node that does not announce a VIP does not move the VIP, neither while
// the node is gone nor when it comes back.
func TestRestartNonAnnouncer(t *testing.T) {
	f := setup(t, 8, nil)
	pod := f.pod("node-3", "restart-web")
	svc := f.service("web")
	f.expose(svc, pod)
	vip := f.vip(svc)
	node := f.waitAnnouncer(svc, vip, 10*time.Second, nil)
	f.waitResolves(vip, node, 5*time.Second)
	other := f.otherNodes(node)[0]

	cp := f.capture()
	start := time.Now()
	if err := f.c.KillSpeaker(other, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	f.probeFor(vip, time.Second, 100*time.Millisecond)
	if err := f.c.StartSpeaker(other); err != nil {
		t.Fatal(err)
	}
	// Watch through the restarted speaker's hold-down and a bit beyond.
	done := make(chan error, 1)
	go func() { done <- f.c.WaitSettled(f.ctx) }()
	for settled := false; !settled; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			settled = true
		default:
			f.probeFor(vip, 200*time.Millisecond, 100*time.Millisecond)
		}
	}
	f.probeFor(vip, time.Second, 100*time.Millisecond)
	cp.Stop()
	t.Logf("restarted %s's speaker; settled again after %v", other, time.Since(start).Round(time.Millisecond))
	f.onlyAnswerer(cp.For(vip, start), vip, node)
	if n, err := f.announcedBy(svc, vip); err != nil || n != node {
		t.Errorf("condition names %q (%v); want %s throughout", n, err, node)
	}
	if via := f.ingressNode(f.dial(vip, 80)); via != node {
		t.Errorf("TCP to %s enters at %s; want %s", vip, via, node)
	}
}

// TestAPIServerOutage: with the API server out of reach of every node for
// -e2e.apiserver-outage (30 s), the speakers keep answering for what they
// announced and nothing moves.
func TestAPIServerOutage(t *testing.T) {
	f := setup(t, 9, nil)
	pod := f.pod("node-1", "outage-web")
	s4 := f.service("web4")
	s6 := f.service("web6", ipv6())
	f.expose(s4, pod)
	f.expose(s6, pod)
	want := map[netip.Addr]string{}
	for _, s := range []*corev1.Service{s4, s6} {
		v := f.vip(s)
		want[v] = f.waitAnnouncer(s, v, 10*time.Second, nil)
		f.waitResolves(v, want[v], 5*time.Second)
		f.dial(v, 80)
	}

	cp := f.capture()
	start := time.Now()
	if err := f.c.BlockAPIServer(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.onCleanup(func(ctx context.Context) error { return f.c.UnblockAPIServer(ctx) })
	var problems []string
	for time.Since(start) < *outage {
		for v, node := range want {
			mac, err := f.c.Resolve(f.ctx, v)
			if got := f.c.NodeByMAC(mac); err != nil || got != node {
				problems = append(problems, fmt.Sprintf("+%v: %s answered by %q (%v); want %s",
					time.Since(start).Round(time.Millisecond), v, got, err, node))
			}
			// One retry: a connect lost to a CPU stall of the 2-core CI
			// machine (seen once, with ARP answered throughout) is not the
			// outage this test is about; a VIP that stopped carrying
			// traffic fails both.
			if _, err := f.c.Dial(f.ctx, v, 80); err != nil {
				if _, err2 := f.c.Dial(f.ctx, v, 80); err2 != nil {
					problems = append(problems, fmt.Sprintf("+%v: TCP to %s: %v, and again: %v", time.Since(start).Round(time.Millisecond), v, err, err2))
				} else {
					t.Logf("+%v: TCP to %s failed once (%v); the retry worked", time.Since(start).Round(time.Millisecond), v, err)
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := f.c.UnblockAPIServer(f.ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server unreachable from the nodes for %v", time.Since(start).Round(time.Millisecond))
	// And once it is back, still nothing moves.
	time.Sleep(3 * time.Second)
	for v, node := range want {
		f.probeFor(v, 400*time.Millisecond, 200*time.Millisecond)
		f.onlyAnswerer(cp.For(v, start), v, node)
	}
	cp.Stop()
	for _, p := range problems {
		t.Error(p)
	}
	for _, s := range []*corev1.Service{s4, s6} {
		v := f.vip(s)
		if n, err := f.announcedBy(s, v); err != nil || n != want[v] {
			t.Errorf("after the outage, %s's condition names %q (%v); want %s", s.Name, n, err, want[v])
		}
	}
	if err := f.c.WaitSettled(f.ctx); err != nil {
		t.Error(err)
	}
}

// labelNode sets (value non-nil) or removes a label on node, and undoes it
// at the end of the test.
func (f *fixture) labelNode(node, key string, value *string) {
	f.t.Helper()
	set := func(ctx context.Context, v *string) error {
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, key)
		if v != nil {
			patch = fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, key, *v)
		}
		n := &corev1.Node{}
		n.Name = node
		return f.c.Client.Patch(ctx, n, client.RawPatch("application/merge-patch+json", []byte(patch)))
	}
	var n corev1.Node
	if err := f.c.Client.Get(f.ctx, client.ObjectKey{Name: node}, &n); err != nil {
		f.t.Fatal(err)
	}
	var old *string
	if v, ok := n.Labels[key]; ok {
		old = &v
	}
	if err := set(f.ctx, value); err != nil {
		f.t.Fatal(err)
	}
	f.onCleanup(func(ctx context.Context) error { return set(ctx, old) })
}

// freezeFor stops the announcing speaker for longer than failure
// detection (about 250 ms with the cluster's flags), so the others declare
// it dead, without it noticing anything itself.
const freezeFor = 800 * time.Millisecond

// TestFrozenSpeaker: an announcing speaker frozen (SIGSTOP, as a stopped
// VM or a long pause would) past failure detection loses its VIP to
// another node. When it runs again it learns that the others counted it
// dead and starts over: it does not answer beside the new node, and takes
// the VIP back only after the hold-down.
func TestFrozenSpeaker(t *testing.T) {
	f := setup(t, 12, nil)
	pod := f.pod("node-2", "frozen-web")
	svc := f.service("web")
	f.expose(svc, pod)
	vip := f.vip(svc)
	frozen := f.waitAnnouncer(svc, vip, 10*time.Second, nil)
	f.waitResolves(vip, frozen, 5*time.Second)
	f.dial(vip, 80)
	p := f.c.Speaker(frozen)
	if p == nil {
		t.Fatalf("no speaker process on %s", frozen)
	}
	// Whatever happens, the speaker must not stay stopped.
	f.onCleanup(func(context.Context) error { return p.Kill(syscall.SIGCONT) })

	if err := p.Kill(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	moved := f.waitAnnouncer(svc, vip, 10*time.Second, func(n string) bool { return n != frozen })
	t.Logf("%s's speaker stopped; condition names %s after %v", frozen, moved, time.Since(stopped).Round(time.Millisecond))
	if d := freezeFor - time.Since(stopped); d > 0 {
		time.Sleep(d)
	}
	cp := f.capture()
	if err := p.Kill(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	t.Logf("%s's speaker resumed after %v", frozen, resumed.Sub(stopped).Round(time.Millisecond))

	// Probe who answers for the hold-down: a request it had queued while
	// stopped may still be answered as it wakes, so the first 300 ms are
	// left out; after that only the new node may answer.
	rounds := f.probeRounds(cp, vip, 2500*time.Millisecond, 100*time.Millisecond)
	grace := resumed.Add(300 * time.Millisecond)
	var late []string
	var timeline []string
	for i, r := range rounds {
		if i == 0 || !slices.Equal(r.nodes, rounds[i-1].nodes) {
			timeline = append(timeline, fmt.Sprintf("+%dms %v", r.at.Sub(resumed).Milliseconds(), r.nodes))
		}
		if r.at.After(grace) && slices.Contains(r.nodes, frozen) {
			late = append(late, fmt.Sprintf("+%dms %v", r.at.Sub(resumed).Milliseconds(), r.nodes))
		}
	}
	t.Logf("after resuming, who answered (from each change on): %v", timeline)
	if len(late) > 0 {
		t.Errorf("%s answered for %s within its hold-down after resuming, beside %s: %v", frozen, vip, moved, late)
	}
	for _, fr := range cp.For(vip, grace, cluster.GratuitousARP) {
		if fr.Node == frozen && fr.Time.Before(resumed.Add(2500*time.Millisecond)) {
			t.Errorf("%s sent a gratuitous ARP for %s %v after resuming, within its hold-down", frozen, vip, fr.Time.Sub(resumed).Round(time.Millisecond))
		}
	}
	if n, err := f.announcedBy(svc, vip); err != nil || n != moved {
		t.Errorf("condition names %q (%v) 2.5 s after %s resumed; want %s", n, err, frozen, moved)
	}
	if err := f.c.WaitSettled(f.ctx); err != nil {
		t.Fatal(err)
	}
	final := f.waitAnnouncer(svc, vip, 10*time.Second, nil)
	f.waitResolves(vip, final, 5*time.Second)
	t.Logf("settled: %s announces %s", final, vip)
}
