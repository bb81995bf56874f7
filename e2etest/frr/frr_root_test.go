package frr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-lb/portico/e2etest/netlab"
	"github.com/portico-lb/portico/internal/roottier"
)

// Node ASNs differ so that ECMP needs multipath-relax.
var nodeASN = []uint32{64601, 64602}

// TestIBGP: a node in the router's own AS; the router keeps the local
// preference the node sets, and the path has an empty AS path.
func TestIBGP(t *testing.T) {
	tl := newTestLab(t, DefaultASN)
	ctx := t.Context()
	n1 := tl.lab.Nodes[0]
	// Only the test needs it, so Config has no field for it.
	if _, err := tl.nodes[0].vty(ctx, "bgpd", "configure terminal", "route-map "+rmAnnounce+" permit 10", "set local-preference 250"); err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParsePrefix("198.51.100.9/32")
	if err := tl.nodes[0].Announce(ctx, vip); err != nil {
		t.Fatal(err)
	}
	var got []Path
	err := netlab.Poll(ctx, 50*time.Millisecond, 20*time.Second, "a best path to "+vip.String(), func(ctx context.Context) error {
		routes, err := tl.router.Routes(ctx, IPv4)
		if err != nil {
			return netlab.Permanent(err)
		}
		if got = routes[vip]; len(got) != 1 || !got[0].Best {
			return fmt.Errorf("paths %+v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := got[0]; p.Peer != n1.IPv4 || p.LocalPref != 250 || p.ASPath != "" || !slices.Equal(p.NextHops, []netip.Addr{n1.IPv4}) {
		t.Errorf("path %+v; want from %s, next hop %[2]s, local-pref 250, empty AS path", p, n1.IPv4)
	}
	tl.waitFIB(t, vip, n1.IPv4)
	if dir := os.Getenv("PORTICO_FRR_CAPTURE"); dir != "" {
		out, err := tl.router.vty(ctx, "bgpd", "show bgp ipv4 unicast json detail")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ibgp-show-bgp-ipv4-unicast-json-detail.json"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// testLab is a lab with one node per ASN, the client and the router, FRR
// running in the router and peering with every node over IPv4 and IPv6,
// and a reference FRR speaker in each node peering back; node-1's sessions
// use a TCP MD5 password. Everything is removed when the test ends.
type testLab struct {
	lab    *netlab.Lab
	router *Router
	nodes  []*Router
}

func newTestLab(t *testing.T, nodeASN ...uint32) *testLab {
	t.Helper()
	roottier.Require(t)
	if err := Installed(); err != nil {
		if os.Getenv(roottier.Env) == "1" {
			t.Fatalf("%s=1, but %v", roottier.Env, err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	l, err := netlab.Create(ctx, netlab.Options{Nodes: len(nodeASN)})
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
	pw := func(i int) string {
		if i == 0 {
			return "s3cret"
		}
		return ""
	}
	var nbrs []Neighbor
	for i, n := range l.Nodes {
		for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
			nbrs = append(nbrs, Neighbor{Addr: a, ASN: nodeASN[i], Password: pw(i)})
		}
	}
	tl := &testLab{lab: l}
	tl.router = start(t, ctx, Config{Host: rh, Neighbors: nbrs})
	for i, n := range l.Nodes {
		tl.nodes = append(tl.nodes, start(t, ctx, Config{
			Host: n, ASN: nodeASN[i],
			Neighbors: []Neighbor{
				{Addr: rh.IPv4, ASN: DefaultASN, Password: pw(i)},
				{Addr: rh.IPv6, ASN: DefaultASN, Password: pw(i)},
			},
			Communities:      []string{fmt.Sprintf("%d:100", nodeASN[i])},
			LargeCommunities: []string{fmt.Sprintf("%d:1:%d", nodeASN[i], i+1)},
		}))
	}
	err = netlab.Poll(ctx, 100*time.Millisecond, 30*time.Second, "all four sessions Established", func(ctx context.Context) error {
		s, err := tl.router.Neighbors(ctx)
		if err != nil {
			return netlab.Permanent(err)
		}
		var notUp []string
		for _, n := range nbrs {
			if s[n.Addr].State != "Established" {
				notUp = append(notUp, fmt.Sprintf("%s %s", n.Addr, s[n.Addr].State))
			}
		}
		if len(notUp) > 0 {
			return errors.New(strings.Join(notUp, ", "))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, tl.router.Logs())
	}
	return tl
}

func start(t *testing.T, ctx context.Context, c Config) *Router {
	t.Helper()
	r, err := Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(r.Logs())
		}
		r.Stop()
		if _, err := os.Stat(r.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Stop left %s behind: %v", r.Dir, err)
		}
	})
	return r
}

// waitFIB polls the router's kernel table until prefix has exactly want as
// next hops (none: no route).
func (tl *testLab) waitFIB(t *testing.T, p netip.Prefix, want ...netip.Addr) {
	t.Helper()
	fam := familyOf(p.Addr())
	slices.SortFunc(want, netip.Addr.Compare)
	err := netlab.Poll(t.Context(), 50*time.Millisecond, 20*time.Second, fmt.Sprintf("router FIB %s → %v", p, want), func(ctx context.Context) error {
		fib, err := tl.router.FIB(ctx, fam)
		if err != nil {
			return netlab.Permanent(err)
		}
		got, ok := fib[p]
		if !ok {
			if len(want) == 0 {
				return nil
			}
			return errors.New("no route")
		}
		nh := slices.SortedFunc(slices.Values(got.NextHops), netip.Addr.Compare)
		if len(want) == 0 || !slices.Equal(nh, want) || got.Protocol != "bgp" || got.Multipath() != (len(want) > 1) {
			return fmt.Errorf("route %+v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRouterPeersWithRealSpeakers: the router learns VIPs from real BGP
// speakers over IPv4 and IPv6, with their communities, puts them in its
// kernel table, makes one ECMP route of two nodes' announcements and
// removes it on withdrawal.
func TestRouterPeersWithRealSpeakers(t *testing.T) {
	tl := newTestLab(t, nodeASN...)
	ctx := t.Context()
	n1, n2 := tl.lab.Nodes[0], tl.lab.Nodes[1]
	v4 := netip.MustParsePrefix("198.51.100.7/32")
	v6 := netip.MustParsePrefix("2001:db8:b6::7/128")
	for _, p := range []netip.Prefix{v4, v6} {
		if !netlab.BGPVIPv4().Contains(p.Addr()) && !netlab.BGPVIPv6().Contains(p.Addr()) {
			t.Fatalf("%s is outside the BGP VIP ranges", p)
		}
		if err := tl.nodes[0].Announce(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		p    netip.Prefix
		peer netip.Addr
	}{{v4, n1.IPv4}, {v6, n1.IPv6}} {
		var got []Path
		err := netlab.Poll(ctx, 50*time.Millisecond, 20*time.Second, "a best path to "+tc.p.String()+" in the router's BGP table", func(ctx context.Context) error {
			routes, err := tl.router.Routes(ctx, familyOf(tc.p.Addr()))
			if err != nil {
				return netlab.Permanent(err)
			}
			// A path shows before bgpd has run its best-path selection.
			if got = routes[tc.p]; !slices.ContainsFunc(got, func(p Path) bool { return p.Best }) {
				return fmt.Errorf("no best path: %+v", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		p := got[0]
		if len(got) != 1 || p.Peer != tc.peer || !p.Best || !p.Valid || p.ASPath != "64601" ||
			!slices.Equal(p.Communities, []string{"64601:100"}) || !slices.Equal(p.LargeCommunities, []string{"64601:1:1"}) ||
			p.LocalPref != 100 || len(p.NextHops) == 0 || p.NextHops[0] != tc.peer {
			t.Errorf("%s: paths %+v\nwant one best path from %s, next hop %s, AS path 64601, community 64601:100, large 64601:1:1, local-pref 100", tc.p, got, tc.peer, tc.peer)
		}
	}
	tl.waitFIB(t, v4, n1.IPv4)
	tl.waitFIB(t, v6, n1.IPv6)

	for _, p := range []netip.Prefix{v4, v6} {
		if err := tl.nodes[1].Announce(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	tl.waitFIB(t, v4, n1.IPv4, n2.IPv4)
	tl.waitFIB(t, v6, n1.IPv6, n2.IPv6)
	if dir := os.Getenv("PORTICO_FRR_CAPTURE"); dir != "" {
		tl.capture(t, dir)
	}

	for _, p := range []netip.Prefix{v4, v6} {
		if err := tl.nodes[0].Withdraw(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	tl.waitFIB(t, v4, n2.IPv4)
	tl.waitFIB(t, v6, n2.IPv6)
	for _, p := range []netip.Prefix{v4, v6} {
		if err := tl.nodes[1].Withdraw(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	tl.waitFIB(t, v4)
	tl.waitFIB(t, v6)

	// Removing a neighbor closes its session and takes its routes away.
	if err := tl.nodes[1].Announce(ctx, v4); err != nil {
		t.Fatal(err)
	}
	tl.waitFIB(t, v4, n2.IPv4)
	if err := tl.router.RemoveNeighbor(ctx, n2.IPv4); err != nil {
		t.Fatal(err)
	}
	tl.waitFIB(t, v4)
	if dir := os.Getenv("PORTICO_FRR_CAPTURE"); dir != "" {
		// node-2's session to the router, which no longer knows it: not up.
		out, err := tl.nodes[1].vty(ctx, "bgpd", "show bgp neighbors json")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "node-show-bgp-neighbors-json.json"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := tl.router.AddNeighbor(ctx, Neighbor{Addr: n2.IPv4, ASN: nodeASN[1]}); err != nil {
		t.Fatal(err)
	}
	tl.waitFIB(t, v4, n2.IPv4)
}

// capture saves the raw outputs the unit tests parse (testdata/), taken
// while both nodes announce both VIPs:
//
//	PORTICO_FRR_CAPTURE=$PWD/testdata go test -run TestRouterPeersWithRealSpeakers ./e2etest/frr/
func (tl *testLab) capture(t *testing.T, dir string) {
	ctx := t.Context()
	for name, cmd := range map[string]string{
		"show-bgp-ipv4-unicast-json-detail.json": "show bgp ipv4 unicast json detail",
		"show-bgp-ipv6-unicast-json-detail.json": "show bgp ipv6 unicast json detail",
		"show-bgp-neighbors-json.json":           "show bgp neighbors json",
	} {
		out, err := tl.router.vty(ctx, "bgpd", cmd)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A speaker's own table: a local path, no peer.
	out, err := tl.nodes[0].vty(ctx, "bgpd", "show bgp ipv4 unicast json detail")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "node-show-bgp-ipv4-unicast-json-detail.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"-4", "-6"} {
		out, err := tl.router.Host.Command(ctx, tl.router.ip, "-j", f, "route", "show", "table", "main").Output()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ip"+f+"-route.json"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClientReachesBGPVIPThroughRouter: a VIP on node-1's loopback,
// announced by node-1's speaker, is reachable from the client over TCP,
// through the router, and is not once the announcement is withdrawn.
func TestClientReachesBGPVIPThroughRouter(t *testing.T) {
	tl := newTestLab(t, nodeASN...)
	ctx := t.Context()
	n1, c := tl.lab.Nodes[0], tl.lab.Client
	for _, vip := range []netip.Prefix{netip.MustParsePrefix("198.51.100.8/32"), netip.MustParsePrefix("2001:db8:b6::8/128")} {
		t.Run(vip.String(), func(t *testing.T) {
			if out, err := n1.Command(ctx, tl.router.ip, "addr", "add", vip.String(), "dev", "lo").CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			addr := netip.AddrPortFrom(vip.Addr(), 8080)
			var ln net.Listener
			if err := n1.Do(func() (err error) { ln, err = net.Listen("tcp", addr.String()); return err }); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					io.WriteString(conn, n1.Name)
					conn.Close()
				}
			}()
			dial := func() (string, error) {
				var conn net.Conn
				err := c.Do(func() (err error) {
					conn, err = net.DialTimeout("tcp", addr.String(), 300*time.Millisecond)
					return err
				})
				if err != nil {
					return "", err
				}
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(time.Second))
				b, err := io.ReadAll(conn)
				return string(b), err
			}
			if _, err := dial(); err == nil {
				t.Fatalf("client reached %s before it was announced", addr)
			}
			if err := tl.nodes[0].Announce(ctx, vip); err != nil {
				t.Fatal(err)
			}
			tl.waitFIB(t, vip, hostAddr(n1, vip))
			err := netlab.Poll(ctx, 100*time.Millisecond, 10*time.Second, "client to reach "+addr.String(), func(context.Context) error {
				got, err := dial()
				if err == nil && got != n1.Name {
					err = fmt.Errorf("answer %q", got)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := tl.nodes[0].Withdraw(ctx, vip); err != nil {
				t.Fatal(err)
			}
			tl.waitFIB(t, vip)
			// The node still has the address: only the router's route made
			// it reachable.
			if got, err := dial(); err == nil {
				t.Errorf("client still reaches %s (%q) after the withdrawal", addr, got)
			}
		})
	}
}

func hostAddr(h *netlab.Host, like netip.Prefix) netip.Addr {
	if like.Addr().Is4() {
		return h.IPv4
	}
	return h.IPv6
}

// TestStartFailureLeavesNothing: a Start that gives up (here: its context
// is already done) leaves no directory and no process behind.
func TestStartFailureLeavesNothing(t *testing.T) {
	roottier.Require(t)
	if err := Installed(); err != nil {
		t.Skip(err)
	}
	l, err := netlab.Create(t.Context(), netlab.Options{Nodes: 1, NoClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Destroy() })
	h := l.Nodes[0]
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if r, err := Start(ctx, Config{Host: h}); err == nil {
		r.Stop()
		t.Fatal("Start with a done context succeeded")
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "portico-frr-"+h.Namespace+"-*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	ip, err := netlab.IPCommand()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ip, "netns", "pids", h.Namespace).Output()
	if err != nil {
		t.Fatal(err)
	}
	if pids := strings.Fields(string(out)); len(pids) > 0 {
		t.Errorf("processes still in %s: %v", h.Namespace, pids)
	}
}
