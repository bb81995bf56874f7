package membership

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The cluster tests run real memberlist instances on loopback addresses
// (127.0.0.0/8 is all local on Linux) with the default timers and a fixed
// peer list instead of Leases. Waits are bounded; detection times are
// logged, not asserted (BenchmarkFailureDetection measures them).

const waitLimit = 5 * time.Second

// loopbackCluster starts one member per name on 127.0.0.<i+1>, each
// knowing all the others' addresses, with subnets 10.<i+1>.0.0/16.
func loopbackCluster(t *testing.T, holdDown time.Duration, names ...string) ([]*node, staticPeers) {
	t.Helper()
	var src staticPeers
	var cfgs []Config
	for i, name := range names {
		addr := netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)})
		c := Config{
			NodeName: name,
			BindAddr: addr,
			BindPort: freePort(t, addr),
			Subnets:  []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i + 1), 0, 0}), 16)},
			HoldDown: holdDown,
		}
		cfgs = append(cfgs, c)
		src = append(src, peer{Name: name, Addr: netip.AddrPortFrom(addr, uint16(c.BindPort)), Subnets: c.Subnets})
	}
	var nodes []*node
	for _, c := range cfgs {
		nodes = append(nodes, startNode(t, c, src))
	}
	return nodes, src
}

func TestClusterLoopback(t *testing.T) {
	const hold = time.Second
	nodes, src := loopbackCluster(t, hold, "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]

	t.Log("all see all, with addresses and subnets from gossip")
	for _, n := range nodes {
		await(t, n.m, waitLimit, "a, b and c alive", hasExactly("a", "b", "c"))
		await(t, n.m, waitLimit, "a, b and c stable", allStable("a", "b", "c"))
		if err := n.m.Healthy(); err != nil {
			t.Errorf("%s: Healthy: %v", n.cfg.NodeName, err)
		}
	}
	var want []Member
	for _, p := range src {
		want = append(want, Member{Name: p.Name, Addr: p.Addr, Subnets: p.Subnets, Stable: true})
	}
	if diff := cmp.Diff(want, a.m.Alive(), netipCmp); diff != "" {
		t.Errorf("a's view (-want +got):\n%s", diff)
	}

	t.Log("kill -9 c: the others notice")
	killed := time.Now()
	c.kill(t)
	survivors := []*node{a, b}
	at, _ := firstHeld(t, survivors, waitLimit, "c gone", lacks("c"))
	for i, n := range survivors {
		t.Logf("%s saw c's crash after %v", n.cfg.NodeName, at[i].Sub(killed).Round(time.Millisecond))
	}

	t.Log("c comes back: alive at once, stable only after the hold-down")
	c = startNode(t, c.cfg, src)
	seenAt, seen := firstHeld(t, survivors, waitLimit, "c back", hasExactly("a", "b", "c"))
	stableAt, _ := firstHeld(t, survivors, waitLimit, "c stable", allStable("a", "b", "c"))
	for i, n := range survivors {
		if m, _ := find(seen[i], "c"); m.Stable {
			t.Errorf("%s: c stable right after rejoining", n.cfg.NodeName)
		}
		// Polling makes seen up to a millisecond late; allow some slack.
		// There is no upper bound: on a loaded machine c may flap while
		// rejoining, and every flap restarts its hold-down.
		if d := stableAt[i].Sub(seenAt[i]); d < hold-20*time.Millisecond {
			t.Errorf("%s: c stable %v after it appeared, before the %v hold-down", n.cfg.NodeName, d, hold)
		}
	}
	// c holds itself back too: the others were alive when it started.
	await(t, c.m, waitLimit, "all stable on c", allStable("a", "b", "c"))

	t.Log("b leaves: the others drop it at once")
	leftAt := time.Now()
	if err := b.m.Leave(time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	at, _ = firstHeld(t, []*node{a, c}, waitLimit, "b gone", lacks("b"))
	for i, n := range []*node{a, c} {
		t.Logf("%s saw b leave after %v", n.cfg.NodeName, at[i].Sub(leftAt).Round(time.Millisecond))
	}
	if ms := b.m.Alive(); !lacks("b")(ms) {
		t.Errorf("b still counts itself alive after leaving: %v", ms)
	}
	b.stop(t)
	if err := b.m.Healthy(); err == nil {
		t.Error("Healthy is nil after Run returned")
	}
	if err := b.m.Leave(time.Second); err != nil {
		t.Errorf("second Leave: %v", err)
	}
}

// TestClusterSingleNode checks the self rule of the hold-down: alone,
// once discovery has settled, a node is stable at once.
func TestClusterSingleNode(t *testing.T) {
	nodes, _ := loopbackCluster(t, time.Hour, "solo")
	m := nodes[0].m
	await(t, m, waitLimit, "solo stable", allStable("solo"))

	// The metrics say the same, and pass a pedantic registry.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.Collectors()...)
	want := `
# HELP portico_speaker_members Alive speakers as this speaker sees them, by state: stable, or holddown (alive but not yet past the hold-down).
# TYPE portico_speaker_members gauge
portico_speaker_members{state="holddown"} 0
portico_speaker_members{state="stable"} 1
# HELP portico_speaker_membership_changes_total Speakers that became alive (event=join) or stopped being alive (event=leave), as this speaker saw it; event=start-over counts the times this speaker started over after a partition healed (see membership's package doc).
# TYPE portico_speaker_membership_changes_total counter
portico_speaker_membership_changes_total{event="join"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "portico_speaker_members", "portico_speaker_membership_changes_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "portico_speaker_memberlist_health_score"); err != nil || n != 1 {
		t.Errorf("health score: %d series, %v", n, err)
	}
}

// TestClusterSelfHoldDown: a node that starts next to a running cluster
// does not count itself stable before the others do, and counts the nodes
// that were there first as stable at once (else, for a moment, it would be
// the only stable node and claim every address).
func TestClusterSelfHoldDown(t *testing.T) {
	const hold = 500 * time.Millisecond
	nodes, src := loopbackCluster(t, hold, "a", "b")
	for _, n := range nodes {
		await(t, n.m, waitLimit, "both stable", allStable("a", "b"))
	}
	addr := netip.MustParseAddr("127.0.0.3")
	c := Config{NodeName: "c", BindAddr: addr, BindPort: freePort(t, addr), HoldDown: hold}
	src = append(src, peer{Name: "c", Addr: netip.AddrPortFrom(addr, uint16(c.BindPort))})
	start := time.Now()
	late := startNode(t, c, src)
	await(t, late.m, waitLimit, "joined", hasExactly("a", "b", "c"))
	got := stableNames(late.m.Alive())
	if time.Since(start) < hold-100*time.Millisecond && !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("c counts %v stable right after joining, want [a b]", got)
	}
	await(t, late.m, waitLimit, "all stable", allStable("a", "b", "c"))
}

func TestClusterEncryption(t *testing.T) {
	key1 := []byte("0123456789abcdef")
	key2 := []byte("fedcba9876543210")
	var src staticPeers
	var cfgs []Config
	for i, key := range [][]byte{key1, key1, key2} {
		addr := netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)})
		c := Config{NodeName: string(rune('a' + i)), BindAddr: addr, BindPort: freePort(t, addr), SecretKey: key}
		cfgs = append(cfgs, c)
		src = append(src, peer{Name: c.NodeName, Addr: netip.AddrPortFrom(addr, uint16(c.BindPort))})
	}
	var nodes []*node
	for _, c := range cfgs {
		nodes = append(nodes, startNode(t, c, src))
	}
	await(t, nodes[0].m, waitLimit, "a and b", hasExactly("a", "b"))
	await(t, nodes[1].m, waitLimit, "a and b", hasExactly("a", "b"))
	// c has kept retrying all along; with the wrong key it never gets in.
	time.Sleep(time.Second)
	checkApart(t, nodes, "c", "the key did not keep c apart")
}

// TestFallbackWhenPortTaken: when memberlist cannot bind, the node runs on
// its records alone and says so.
func TestFallbackWhenPortTaken(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	port := freePort(t, addr)
	blocker := listenBoth(t, netip.AddrPortFrom(addr, uint16(port)))
	defer blocker()

	src := staticPeers{{Name: "x"}, {Name: "y", Subnets: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}}
	n := startNode(t, Config{NodeName: "x", BindAddr: addr, BindPort: port, HoldDown: -1}, src)
	if err := n.m.Healthy(); !errors.Is(err, ErrDegraded) {
		t.Fatalf("Healthy = %v, want ErrDegraded", err)
	}
	await(t, n.m, waitLimit, "x and y from their records", hasExactly("x", "y"))
	want := []Member{{Name: "x", Stable: true}, {Name: "y", Subnets: src[1].Subnets, Stable: true}}
	if diff := cmp.Diff(want, n.m.Alive(), netipCmp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
