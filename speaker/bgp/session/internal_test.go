package session

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/portico-lb/portico/config"
)

func TestSetOptionsDefaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     Options
		wantGR time.Duration
	}{
		{"empty", Options{}, defaultGracefulRestartTime},
		{"negative", Options{GracefulRestartTime: -time.Second}, defaultGracefulRestartTime},
		{"set", Options{GracefulRestartTime: 30 * time.Second}, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := setOptionsDefaults(tc.in)
			if got.GracefulRestartTime != tc.wantGR || got.Now == nil {
				t.Errorf("setOptionsDefaults(%+v) = %+v", tc.in, got)
			}
		})
	}
}

func TestPeerFor(t *testing.T) {
	node := netip.MustParseAddr("10.1.0.5")
	p := &config.BGPPeer{Name: "tor", MyASN: 64512, PeerASN: 65001, Address: netip.MustParseAddr("10.1.0.1"), Port: 179,
		HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, Password: "pw", EBGPMultiHop: true, GracefulRestart: true,
		BFD: &config.BFD{ReceiveInterval: 50 * time.Millisecond, TransmitInterval: 50 * time.Millisecond, DetectMultiplier: 3, Multihop: true}}
	want := PeerConfig{Name: "tor", MyASN: 64512, PeerASN: 65001, Address: p.Address, Port: 179, RouterID: node,
		HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, Password: "pw", EBGPMultiHop: true, GracefulRestart: true,
		BFD: &config.BFD{ReceiveInterval: 50 * time.Millisecond, TransmitInterval: 50 * time.Millisecond, DetectMultiplier: 3, Multihop: true}}
	if d := cmp.Diff(want, PeerFor(p, node), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("router ID from the node (-want +got):\n%s", d)
	}
	p.RouterID = netip.MustParseAddr("192.0.2.1")
	if got := PeerFor(p, node).RouterID; got != p.RouterID {
		t.Errorf("routerID set: %s, want %s", got, p.RouterID)
	}
}

func TestExplain(t *testing.T) {
	p := PeerConfig{Address: netip.MustParseAddr("10.0.0.1"), Port: 179, MyASN: 64512, PeerASN: 65001}
	for _, tc := range []struct {
		msg    string
		fields gobgplog.Fields
		want   string
	}{
		{"failed to connect", gobgplog.Fields{"Error": errors.New("connection refused")}, "cannot connect to 10.0.0.1 port 179: connection refused"},
		{"failed to connect", gobgplog.Fields{"Error": errors.New("dial tcp: i/o timeout")}, "cannot connect to 10.0.0.1 port 179: dial tcp: i/o timeout"},
		{"hold timer expired", nil, "the peer sent nothing for the hold time; the session was closed"},
		{"sent notification", gobgplog.Fields{"Data": bgp.NewMessageError(bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_BAD_PEER_AS, nil, "as number mismatch expected 65001, received 65002").(*bgp.MessageError)},
			"the peer's AS number does not match peerASN 65001 (as number mismatch expected 65001, received 65002); closed the session"},
		{"received notification", gobgplog.Fields{"Code": uint8(bgp.BGP_ERROR_OPEN_MESSAGE_ERROR), "Subcode": uint8(bgp.BGP_ERROR_SUB_BAD_PEER_AS)},
			"the peer refused our AS number 64512 (myASN): check the AS it expects"},
		{"received notification", gobgplog.Fields{"Code": uint8(bgp.BGP_ERROR_CEASE), "Subcode": uint8(bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN), "Communicated-Reason": "maintenance"},
			"the peer closed the session: code 6(cease) subcode 2(administrative shutdown): maintenance"},
		{"Peer Up", nil, ""},
	} {
		if got := explain(p, tc.msg, tc.fields); got != tc.want {
			t.Errorf("explain(%q, %v) = %q, want %q", tc.msg, tc.fields, got, tc.want)
		}
	}
	p.Password = "pw"
	got := explain(p, "failed to connect", gobgplog.Fields{"Error": errors.New("dial tcp: i/o timeout")})
	if want := "cannot connect to 10.0.0.1 port 179: dial tcp: i/o timeout (a TCP MD5 password the peer does not share looks like this)"; got != want {
		t.Errorf("with a password: %q, want %q", got, want)
	}
}

// TestCompare: a change of BFD alone keeps the BGP session; any other field
// resets it, with or without a BFD change beside it.
func TestCompare(t *testing.T) {
	ms := time.Millisecond
	bfd := func(f func(*config.BFD)) *config.BFD {
		b := &config.BFD{ReceiveInterval: 300 * ms, TransmitInterval: 300 * ms, DetectMultiplier: 3}
		if f != nil {
			f(b)
		}
		return b
	}
	base := PeerConfig{Name: "tor", MyASN: 64512, PeerASN: 65001, Address: netip.MustParseAddr("10.1.0.1"), Port: 179,
		RouterID: netip.MustParseAddr("10.1.0.5"), HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, BFD: bfd(nil)}
	mod := func(f func(*PeerConfig)) PeerConfig {
		c := base
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		new  PeerConfig
		want change
	}{
		{"same", base, unchanged},
		// The model is rebuilt on every change, so equal BFD settings
		// arrive behind a different pointer.
		{"equal BFD in another value", mod(func(c *PeerConfig) { c.BFD = bfd(nil) }), unchanged},
		{"receive interval", mod(func(c *PeerConfig) { c.BFD = bfd(func(b *config.BFD) { b.ReceiveInterval = 50 * ms }) }), bfdChanged},
		{"transmit interval", mod(func(c *PeerConfig) { c.BFD = bfd(func(b *config.BFD) { b.TransmitInterval = 50 * ms }) }), bfdChanged},
		{"detect multiplier", mod(func(c *PeerConfig) { c.BFD = bfd(func(b *config.BFD) { b.DetectMultiplier = 5 }) }), bfdChanged},
		{"passive", mod(func(c *PeerConfig) { c.BFD = bfd(func(b *config.BFD) { b.Passive = true }) }), bfdChanged},
		{"BFD turned off", mod(func(c *PeerConfig) { c.BFD = nil }), bfdChanged},
		{"hold time", mod(func(c *PeerConfig) { c.HoldTime = 30 * time.Second }), sessionChanged},
		{"password", mod(func(c *PeerConfig) { c.Password = "pw" }), sessionChanged},
		{"router ID", mod(func(c *PeerConfig) { c.RouterID = netip.MustParseAddr("10.1.0.6") }), sessionChanged},
		{"hold time and BFD", mod(func(c *PeerConfig) {
			c.HoldTime, c.BFD = 30*time.Second, bfd(func(b *config.BFD) { b.ReceiveInterval = 50 * ms })
		}), sessionChanged},
		// Multihop follows ebgpMultiHop, which GoBGP holds.
		{"multihop", mod(func(c *PeerConfig) {
			c.EBGPMultiHop, c.BFD = true, bfd(func(b *config.BFD) { b.Multihop = true })
		}), sessionChanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := compare(base, tc.new); got != tc.want {
				t.Errorf("compare(base, new) = %d, want %d", got, tc.want)
			}
			// The decision is the same either way round.
			if got := compare(tc.new, base); got != tc.want {
				t.Errorf("compare(new, base) = %d, want %d", got, tc.want)
			}
		})
	}
	t.Run("BFD turned on", func(t *testing.T) {
		off := base
		off.BFD = nil
		if got := compare(off, off); got != unchanged {
			t.Errorf("compare(no BFD, no BFD) = %d, want unchanged", got)
		}
		if got := compare(off, base); got != bfdChanged {
			t.Errorf("compare(no BFD, BFD) = %d, want bfdChanged", got)
		}
	})
}
