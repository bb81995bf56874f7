package membership

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The security tests put hosts on the loopback "LAN" that speak memberlist
// but are no speakers: with or without the key, under a real node's name or
// a made-up one. They must not get counted, and what they publish must not
// move anything.

// rogue is a bare memberlist member that publishes whatever metadata the
// test sets: a host on the LAN that speaks the protocol.
type rogue struct {
	ml   *memberlist.Memberlist
	meta atomic.Value // []byte
}

func (r *rogue) NodeMeta(int) []byte             { return r.meta.Load().([]byte) }
func (r *rogue) NotifyMsg([]byte)                {}
func (r *rogue) GetBroadcasts(int, int) [][]byte { return nil }
func (r *rogue) LocalState(bool) []byte          { return nil }
func (r *rogue) MergeRemoteState([]byte, bool)   {}
func (r *rogue) publish(tb testing.TB, meta []byte) {
	r.meta.Store(meta)
	_ = r.ml.UpdateNode(time.Second)
}
func (r *rogue) join(addrs ...netip.AddrPort) error {
	_, err := r.ml.Join(addrStrings(addrs))
	return err
}
func (r *rogue) addr() netip.AddrPort {
	return netip.AddrPortFrom(r.bind(), uint16(r.ml.LocalNode().Port))
}
func (r *rogue) bind() netip.Addr {
	a, _ := netip.AddrFromSlice(r.ml.LocalNode().Addr)
	return a.Unmap()
}
func addrStrings(as []netip.AddrPort) (out []string) {
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

var _ memberlist.Delegate = (*rogue)(nil)

// startRogue runs a memberlist member named name on addr with Portico's
// label and timers, encrypted with key (nil: plain), until the test ends.
func startRogue(tb testing.TB, name string, addr netip.Addr, key []byte, meta []byte) *rogue {
	tb.Helper()
	r := &rogue{}
	r.meta.Store(meta)
	c := memberlist.DefaultLANConfig()
	c.Name, c.BindAddr, c.BindPort = name, addr.String(), freePort(tb, addr)
	c.AdvertiseAddr, c.AdvertisePort = c.BindAddr, c.BindPort
	c.Label = gossipLabel
	c.ProbeInterval, c.ProbeTimeout, c.GossipInterval = defaultProbeInterval, defaultProbeTimeout, defaultGossipInterval
	c.TCPTimeout = tcpTimeout
	c.SecretKey = key
	c.Delegate = r
	c.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(c)
	if err != nil {
		tb.Fatal(err)
	}
	r.ml = ml
	tb.Cleanup(func() { _ = ml.Shutdown() })
	return r
}

// killEveryone is a verdict that counts the named nodes dead; flipping
// between two such verdicts is the attack of issue 8: each new verdict
// that lists a node dead makes that node start over.
func killEveryone(extra uint32, names ...string) []byte {
	v := verdict{outCount: len(names) + 1}
	for _, n := range names {
		v.outHashes = append(v.outHashes, nameHash(n))
		v.deadHashes = append(v.deadHashes, nameHash(n))
	}
	v.outHashes = append(v.outHashes, extra)
	slices.Sort(v.outHashes)
	slices.Sort(v.deadHashes)
	v.outMin = v.outHashes[0]
	return encodeMeta(v, nil, metaMaxSize)
}

func startOvers(n *node) float64 {
	return testutil.ToFloat64(n.m.metrics.changes.WithLabelValues("start-over"))
}

func rejected(n *node, reason string) float64 {
	return testutil.ToFloat64(n.m.metrics.rejected.WithLabelValues(reason))
}

// keyedCluster starts a and b on 127.0.<net>.1 and .2 with key, knowing
// each other and whatever extra records the test adds.
func keyedCluster(t *testing.T, net byte, key []byte, extra ...peer) ([]*node, staticPeers) {
	t.Helper()
	var src staticPeers
	var cfgs []Config
	for i, name := range []string{"a", "b"} {
		addr := netip.AddrFrom4([4]byte{127, 0, net, byte(i + 1)})
		c := Config{NodeName: name, BindAddr: addr, BindPort: freePort(t, addr), HoldDown: 300 * time.Millisecond, SecretKey: key}
		cfgs = append(cfgs, c)
		src = append(src, peer{Name: name, Addr: netip.AddrPortFrom(addr, uint16(c.BindPort))})
	}
	src = append(src, extra...)
	var nodes []*node
	for _, c := range cfgs {
		nodes = append(nodes, startNode(t, c, src))
	}
	for _, n := range nodes {
		await(t, n.m, waitLimit, "a and b stable", allStable("a", "b"))
	}
	return nodes, src
}

// flip makes r publish verdicts that count a and b dead, alternating so
// every one is news, rounds times.
func flip(t *testing.T, r *rogue, rounds int) {
	for i := range rounds {
		r.publish(t, killEveryone(uint32(i%2)+1, "a", "b"))
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRogueWithoutKey: a host without the key can neither join nor be
// joined, and its forged verdicts reach nobody.
func TestRogueWithoutKey(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	nodes, src := keyedCluster(t, 5, key)
	r := startRogue(t, "c", netip.MustParseAddr("127.0.5.3"), nil, killEveryone(1, "a", "b"))
	if err := r.join(src[0].Addr, src[1].Addr); err == nil {
		t.Error("a member without the key joined")
	}
	flip(t, r, 6)
	for _, n := range nodes {
		if got := stableNames(n.m.Alive()); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("%s: stable %v, want [a b]", n.cfg.NodeName, got)
		}
		if s := startOvers(n); s != 0 {
			t.Errorf("%s started over %v times", n.cfg.NodeName, s)
		}
	}
	if got := r.ml.NumMembers(); got != 1 {
		t.Errorf("the rogue sees %d members, want only itself", got)
	}
}

// TestRogueWithKey: hosts that hold the key but are no known speaker are
// ignored, and their forged verdicts make nobody start over:
//   - "c" is a real node (its speaker is down) whose name the rogue
//     borrows, from another address than its Lease names;
//   - "d" has no Lease at all;
//   - "e" has a Lease with its address, but a stale one;
//   - "f" has a fresh Lease with its address, but is no Node.
func TestRogueWithKey(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	host := func(i byte) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 6, i}) }
	rogues := map[string]*rogue{}
	for i, name := range []string{"c", "d", "e", "f"} {
		rogues[name] = startRogue(t, name, host(byte(10+i)), key, verdictMeta(verdict{}))
	}
	extra := []peer{
		{Name: "c", Addr: netip.AddrPortFrom(host(3), 7946)}, // c's speaker would be here
		{Name: "e", Addr: rogues["e"].addr(), Renewed: time.Now().Add(-time.Hour)},
		{Name: "f", Addr: rogues["f"].addr(), NotNode: true},
	}
	nodes, src := keyedCluster(t, 6, key, extra...)
	for name, r := range rogues {
		if err := r.join(src[0].Addr, src[1].Addr); err != nil {
			t.Fatalf("rogue %s (with the key) could not reach the speakers: %v", name, err)
		}
	}
	// memberlist itself sees the rogues: admission is Portico's.
	for _, n := range nodes {
		deadline := time.Now().Add(waitLimit)
		for n.m.ml.list.NumMembers() < 6 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: memberlist has %d members, want 6", n.cfg.NodeName, n.m.ml.list.NumMembers())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	for _, r := range rogues {
		wg.Go(func() { flip(t, r, 6) })
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	for _, n := range nodes {
		if got := n.m.Alive(); !allStable("a", "b")(got) || len(got) != 2 {
			t.Errorf("%s: alive %v, want a and b, stable", n.cfg.NodeName, got)
		}
		if s := startOvers(n); s != 0 {
			t.Errorf("%s started over %v times because of a forged verdict", n.cfg.NodeName, s)
		}
		for _, reason := range []string{rejectAddrMismatch, rejectNoLease, rejectStaleLease, rejectNotNode} {
			if got := rejected(n, reason); got != 1 {
				t.Errorf("%s: %v rejections for %s, want 1 (one rogue each)", n.cfg.NodeName, got, reason)
			}
		}
	}
}

func verdictMeta(v verdict) []byte { return encodeMeta(v, nil, metaMaxSize) }

// mutablePeers is a peer list the test edits while the nodes run: a Lease
// store without an API server.
type mutablePeers struct {
	mu sync.Mutex
	ps []peer
}

var _ peerSource = (*mutablePeers)(nil)

func (s *mutablePeers) publish(context.Context, peer) error    { return nil }
func (s *mutablePeers) withdraw(context.Context, string) error { return nil }
func (s *mutablePeers) peers(context.Context) ([]peer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ps), nil
}
func (s *mutablePeers) set(ps ...peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ps = ps
}

// TestLateLease: a new speaker whose memberlist join reaches a running one
// before its Lease does is pending, not refused: it counts as soon as the
// Lease is there, with a hold-down from then on. And a Lease that changes
// to another address evicts it.
func TestLateLease(t *testing.T) {
	addrA, addrB := netip.MustParseAddr("127.0.7.1"), netip.MustParseAddr("127.0.7.2")
	cfgA := Config{NodeName: "a", BindAddr: addrA, BindPort: freePort(t, addrA), HoldDown: 300 * time.Millisecond,
		LeaseDuration: 2 * time.Second, RenewInterval: 500 * time.Millisecond}
	cfgB := Config{NodeName: "b", BindAddr: addrB, BindPort: freePort(t, addrB), HoldDown: 300 * time.Millisecond}
	pa := peer{Name: "a", Addr: netip.AddrPortFrom(addrA, uint16(cfgA.BindPort))}
	pb := peer{Name: "b", Addr: netip.AddrPortFrom(addrB, uint16(cfgB.BindPort))}
	srcA := &mutablePeers{ps: []peer{pa}} // a's cache has not seen b's Lease yet
	a := startNode(t, cfgA, srcA)
	await(t, a.m, waitLimit, "a alone and stable", allStable("a"))
	b := startNode(t, cfgB, staticPeers{pa, pb})
	await(t, b.m, waitLimit, "b sees a", hasExactly("a", "b"))
	time.Sleep(300 * time.Millisecond)
	if got := names(a.m.Alive()); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("a counts %v before b's Lease reached it, want [a]", got)
	}
	if got := rejected(a, rejectNoLease); got != 1 {
		t.Errorf("a: %v no-lease rejections, want 1", got)
	}

	arrived := time.Now()
	srcA.set(pa, pb)
	seen := await(t, a.m, waitLimit, "a admits b", hasExactly("a", "b"))
	t.Logf("a admitted b %v after its Lease arrived", seen.Sub(arrived).Round(time.Millisecond))
	if m, _ := find(a.m.Alive(), "b"); m.Stable && time.Since(seen) < 200*time.Millisecond {
		t.Error("b is stable on a right after it was admitted: no hold-down")
	}
	await(t, a.m, waitLimit, "b stable on a", allStable("a", "b"))

	// b's Lease now names another address: whoever is at the old one is
	// not b any more.
	srcA.set(pa, peer{Name: "b", Addr: netip.AddrPortFrom(addrB, uint16(cfgB.BindPort)+1)})
	await(t, a.m, waitLimit, "a evicts b", hasExactly("a"))
	if got := rejected(a, rejectAddrMismatch); got != 1 {
		t.Errorf("a: %v addr-mismatch rejections, want 1", got)
	}
}

// TestAdmission covers the rules of admission.go one by one.
func TestAdmission(t *testing.T) {
	at := netip.MustParseAddrPort("192.0.2.2:7946")
	other := netip.MustParseAddrPort("192.0.2.99:7946")
	recs := records(
		[]peer{
			{Name: "ok", Addr: at},
			{Name: "stale", Addr: at, Renewed: time.Unix(1, 0)},
			{Name: "ghost", Addr: at, NotNode: true},
			{Name: "noaddr"},
		},
		[]peer{{Name: "ok", Addr: at}, {Name: "ghost", Addr: at}, {Name: "noaddr"}},
	)
	for _, tc := range []struct {
		name     string
		addr     netip.AddrPort
		admitted bool
		want     string
	}{
		{"self", other, false, ""},
		{"ok", at, false, ""},
		{"ok", other, false, rejectAddrMismatch},
		{"ok", other, true, rejectAddrMismatch},
		{"stale", at, false, rejectStaleLease},
		{"stale", at, true, ""}, // a speaker cut off from the API server keeps counting
		{"ghost", at, false, rejectNotNode},
		{"ghost", at, true, rejectNotNode},
		{"noaddr", at, false, rejectAddrMismatch}, // it says it runs without memberlist
		{"unknown", at, false, rejectNoLease},
		{"unknown", at, true, rejectNoLease},
	} {
		t.Run(fmt.Sprintf("%s admitted=%v", tc.name, tc.admitted), func(t *testing.T) {
			if got := admission("self", tc.name, tc.addr, tc.admitted, recs); got != tc.want {
				t.Errorf("admission = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRejectLog(t *testing.T) {
	l := rejectLog{}
	now := time.Unix(1000, 0)
	for _, c := range []struct {
		name, reason string
		after        time.Duration
		want         bool
	}{
		{"x", rejectNoLease, 0, true},
		{"x", rejectNoLease, time.Second, false},
		{"x", rejectStaleLease, time.Second, true}, // a new reason is news
		{"y", rejectNoLease, time.Second, true},
		{"x", rejectNoLease, rejectLogEvery, true},
	} {
		if got := l.allow(c.name, c.reason, now.Add(c.after)); got != c.want {
			t.Errorf("allow(%s, %s) after %v = %v, want %v", c.name, c.reason, c.after, got, c.want)
		}
	}
	for i := range 2 * maxRejectLog {
		l.allow(fmt.Sprint(i), rejectNoLease, now)
	}
	if len(l) > maxRejectLog {
		t.Errorf("rejectLog holds %d names, more than %d", len(l), maxRejectLog)
	}
}

// TestKeyRotation rolls a new gossip key through a three-node cluster the
// way README's procedure does, one node restarted at a time, and checks
// after every restart that every node sees every other: no split at any
// step. It also shows why the procedure takes three steps: a node that
// encrypts with the new key before the others can read it is cut off.
func TestKeyRotation(t *testing.T) {
	keyA := []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	keyB := []byte("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")
	var src staticPeers
	var nodes []*node
	for i, name := range []string{"a", "b", "c"} {
		addr := netip.AddrFrom4([4]byte{127, 0, 8, byte(i + 1)})
		c := Config{NodeName: name, BindAddr: addr, BindPort: freePort(t, addr), HoldDown: 200 * time.Millisecond, SecretKey: keyA}
		src = append(src, peer{Name: name, Addr: netip.AddrPortFrom(addr, uint16(c.BindPort))})
		nodes = append(nodes, &node{cfg: c})
	}
	for i := range nodes {
		nodes[i] = startNode(t, nodes[i].cfg, src)
	}
	all := func(step string) {
		t.Helper()
		firstHeld(t, nodes, waitLimit, step+": everyone sees everyone", hasExactly("a", "b", "c"))
	}
	all("key A")
	restart := func(i int, primary []byte, secondary ...[]byte) {
		t.Helper()
		cfg := nodes[i].cfg
		cfg.SecretKey, cfg.SecondaryKeys = primary, secondary
		nodes[i].stop(t)
		nodes[i] = startNode(t, cfg, src)
	}
	for _, step := range []struct {
		name      string
		primary   []byte
		secondary [][]byte
	}{
		{"1: B added as a secondary key", keyA, [][]byte{keyB}},
		{"2: B primary, A secondary", keyB, [][]byte{keyA}},
		{"3: A removed", keyB, nil},
	} {
		for i := range nodes {
			restart(i, step.primary, step.secondary...)
			all(fmt.Sprintf("step %s, %d of 3 nodes done", step.name, i+1))
		}
	}

	// The next rotation without step 1: c encrypts with the new key C,
	// which a and b cannot read yet, and is cut off until they can.
	restart(2, []byte("CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"), keyB)
	time.Sleep(time.Second)
	checkApart(t, nodes, "c", "a node that encrypts with a key the others lack was not cut off")
}

// TestViewRepublishesOnStartOver: a speaker that starts over (here: a peer
// says it died, as after a long cut-off) renews its own record at once,
// because the others admit it again only with a fresh one (admission.go).
func TestViewRepublishesOnStartOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newView("self", 3*time.Second, newMetrics(func() float64 { return 0 }), logr.Discard())
		defer v.stop()
		v.setRecords(map[string]record{"b": {fresh: true, node: true}})
		v.setGossip("self", memberInfo{})
		v.setGossip("b", memberInfo{})
		v.settle()
		time.Sleep(5 * time.Second)
		select {
		case <-v.republish:
			t.Fatal("republish signalled without a start-over")
		default:
		}
		h := nameHash("self")
		v.setGossip("b", memberInfo{verdict: verdict{outCount: 1, outMin: h, outHashes: []uint32{h}, deadHashes: []uint32{h}}})
		select {
		case <-v.republish:
		default:
			t.Fatal("no republish after starting over")
		}
		if s := testutil.ToFloat64(v.metrics.changes.WithLabelValues("start-over")); s != 1 {
			t.Fatalf("%v start-overs, want 1", s)
		}
	})
}
