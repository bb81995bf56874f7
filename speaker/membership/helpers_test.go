package membership

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
)

// staticPeers is a fixed list of speakers: the peer source for tests that
// exercise memberlist without an API server. Records never go stale.
type staticPeers []peer

var _ peerSource = staticPeers(nil)

func (s staticPeers) publish(context.Context, peer) error    { return nil }
func (s staticPeers) peers(context.Context) ([]peer, error)  { return slices.Clone(s), nil }
func (s staticPeers) withdraw(context.Context, string) error { return nil }
func (s staticPeers) String() string                         { return fmt.Sprint([]peer(s)) }

// node is one running Membership.
type node struct {
	m      *Membership
	cfg    Config
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// testLogger logs through t at V(1): joins, leaves and memberlist's own
// lines show up when a test fails (or with -v); memberlist's per-probe
// DEBUG lines (V(2)) stay out.
//
// memberlist's goroutines may still log for a moment after Shutdown
// returns, and testing panics on a log after the test: lines that come
// after the test's cleanups are dropped.
func testLogger(tb testing.TB) logr.Logger {
	t, ok := tb.(*testing.T)
	if !ok {
		return logr.Discard()
	}
	g := &guardedSink{sink: testr.NewWithOptions(t, testr.Options{Verbosity: 1}).GetSink(), mu: &sync.RWMutex{}, done: new(bool)}
	t.Cleanup(func() { g.mu.Lock(); *g.done = true; g.mu.Unlock() })
	return logr.New(g)
}

// guardedSink passes records to sink until done.
type guardedSink struct {
	sink logr.LogSink
	mu   *sync.RWMutex
	done *bool
}

func (g *guardedSink) Init(info logr.RuntimeInfo) { g.sink.Init(info) }
func (g *guardedSink) Enabled(level int) bool     { return g.sink.Enabled(level) }
func (g *guardedSink) Info(level int, msg string, kv ...any) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if !*g.done {
		g.sink.Info(level, msg, kv...)
	}
}
func (g *guardedSink) Error(err error, msg string, kv ...any) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if !*g.done {
		g.sink.Error(err, msg, kv...)
	}
}
func (g *guardedSink) WithValues(kv ...any) logr.LogSink {
	c := *g
	c.sink = g.sink.WithValues(kv...)
	return &c
}
func (g *guardedSink) WithName(name string) logr.LogSink {
	c := *g
	c.sink = g.sink.WithName(name)
	return &c
}

// startNode runs a Membership until the test ends.
func startNode(tb testing.TB, cfg Config, src peerSource) *node {
	tb.Helper()
	m, err := newMembership(cfg, src, testLogger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return runNode(tb, m)
}

func runNode(tb testing.TB, m *Membership) *node {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{m: m, cfg: m.cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- m.Run(ctx) }()
	tb.Cleanup(func() { n.stop(tb) })
	// Run creates memberlist first thing; wait for it so that a test that
	// kills the node right away kills a running memberlist.
	deadline := time.Now().Add(5 * time.Second)
	for err := m.Healthy(); err != nil && !errors.Is(err, ErrDegraded); err = m.Healthy() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not running after 5s: %v", m.cfg.NodeName, err)
		}
		time.Sleep(time.Millisecond)
	}
	return n
}

// stop ends Run, which leaves gracefully; it is idempotent.
func (n *node) stop(tb testing.TB) {
	n.once.Do(func() {
		n.cancel()
		select {
		case err := <-n.done:
			if err != nil {
				tb.Errorf("%s: Run: %v", n.cfg.NodeName, err)
			}
		case <-time.After(10 * time.Second):
			tb.Errorf("%s: Run did not return within 10s", n.cfg.NodeName)
		}
	})
}

// kill simulates kill -9: memberlist stops without a word to the others,
// then the loops stop (Run's leave finds memberlist already shut).
func (n *node) kill(tb testing.TB) {
	n.m.shutdown()
	n.stop(tb)
}

// checkApart fails t, saying failure, unless the node named apart sees only
// itself and no other node sees it.
func checkApart(t *testing.T, nodes []*node, apart, failure string) {
	t.Helper()
	for _, n := range nodes {
		got := names(n.m.Alive())
		if n.cfg.NodeName == apart && !slices.Equal(got, []string{apart}) || n.cfg.NodeName != apart && slices.Contains(got, apart) {
			t.Errorf("%s sees %v: %s", n.cfg.NodeName, got, failure)
		}
	}
}

// freePort returns a port that is free for both TCP and UDP on addr, as
// memberlist needs both.
func freePort(tb testing.TB, addr netip.Addr) int {
	tb.Helper()
	for range 20 {
		l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(addr.String(), strconv.Itoa(port)))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port
		}
	}
	tb.Fatal("no free TCP+UDP port")
	return 0
}

// await waits until cond holds for m's Alive set, driven by m's Changed
// signals (and a 10ms poll, as a belt for the braces), and returns when it
// first held. It fails the test after timeout.
func await(tb testing.TB, m *Membership, timeout time.Duration, what string, cond func([]Member) bool) time.Time {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ms := m.Alive()
		if cond(ms) {
			return time.Now()
		}
		select {
		case <-m.Changed():
		case <-tick.C:
		case <-deadline.C:
			tb.Fatalf("%s: timed out after %v waiting for %s; alive: %v", m.cfg.NodeName, timeout, what, ms)
		}
	}
}

// firstHeld polls the nodes every millisecond until cond holds on each,
// and returns for each node when cond first held there and its Alive set
// at that moment. Polling all nodes together, rather than one after the
// other, keeps each node's time its own.
func firstHeld(tb testing.TB, nodes []*node, timeout time.Duration, what string, cond func([]Member) bool) ([]time.Time, [][]Member) {
	tb.Helper()
	at := make([]time.Time, len(nodes))
	seen := make([][]Member, len(nodes))
	deadline := time.Now().Add(timeout)
	for pending := len(nodes); pending > 0; {
		for i, n := range nodes {
			if !at[i].IsZero() {
				continue
			}
			if ms := n.m.Alive(); cond(ms) {
				at[i], seen[i] = time.Now(), ms
				pending--
			}
		}
		if pending > 0 {
			if time.Now().After(deadline) {
				for i, n := range nodes {
					if at[i].IsZero() {
						tb.Errorf("%s: alive %v", n.cfg.NodeName, n.m.Alive())
					}
				}
				tb.Fatalf("timed out after %v waiting for %s", timeout, what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return at, seen
}

func names(ms []Member) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func hasExactly(want ...string) func([]Member) bool {
	return func(ms []Member) bool { return slices.Equal(names(ms), want) }
}

func allStable(want ...string) func([]Member) bool {
	return func(ms []Member) bool { return slices.Equal(stableNames(ms), want) }
}

func lacks(name string) func([]Member) bool {
	return func(ms []Member) bool { return !slices.Contains(names(ms), name) }
}

func find(ms []Member, name string) (Member, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// listenBoth holds addr on TCP and UDP, so memberlist cannot bind it.
func listenBoth(tb testing.TB, addr netip.AddrPort) (release func()) {
	tb.Helper()
	l, err := net.Listen("tcp", addr.String())
	if err != nil {
		tb.Fatal(err)
	}
	u, err := net.ListenPacket("udp", addr.String())
	if err != nil {
		_ = l.Close()
		tb.Fatal(err)
	}
	return func() { _ = l.Close(); _ = u.Close() }
}
