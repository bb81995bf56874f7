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
		HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, Password: "pw", EBGPMultiHop: true, GracefulRestart: true}
	want := PeerConfig{Name: "tor", MyASN: 64512, PeerASN: 65001, Address: p.Address, Port: 179, RouterID: node,
		HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, Password: "pw", EBGPMultiHop: true, GracefulRestart: true}
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
