package frr

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-lb/portico/e2etest/netlab"
	"github.com/portico-lb/portico/internal/roottier"
)

// TestBFD: bfdd runs beside bgpd when the Config has a BFD profile, and
// each neighbor that names the profile gets a BFD session in bfdd:
//   - node-1 runs BFD too (a reference FRR with the same profile), so its
//     IPv4 and IPv6 sessions come up single hop with the profile's timers
//     on both sides;
//   - node-2 runs no BFD, which is what the router sees of a speaker
//     without BFD: its IPv4 session stays Down, and its IPv6 neighbor,
//     with ebgp-multihop, has a multihop session (RFC 5883), Down too.
//
// Editing the profile then changes the timers of the sessions that are up
// without taking them or their BGP sessions down.
func TestBFD(t *testing.T) {
	roottier.Require(t)
	if err := Installed(); err != nil {
		if os.Getenv(roottier.Env) == "1" {
			t.Fatalf("%s=1, but %v", roottier.Env, err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	l, err := netlab.Create(ctx, netlab.Options{Nodes: 2, NoClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	rh, err := l.AddRouter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n1, n2 := l.Nodes[0], l.Nodes[1]
	// The lab's timers (issue 12): 50ms × 3.
	fast := BFDProfile{Name: "lab", ReceiveInterval: 50 * time.Millisecond, TransmitInterval: 50 * time.Millisecond, DetectMultiplier: 3}
	router := start(t, ctx, Config{Host: rh, BFDProfiles: []BFDProfile{fast}, Neighbors: []Neighbor{
		{Addr: n1.IPv4, ASN: nodeASN[0], BFDProfile: fast.Name},
		{Addr: n1.IPv6, ASN: nodeASN[0], BFDProfile: fast.Name},
		{Addr: n2.IPv4, ASN: nodeASN[1], BFDProfile: fast.Name},
		{Addr: n2.IPv6, ASN: nodeASN[1], BFDProfile: fast.Name, EBGPMultihop: 2},
	}})
	node1 := start(t, ctx, Config{Host: n1, ASN: nodeASN[0], BFDProfiles: []BFDProfile{fast}, Neighbors: []Neighbor{
		{Addr: rh.IPv4, ASN: DefaultASN, BFDProfile: fast.Name},
		{Addr: rh.IPv6, ASN: DefaultASN, BFDProfile: fast.Name},
	}})
	node2 := start(t, ctx, Config{Host: n2, ASN: nodeASN[1], Neighbors: []Neighbor{
		{Addr: rh.IPv4, ASN: DefaultASN},
		{Addr: rh.IPv6, ASN: DefaultASN},
	}})
	if _, err := node2.BFDPeers(ctx); err == nil || !strings.Contains(err.Error(), "bfdd is not running") {
		t.Errorf("BFDPeers without BFD profiles = %v, want bfdd is not running", err)
	}
	if pids := daemonPIDs(t, n2); strings.Contains(pids, "bfdd") {
		t.Errorf("bfdd runs in %s, whose Config has no BFD profile:\n%s", n2.Name, pids)
	}

	labTimers := BFDTimers{ReceiveInterval: 50 * time.Millisecond, TransmitInterval: 50 * time.Millisecond, DetectMultiplier: 3}
	type want struct {
		status   BFDStatus
		multihop bool
	}
	wants := map[netip.Addr]want{
		n1.IPv4: {BFDUp, false}, n1.IPv6: {BFDUp, false},
		n2.IPv4: {BFDDown, false}, n2.IPv6: {BFDDown, true},
	}
	var peers []BFDPeer
	err = netlab.Poll(ctx, 100*time.Millisecond, 30*time.Second, "the router's BFD sessions", func(ctx context.Context) error {
		if peers, err = router.BFDPeers(ctx); err != nil {
			return netlab.Permanent(err)
		}
		var wrong []string
		byAddr := map[netip.Addr]BFDPeer{}
		for _, p := range peers {
			byAddr[p.Peer] = p
		}
		for a, w := range wants {
			p, ok := byAddr[a]
			switch {
			case !ok:
				wrong = append(wrong, a.String()+" missing")
			case p.Status != w.status || p.Multihop != w.multihop || p.LocalTimers != labTimers:
				wrong = append(wrong, fmt.Sprintf("%s %s multihop=%v local %+v", a, p.Status, p.Multihop, p.LocalTimers))
			case w.status == BFDUp && (p.RemoteTimers != labTimers || p.RemoteID == 0 || p.Diagnostic != "ok"):
				wrong = append(wrong, fmt.Sprintf("%s up with remote %+v, id %d, diagnostic %q", a, p.RemoteTimers, p.RemoteID, p.Diagnostic))
			}
		}
		if len(peers) != len(wants) {
			wrong = append(wrong, fmt.Sprintf("%d sessions, want %d", len(peers), len(wants)))
		}
		if len(wrong) > 0 {
			return fmt.Errorf("%s", strings.Join(wrong, "; "))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%+v", err, peers)
	}
	if dir := os.Getenv("PORTICO_FRR_CAPTURE"); dir != "" {
		out, err := router.vty(ctx, "bfdd", "show bfd peers json")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "show-bfd-peers-json.json"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Retiming: bfdd renegotiates with a poll sequence. The sessions that
	// are up must stay up on both sides and keep their discriminators, and
	// BGP must not notice.
	before := map[netip.Addr]BFDPeer{}
	for _, p := range peers {
		before[p.Peer] = p
	}
	bgpBefore, err := router.Neighbors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slow := fast
	slow.ReceiveInterval, slow.TransmitInterval, slow.DetectMultiplier = 100*time.Millisecond, 120*time.Millisecond, 4
	if err := router.SetBFDProfile(ctx, slow); err != nil {
		t.Fatal(err)
	}
	slowTimers := BFDTimers{ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 120 * time.Millisecond, DetectMultiplier: 4}
	err = netlab.Poll(ctx, 50*time.Millisecond, 10*time.Second, "node-1's sessions retimed", func(ctx context.Context) error {
		mine, err := router.BFDPeers(ctx)
		if err != nil {
			return netlab.Permanent(err)
		}
		theirs, err := node1.BFDPeers(ctx)
		if err != nil {
			return netlab.Permanent(err)
		}
		var wrong []string
		for _, p := range mine {
			if wants[p.Peer].status != BFDUp {
				continue
			}
			if p.Status != BFDUp || p.LocalID != before[p.Peer].LocalID || p.RemoteID != before[p.Peer].RemoteID {
				return netlab.Permanent(fmt.Errorf("router's session to %s went %s (ids %d/%d, were %d/%d)",
					p.Peer, p.Status, p.LocalID, p.RemoteID, before[p.Peer].LocalID, before[p.Peer].RemoteID))
			}
			if p.LocalTimers != slowTimers {
				wrong = append(wrong, fmt.Sprintf("router → %s local %+v", p.Peer, p.LocalTimers))
			}
		}
		for _, p := range theirs {
			if p.Status != BFDUp {
				return netlab.Permanent(fmt.Errorf("node-1's session to %s went %s", p.Peer, p.Status))
			}
			if p.RemoteTimers != slowTimers {
				wrong = append(wrong, fmt.Sprintf("node-1 sees %s remote %+v", p.Peer, p.RemoteTimers))
			}
		}
		if len(wrong) > 0 {
			return fmt.Errorf("%s", strings.Join(wrong, "; "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	bgpAfter, err := router.Neighbors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.Addr{n1.IPv4, n1.IPv6} {
		if b, s := bgpBefore[a], bgpAfter[a]; b.State == "Established" && (s.State != "Established" || s.Uptime < b.Uptime) {
			t.Errorf("BGP session to %s: %s up %s, was %s up %s", a, s.State, s.Uptime, b.State, b.Uptime)
		}
	}
}

// daemonPIDs lists the processes in h's namespace with their commands.
func daemonPIDs(t *testing.T, h *netlab.Host) string {
	t.Helper()
	ip, err := netlab.IPCommand()
	if err != nil {
		t.Fatal(err)
	}
	pids, err := exec.Command(ip, "netns", "pids", h.Namespace).Output()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, pid := range strings.Fields(string(pids)) {
		cmd, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		fmt.Fprintf(&b, "%s %s\n", pid, strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return b.String()
}
