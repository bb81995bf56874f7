package cluster

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"golang.org/x/sys/unix"
)

func TestParseFrame(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 0x0b}
	other := net.HardwareAddr{2, 0, 0, 0, 0, 0x64}
	vip4, client4 := netip.MustParseAddr("10.213.7.200"), netip.MustParseAddr("10.213.7.100")
	vip6 := netip.MustParseAddr("fd00:213:7::200")
	// Frames from mac (the node) to other (the client).
	eth := func(ethertype uint16, payload []byte) []byte {
		b := append(append(slices.Clone(other), mac...), byte(ethertype>>8), byte(ethertype))
		return append(b, payload...)
	}
	arpFrame := func(op arp.Operation, tip netip.Addr) []byte {
		p, err := arp.NewPacket(op, mac, vip4, other, tip)
		if err != nil {
			t.Fatal(err)
		}
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return eth(unix.ETH_P_ARP, b)
	}
	naFrame := func(solicited bool, opts ...ndp.Option) []byte {
		b, err := ndp.MarshalMessage(&ndp.NeighborAdvertisement{Solicited: solicited, Override: true, TargetAddress: vip6, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		ip := make([]byte, 40)
		ip[0], ip[6], ip[7] = 0x60, unix.IPPROTO_ICMPV6, 255
		ip[4], ip[5] = byte(len(b)>>8), byte(len(b))
		return eth(unix.ETH_P_IPV6, append(ip, b...))
	}
	target := &ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  Frame
		ok    bool
	}{
		{"arp reply", arpFrame(arp.OperationReply, client4), Frame{MAC: mac, Kind: ARPReply, IP: vip4}, true},
		{"gratuitous arp request", arpFrame(arp.OperationRequest, vip4), Frame{MAC: mac, Kind: GratuitousARP, IP: vip4}, true},
		{"gratuitous arp reply", arpFrame(arp.OperationReply, vip4), Frame{MAC: mac, Kind: GratuitousARP, IP: vip4}, true},
		{"arp request is no announcement", arpFrame(arp.OperationRequest, client4), Frame{}, false},
		{"solicited na", naFrame(true, target), Frame{MAC: mac, Kind: SolicitedNA, IP: vip6}, true},
		{"unsolicited na", naFrame(false, target), Frame{MAC: mac, Kind: UnsolicitedNA, IP: vip6}, true},
		// Without a target link-layer option, the Ethernet source says who.
		{"na without option", naFrame(true), Frame{MAC: mac, Kind: SolicitedNA, IP: vip6}, true},
		{"garbage", nil, Frame{}, false},
		{"short", make([]byte, 13), Frame{}, false},
		{"zeros", make([]byte, 60), Frame{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseFrame(tc.frame)
			if ok != tc.ok {
				t.Fatalf("parseFrame ok = %v, want %v (%v)", ok, tc.ok, got)
			}
			if d := cmp.Diff(tc.want.String(), got.String()); d != "" {
				t.Errorf("parseFrame (-want +got):\n%s", d)
			}
		})
	}
}
