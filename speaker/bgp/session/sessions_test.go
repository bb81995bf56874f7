package session_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/bgp/routes"
	"github.com/portico-lb/portico/speaker/bgp/session"
	"golang.org/x/sys/unix"
)

const (
	speakerASN = 64512
	ispASN     = 65001
	// waitUp bounds session set-up: GoBGP dials its first attempt after
	// about a second.
	waitUp = 15 * time.Second
	// waitRoute bounds a route change on an established session.
	waitRoute = 5 * time.Second
)

func peerTo(name string, r *router, peerASN uint32) session.PeerConfig {
	return session.PeerConfig{
		Name: name, MyASN: speakerASN, PeerASN: peerASN, Address: r.addr, Port: r.port,
		RouterID: netip.MustParseAddr("10.0.0.10"), HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second,
		ConnectTime: time.Second,
	}
}

func route(pfx string, mod ...func(*routes.Route)) routes.Route {
	r := routes.Route{Prefix: netip.MustParsePrefix(pfx)}
	for _, f := range mod {
		f(&r)
	}
	return r
}

// hasRoutes waits until r holds exactly want.
func hasRoutes(t *testing.T, r *router, timeout time.Duration, want map[netip.Prefix]seen) time.Duration {
	t.Helper()
	return eventually(t, timeout, fmt.Sprintf("router %s:%d routes", r.addr, r.port), func() error {
		if d := cmp.Diff(want, r.routes(t), cmpopts.EquateEmpty()); d != "" {
			return fmt.Errorf("(-want +got):\n%s", d)
		}
		return nil
	})
}

func statusOf(t *testing.T, s *session.Sessions, peer string) session.Status {
	t.Helper()
	for _, st := range s.Status(context.Background()) {
		if st.Peer == peer {
			return st
		}
	}
	t.Fatalf("no status for peer %q", peer)
	return session.Status{}
}

// TestSessions walks one speaker through the life of three sessions with
// real GoBGP routers: iBGP and eBGP over IPv4, eBGP over IPv6.
func TestSessions(t *testing.T) {
	ctx := context.Background()
	core := newRouter(t, speakerASN, "127.0.0.1", speakerASN) // iBGP
	isp := newRouter(t, ispASN, "127.0.0.1", speakerASN)      // eBGP, same address, another port
	v6 := newRouter(t, ispASN, "::1", speakerASN)

	s := session.New(session.Options{Logger: testr.New(t)})
	t.Cleanup(func() { s.Close(context.Background()) })
	peers := []session.PeerConfig{peerTo("core", core, speakerASN), peerTo("isp", isp, ispASN), peerTo("v6", v6, ispASN)}

	comm := func(r *routes.Route) {
		r.Communities = []uint32{65000<<16 | 100, 0xFFFFFF01}
		r.LargeCommunities = [][3]uint32{{64512, 1, 2}}
	}
	plan := routes.Plan{
		"core": {route("192.0.2.10/32", comm, func(r *routes.Route) { r.LocalPref, r.HasLocalPref = 200, true })},
		"isp":  {route("192.0.2.10/32", comm, func(r *routes.Route) { r.LocalPrefIgnored = true })},
		"v6":   {route("2001:db8::10/128")},
	}
	start := time.Now()
	if err := s.Apply(ctx, peers, plan); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	p := netip.MustParsePrefix
	wantComm := seen{NextHop: "127.0.0.1", Communities: []uint32{65000<<16 | 100, 0xFFFFFF01}, LargeCommunities: [][3]uint32{{64512, 1, 2}}}
	iBGP := wantComm
	iBGP.LocalPref, iBGP.HasLocalPref = 200, true
	hasRoutes(t, core, waitUp, map[netip.Prefix]seen{p("192.0.2.10/32"): iBGP})
	hasRoutes(t, isp, waitUp, map[netip.Prefix]seen{p("192.0.2.10/32"): wantComm})
	hasRoutes(t, v6, waitUp, map[netip.Prefix]seen{p("2001:db8::10/128"): {NextHop: "::1"}})
	t.Logf("three sessions up, routes at the routers: %s", time.Since(start).Round(time.Millisecond))

	eventually(t, waitRoute, "status", func() error {
		for _, st := range s.Status(ctx) {
			if st.State != "Established" || st.PrefixesSent != 1 || st.Routes != 1 || st.LastError != "" || st.Since.IsZero() {
				return fmt.Errorf("%+v", st)
			}
		}
		return nil
	})

	// A plan change withdraws and adds on one session only.
	plan["core"] = []routes.Route{route("192.0.2.11/32")}
	start = time.Now()
	if err := s.Apply(ctx, peers, plan); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	hasRoutes(t, core, waitRoute, map[netip.Prefix]seen{p("192.0.2.11/32"): {NextHop: "127.0.0.1", LocalPref: 100, HasLocalPref: true}})
	t.Logf("withdraw + announce seen at the router: %s", time.Since(start).Round(time.Millisecond))

	// Changing one peer's configuration resets that session only.
	_, ispUp := isp.session(t)
	_, v6Up := v6.session(t)
	_, coreUp := core.session(t)
	peers[0].HoldTime, peers[0].KeepaliveTime = 30*time.Second, 10*time.Second
	start = time.Now()
	if err := s.Apply(ctx, peers, plan); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	eventually(t, waitUp, "core session re-established", func() error {
		st, up := core.session(t)
		if !up.After(coreUp) || st.String() != "ESTABLISHED" {
			return fmt.Errorf("state %s, up since %s (was %s)", st, up, coreUp)
		}
		return nil
	})
	hasRoutes(t, core, waitRoute, map[netip.Prefix]seen{p("192.0.2.11/32"): {NextHop: "127.0.0.1", LocalPref: 100, HasLocalPref: true}})
	t.Logf("core reset and its routes back: %s", time.Since(start).Round(time.Millisecond))
	if _, up := isp.session(t); !up.Equal(ispUp) {
		t.Errorf("isp session was reset (up %s, was %s)", up, ispUp)
	}
	if _, up := v6.session(t); !up.Equal(v6Up) {
		t.Errorf("v6 session was reset (up %s, was %s)", up, v6Up)
	}

	// Removing a peer closes its session and withdraws its routes there.
	if err := s.Apply(ctx, peers[:2], plan); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	hasRoutes(t, v6, waitRoute, nil)
	if got := len(s.Status(ctx)); got != 2 {
		t.Errorf("%d statuses after removing a peer, want 2", got)
	}

	// Close ends the sessions with a Cease: routers withdraw at once, not
	// at hold time (9s).
	start = time.Now()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed := time.Since(start)
	hasRoutes(t, core, 2*time.Second, nil)
	hasRoutes(t, isp, 2*time.Second, nil)
	t.Logf("Close to routes gone at the routers: %s (Close returned after %s)", time.Since(start).Round(time.Millisecond), closed.Round(time.Millisecond))
	if err := s.Apply(ctx, peers, plan); err != session.ErrClosed {
		t.Errorf("Apply after Close = %v, want ErrClosed", err)
	}
}

// TestWrongPeerASN: a peer that answers with another AS number gets a
// status that says so, and the other session stays up.
func TestWrongPeerASN(t *testing.T) {
	ctx := context.Background()
	good := newRouter(t, ispASN, "127.0.0.1", speakerASN)
	bad := newRouter(t, 65002, "127.0.0.1", speakerASN)
	s := session.New(session.Options{Logger: testr.New(t)})
	t.Cleanup(func() { s.Close(context.Background()) })

	peers := []session.PeerConfig{peerTo("good", good, ispASN), peerTo("bad", bad, 65099)}
	plan := routes.Plan{"good": {route("192.0.2.1/32")}, "bad": {route("192.0.2.1/32")}}
	if err := s.Apply(ctx, peers, plan); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	hasRoutes(t, good, waitUp, map[netip.Prefix]seen{netip.MustParsePrefix("192.0.2.1/32"): {NextHop: "127.0.0.1"}})
	eventually(t, waitUp, "bad peer's status", func() error {
		st := statusOf(t, s, "bad")
		if !strings.Contains(st.LastError, "does not match peerASN 65099") || st.State == "Established" {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	t.Logf("bad peer: %+v", statusOf(t, s, "bad"))
	if st := statusOf(t, s, "good"); st.State != "Established" || st.LastError != "" {
		t.Errorf("good peer: %+v", st)
	}
	if got := bad.routes(t); len(got) != 0 {
		t.Errorf("the refused router holds routes: %v", got)
	}
}

// TestApplyRefuses: configurations that cannot make a session are errors
// naming the peer, and do not stop the other peers.
func TestApplyRefuses(t *testing.T) {
	ctx := context.Background()
	s := session.New(session.Options{})
	defer s.Close(ctx)
	ok := session.PeerConfig{Name: "ok", MyASN: 1, PeerASN: 2, Address: netip.MustParseAddr("127.0.0.1"), Port: 1, RouterID: netip.MustParseAddr("10.0.0.1")}
	noRID := ok
	noRID.Name, noRID.RouterID = "no-router-id", netip.Addr{}
	err := s.Apply(ctx, []session.PeerConfig{ok, noRID, ok}, nil)
	if err == nil || !strings.Contains(err.Error(), `peer "no-router-id": router ID`) || !strings.Contains(err.Error(), `peer "ok": listed twice`) {
		t.Errorf("Apply = %v", err)
	}
	if st := s.Status(ctx); len(st) != 1 || st[0].Peer != "ok" {
		t.Errorf("Status = %+v, want the one good peer", st)
	}
}

// TestResetReusesServers: GoBGP servers are never freed, so resetting a
// peer again and again must reuse them rather than pile them up.
func TestResetReusesServers(t *testing.T) {
	ctx := context.Background()
	s := session.New(session.Options{})
	defer s.Close(ctx)
	// Nobody listens there: the session stays in Active, which is enough.
	c := session.PeerConfig{Name: "p", MyASN: 1, PeerASN: 2, Address: netip.MustParseAddr("127.0.0.1"),
		Port: freePort(t, "127.0.0.1"), RouterID: netip.MustParseAddr("10.0.0.1"), HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second}
	if err := s.Apply(ctx, []session.PeerConfig{c}, nil); err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	for i := range 30 {
		c.HoldTime = time.Duration(10+i) * time.Second
		if err := s.Apply(ctx, []session.PeerConfig{c}, routes.Plan{"p": {route("192.0.2.1/32")}}); err != nil {
			t.Fatal(err)
		}
	}
	// Stopped sessions' goroutines wind down asynchronously.
	eventually(t, 5*time.Second, "goroutines", func() error {
		if n := runtime.NumGoroutine(); n > base+5 {
			return fmt.Errorf("%d goroutines after 30 resets, %d after the first session", n, base)
		}
		return nil
	})
}

// TestSessionOptions: source address, graceful restart and eBGP multihop
// reach the wire.
func TestSessionOptions(t *testing.T) {
	ctx := context.Background()
	// The router expects the speaker at 127.0.0.2.
	r := newRouter(t, ispASN, "127.0.0.1", speakerASN, func(n *api.Peer) {
		n.Conf.NeighborAddress = "127.0.0.2"
		n.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: 120}
		n.AfiSafis[0].MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
	})
	s := session.New(session.Options{Logger: testr.New(t)})
	t.Cleanup(func() { s.Close(context.Background()) })
	c := peerTo("tor", r, ispASN)
	c.SourceAddress = netip.MustParseAddr("127.0.0.2")
	c.GracefulRestart = true
	c.EBGPMultiHop = true
	if err := s.Apply(ctx, []session.PeerConfig{c}, routes.Plan{"tor": {route("192.0.2.1/32")}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	hasRoutes(t, r, waitUp, map[netip.Prefix]seen{netip.MustParsePrefix("192.0.2.1/32"): {NextHop: "127.0.0.2"}})
	if caps := r.remoteCaps(t); !slices.Contains(caps, "GracefulRestartCapability") {
		t.Errorf("capabilities the speaker sent: %v, want GracefulRestartCapability", caps)
	}
}

// requireMD5 skips unless the kernel supports TCP MD5 signatures
// (CONFIG_TCP_MD5SIG); sandboxes often lack it.
func requireMD5(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback listener: %v", err)
	}
	defer l.Close()
	raw, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	raw.Control(func(fd uintptr) {
		sig := unix.TCPMD5Sig{Keylen: 2}
		sig.Addr.Family = unix.AF_INET
		copy(sig.Key[:], "pw")
		serr = unix.SetsockoptTCPMD5Sig(int(fd), unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig)
	})
	if serr != nil {
		t.Skipf("this kernel refuses TCP MD5 signatures: %v", serr)
	}
}

// TestPassword: a shared TCP MD5 password brings the session up; a wrong
// one keeps it down with a status that hints at the password.
func TestPassword(t *testing.T) {
	requireMD5(t)
	ctx := context.Background()
	r := newRouter(t, ispASN, "127.0.0.1", speakerASN, func(n *api.Peer) { n.Conf.AuthPassword = "right" })
	s := session.New(session.Options{Logger: testr.New(t)})
	t.Cleanup(func() { s.Close(context.Background()) })
	c := peerTo("tor", r, ispASN)
	c.Password = "wrong"
	if err := s.Apply(ctx, []session.PeerConfig{c}, routes.Plan{"tor": {route("192.0.2.1/32")}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	eventually(t, waitUp, "status", func() error {
		if st := statusOf(t, s, "tor"); !strings.Contains(st.LastError, "password") || st.State == "Established" {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	c.Password = "right"
	if err := s.Apply(ctx, []session.PeerConfig{c}, routes.Plan{"tor": {route("192.0.2.1/32")}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	hasRoutes(t, r, waitUp, map[netip.Prefix]seen{netip.MustParsePrefix("192.0.2.1/32"): {NextHop: "127.0.0.1"}})
}

// TestBFDChangeKeepsSession: turning BFD on, retiming it and turning it off
// leave the router's session established since the same moment, while a
// change beside BFD still resets it. BFD renegotiates its own timers; a BGP
// reset for it would be the very outage BFD is there to shorten.
func TestBFDChangeKeepsSession(t *testing.T) {
	ctx := context.Background()
	r := newRouter(t, ispASN, "127.0.0.1", speakerASN)
	s := session.New(session.Options{Logger: testr.New(t)})
	t.Cleanup(func() { s.Close(context.Background()) })
	c := peerTo("tor", r, ispASN)
	plan := routes.Plan{"tor": {route("192.0.2.1/32")}}
	if err := s.Apply(ctx, []session.PeerConfig{c}, plan); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	hasRoutes(t, r, waitUp, map[netip.Prefix]seen{netip.MustParsePrefix("192.0.2.1/32"): {NextHop: "127.0.0.1"}})
	_, up := r.session(t)
	since := statusOf(t, s, "tor").Since

	for _, b := range []*config.BFD{
		{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3},
		{ReceiveInterval: 50 * time.Millisecond, TransmitInterval: 50 * time.Millisecond, DetectMultiplier: 3},
		{ReceiveInterval: 50 * time.Millisecond, TransmitInterval: 50 * time.Millisecond, DetectMultiplier: 5, Passive: true},
		nil,
	} {
		c.BFD = b
		if err := s.Apply(ctx, []session.PeerConfig{c}, plan); err != nil {
			t.Fatalf("Apply with BFD %+v: %v", b, err)
		}
		// A reset replaces the speaker's session before Apply returns,
		// and the new one starts in Idle: no waiting is needed to see it.
		if st := statusOf(t, s, "tor"); st.State != "Established" || !st.Since.Equal(since) {
			t.Fatalf("after BFD %+v: speaker session %s since %s, want Established since %s", b, st.State, st.Since, since)
		}
		if st, now := r.session(t); st.String() != "ESTABLISHED" || !now.Equal(up) {
			t.Fatalf("after BFD %+v: router session %s since %s, want ESTABLISHED since %s", b, st, now, up)
		}
	}

	// The same Apply with a session field changed beside BFD resets, so the
	// check above can see a reset.
	c.BFD = &config.BFD{ReceiveInterval: time.Second, TransmitInterval: time.Second, DetectMultiplier: 3}
	c.HoldTime, c.KeepaliveTime = 30*time.Second, 10*time.Second
	if err := s.Apply(ctx, []session.PeerConfig{c}, plan); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	eventually(t, waitUp, "session re-established", func() error {
		if st, now := r.session(t); !now.After(up) || st.String() != "ESTABLISHED" {
			return fmt.Errorf("state %s, up since %s (was %s)", st, now, up)
		}
		return nil
	})
}
