package bgp_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker"
	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/bgp"
	"github.com/portico-lb/portico/speaker/bgp/routes"
)

var _ speaker.Announcer = (*bgp.Announcer)(nil)

// startRouter runs a GoBGP router of AS 65001 on a loopback port, passive,
// expecting the speaker (AS 64512) from 127.0.0.1.
func startRouter(t *testing.T) (*server.BgpServer, int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback listener: %v", err)
	}
	port := int32(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	r := server.NewBgpServer()
	go r.Serve()
	ctx := context.Background()
	if err := r.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: 65001, RouterId: "10.255.0.1", ListenPort: port, ListenAddresses: []string{"127.0.0.1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := r.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 64512}, Transport: &api.Transport{PassiveMode: true},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r, port
}

func prefixes(t *testing.T, r *server.BgpServer) []string {
	t.Helper()
	var out []string
	err := r.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL,
		Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}}, func(d *api.Destination) {
		out = append(out, d.Prefix)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func poll(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func model(t *testing.T, port int32, withPeer bool) *config.Config {
	t.Helper()
	res := config.ClusterResources{
		Pools:             []v1beta1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"192.0.2.0/24"}}}},
		BGPAdvertisements: []v1beta1.BGPAdvertisement{{ObjectMeta: metav1.ObjectMeta{Name: "web"}}},
	}
	if withPeer {
		res.BGPPeers = []v1beta1.BGPPeer{{ObjectMeta: metav1.ObjectMeta{Name: "tor"},
			Spec: v1beta1.BGPPeerSpec{MyASN: 64512, PeerASN: 65001, PeerAddress: "127.0.0.1", PeerPort: port,
				ConnectTime: &metav1.Duration{Duration: time.Second}}}}
	}
	cfg, problems := config.For(res)
	for _, p := range problems {
		if !p.Warning {
			t.Fatalf("config: %v", p)
		}
	}
	return cfg
}

// TestAnnouncer: the announcer brings up the session the model asks for,
// announces the eligible address, reports it announced, and withdraws it
// at once when Run ends.
func TestAnnouncer(t *testing.T) {
	r, port := startRouter(t)
	a := bgp.New(bgp.Config{RetryInterval: 200 * time.Millisecond}, testr.New(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	ip := netip.MustParseAddr("192.0.2.10")
	desired := announce.Desired{ip: {Eligible: true}, netip.MustParseAddr("192.0.2.11"): {Eligible: false}}
	a.SetConfig(model(t, port, true), routes.Node{Name: "node-1"}, netip.MustParseAddr("10.0.0.10"))
	a.Announce(desired)

	poll(t, 15*time.Second, "route at the router", func() error {
		if got := prefixes(t, r); len(got) != 1 || got[0] != "192.0.2.10/32" {
			return fmt.Errorf("router holds %v", got)
		}
		return nil
	})
	poll(t, 5*time.Second, "status", func() error {
		st, known := a.Status(desired)
		if !known || len(st) != 1 || !st[ip].Announced || st[ip].Method != bgp.Method {
			return fmt.Errorf("Status = %+v, %v", st, known)
		}
		return nil
	})
	if s := a.Sessions(); len(s) != 1 || s[0].Peer != "tor" || s[0].State != "Established" || s[0].PrefixesSent != 1 {
		t.Errorf("Sessions = %+v", s)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of its context ending")
	}
	poll(t, 2*time.Second, "withdrawn after Run", func() error {
		if got := prefixes(t, r); len(got) != 0 {
			return fmt.Errorf("router still holds %v", got)
		}
		return nil
	})
}

// TestAnnouncerNoPeer: a model without BGPPeers starts no session, and
// BGP reports nothing, so another announcer's report stands.
func TestAnnouncerNoPeer(t *testing.T) {
	a := bgp.New(bgp.Config{RetryInterval: 50 * time.Millisecond}, testr.New(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	desired := announce.Desired{netip.MustParseAddr("192.0.2.10"): {Eligible: true}}
	a.SetConfig(model(t, 179, false), routes.Node{Name: "node-1"}, netip.MustParseAddr("10.0.0.10"))
	a.Announce(desired)
	poll(t, 5*time.Second, "first apply", func() error {
		if _, known := a.Status(desired); !known {
			return fmt.Errorf("not applied yet")
		}
		return nil
	})
	if st, _ := a.Status(desired); len(st) != 0 {
		t.Errorf("Status = %+v, want nothing", st)
	}
	if s := a.Sessions(); len(s) != 0 {
		t.Errorf("Sessions = %+v, want none", s)
	}
}

// TestAnnouncerDown: an address whose only session is not up is reported
// as not announced, with the peer's state and error.
func TestAnnouncerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback listener: %v", err)
	}
	port := int32(l.Addr().(*net.TCPAddr).Port)
	l.Close() // nobody listens there
	a := bgp.New(bgp.Config{RetryInterval: 100 * time.Millisecond}, testr.New(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	ip := netip.MustParseAddr("192.0.2.10")
	desired := announce.Desired{ip: {Eligible: true}}
	a.SetConfig(model(t, port, true), routes.Node{Name: "node-1"}, netip.MustParseAddr("10.0.0.10"))
	a.Announce(desired)
	poll(t, 10*time.Second, "status", func() error {
		st, known := a.Status(desired)
		if !known || st[ip].Announced || !strings.Contains(st[ip].Why, "peer tor is") || !strings.Contains(st[ip].Why, "cannot connect") {
			return fmt.Errorf("Status = %+v, %v", st, known)
		}
		return nil
	})
	st, _ := a.Status(desired)
	t.Logf("why: %s", st[ip].Why)
}

// TestAnnouncerYield: Yield withdraws at once, before Run's context ends
// (a stopping speaker's handover delay), and nothing is announced again.
func TestAnnouncerYield(t *testing.T) {
	r, port := startRouter(t)
	a := bgp.New(bgp.Config{RetryInterval: 200 * time.Millisecond}, testr.New(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	a.SetConfig(model(t, port, true), routes.Node{Name: "node-1"}, netip.MustParseAddr("10.0.0.10"))
	a.Announce(announce.Desired{netip.MustParseAddr("192.0.2.10"): {Eligible: true}})
	poll(t, 15*time.Second, "route at the router", func() error {
		if got := prefixes(t, r); len(got) != 1 {
			return fmt.Errorf("router holds %v", got)
		}
		return nil
	})

	a.Yield()
	poll(t, 2*time.Second, "withdrawn after Yield", func() error {
		if got := prefixes(t, r); len(got) != 0 {
			return fmt.Errorf("router still holds %v", got)
		}
		return nil
	})
	a.Announce(announce.Desired{netip.MustParseAddr("192.0.2.11"): {Eligible: true}})
	time.Sleep(time.Second) // five retry intervals: nothing may come back
	if got := prefixes(t, r); len(got) != 0 {
		t.Errorf("router holds %v after Yield", got)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v before its context ended", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of its context ending")
	}
}

// TestAnnouncerSessionEvents: session states reach Sessions and
// SessionsChanged as GoBGP reports them, not at the next retry: with a
// retry interval of an hour, only the state events can tell that the
// session came up and, after the router stopped, went down.
func TestAnnouncerSessionEvents(t *testing.T) {
	r, port := startRouter(t)
	a := bgp.New(bgp.Config{RetryInterval: time.Hour}, testr.New(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	a.SetConfig(model(t, port, true), routes.Node{Name: "node-1"}, netip.MustParseAddr("10.0.0.10"))
	a.Announce(announce.Desired{netip.MustParseAddr("192.0.2.10"): {Eligible: true}})

	// waitState drains SessionsChanged until Sessions says state.
	waitState := func(state string, within time.Duration) {
		t.Helper()
		deadline := time.After(within)
		for {
			if s := a.Sessions(); len(s) == 1 && s[0].State == state {
				return
			}
			select {
			case <-a.SessionsChanged():
			case <-deadline:
				t.Fatalf("session not %s within %v: %+v", state, within, a.Sessions())
			}
		}
	}
	// GoBGP dials its first attempt after about a second.
	waitState("Established", 15*time.Second)
	t0 := time.Now()
	r.Stop() // a Cease: the speaker's session leaves Established at once
	waitState("Idle", 5*time.Second)
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("session down reported %v after the router stopped; want within 2s", d)
	}
}

// TestAnnouncerStatusPlansFor: Status judges the desired state it is given,
// not the last one applied: the speaker asks right after Announce, and an
// address a session will carry must not be reported as sent to no peer
// first (a second condition write and Event per Service).
func TestAnnouncerStatusPlansFor(t *testing.T) {
	_, port := startRouter(t)
	a := bgp.New(bgp.Config{RetryInterval: time.Hour}, testr.New(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	first, next := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")
	a.SetConfig(model(t, port, true), routes.Node{Name: "node-1"}, netip.MustParseAddr("10.0.0.10"))
	a.Announce(announce.Desired{first: {Eligible: true}})
	poll(t, 15*time.Second, "session up", func() error {
		if s := a.Sessions(); len(s) != 1 || s[0].State != "Established" {
			return fmt.Errorf("sessions %+v", s)
		}
		return nil
	})
	// next was never handed to Announce, so no apply can have planned it.
	d := announce.Desired{first: {Eligible: true}, next: {Eligible: true}}
	st, known := a.Status(d)
	if !known || !st[next].Announced || st[next].Method != bgp.Method {
		t.Errorf("Status(%v) = %+v, %v; want %s announced over an established session", d, st, known, next)
	}
}
