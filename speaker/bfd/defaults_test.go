package bfd

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Config
		port uint16
		mh   uint16
	}{
		{"zero: the RFC ports", Config{}, DefaultPort, DefaultMultihopPort},
		{"ports kept", Config{Port: 13784, MultihopPort: 14784}, 13784, 14784},
		{"one port set", Config{MultihopPort: 14784}, DefaultPort, 14784},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.withDefaults()
			if got.Port != tc.port || got.MultihopPort != tc.mh {
				t.Fatalf("ports %d, %d; want %d, %d", got.Port, got.MultihopPort, tc.port, tc.mh)
			}
		})
	}
}

func TestPeerValidate(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	ok := Timers{DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond, DetectMult: 3}
	for _, tc := range []struct {
		name    string
		in      Peer
		want    Peer
		wantErr string
	}{
		{"single hop gets 3784", Peer{Addr: v4, Timers: ok}, Peer{Addr: v4, Port: DefaultPort, Timers: ok}, ""},
		{"multihop gets 4784", Peer{Addr: v6, Multihop: true, MinTTL: 250, Timers: ok}, Peer{Addr: v6, Port: DefaultMultihopPort, Multihop: true, MinTTL: 250, Timers: ok}, ""},
		{"port kept", Peer{Addr: v4, Port: 9, Timers: ok}, Peer{Addr: v4, Port: 9, Timers: ok}, ""},
		{"mapped addresses unmapped", Peer{Addr: netip.MustParseAddr("::ffff:192.0.2.1"), Local: netip.MustParseAddr("::ffff:192.0.2.9"), Timers: ok}, Peer{Addr: v4, Local: netip.MustParseAddr("192.0.2.9"), Port: DefaultPort, Timers: ok}, ""},
		{"no address", Peer{Timers: ok}, Peer{}, "not a peer address"},
		{"unspecified address", Peer{Addr: netip.IPv4Unspecified(), Timers: ok}, Peer{}, "not a peer address"},
		{"local of the other family", Peer{Addr: v4, Local: v6, Timers: ok}, Peer{}, "other family"},
		{"min TTL on single hop", Peer{Addr: v4, MinTTL: 254, Timers: ok}, Peer{}, "single hop requires 255"},
		{"zero transmit interval", Peer{Addr: v4, Timers: Timers{RequiredMinRx: time.Second, DetectMult: 3}}, Peer{}, "transmit interval 0s"},
		{"zero receive interval", Peer{Addr: v4, Timers: Timers{DesiredMinTx: time.Second, DetectMult: 3}}, Peer{}, "receive interval 0s"},
		{"interval beyond 32-bit µs", Peer{Addr: v4, Timers: Timers{DesiredMinTx: 2 * time.Hour, RequiredMinRx: time.Second, DetectMult: 3}}, Peer{}, "transmit interval 2h0m0s"},
		{"zero multiplier", Peer{Addr: v4, Timers: Timers{DesiredMinTx: time.Second, RequiredMinRx: time.Second}}, Peer{}, "detect multiplier 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "peer ") {
					t.Fatalf("error %v, want one naming the peer and saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}
