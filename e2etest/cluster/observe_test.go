package cluster

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ipv6Header is a fixed IPv6 header (no extension headers, hop limit 255)
// before an ICMPv6 payload of n bytes; x/net/ipv6 parses headers but does
// not write them.
func ipv6Header(n int) []byte {
	ip := make([]byte, ipv6.HeaderLen)
	ip[0], ip[6], ip[7] = 0x60, unix.IPPROTO_ICMPV6, 255
	ip[4], ip[5] = byte(n>>8), byte(n)
	return ip
}

func TestParseFrame(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 0x0b}
	other := net.HardwareAddr{2, 0, 0, 0, 0, 0x64}
	vip4, client4 := netip.MustParseAddr("10.213.7.200"), netip.MustParseAddr("10.213.7.100")
	vip6 := netip.MustParseAddr("fd00:213:7::200")
	// Frames from mac (the node) to other (the client).
	eth := func(ethertype ethernet.EtherType, payload []byte) []byte {
		b, err := (&ethernet.Frame{Destination: other, Source: mac, EtherType: ethertype, Payload: payload}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
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
		return eth(ethernet.EtherTypeARP, b)
	}
	naFrame := func(solicited bool, opts ...ndp.Option) []byte {
		b, err := ndp.MarshalMessage(&ndp.NeighborAdvertisement{Solicited: solicited, Override: true, TargetAddress: vip6, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		return eth(ethernet.EtherTypeIPv6, append(ipv6Header(len(b)), b...))
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
		{"ipv6 but not icmpv6", eth(ethernet.EtherTypeIPv6, append(func() []byte { h := ipv6Header(8); h[6] = unix.IPPROTO_UDP; return h }(), make([]byte, 8)...)), Frame{}, false},
		{"truncated ipv6 header", eth(ethernet.EtherTypeIPv6, ipv6Header(0)[:20]), Frame{}, false},
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

// FuzzParseFrame: whatever arrives on a node's link, parseFrame must not
// panic, and what it accepts is a complete announcement.
func FuzzParseFrame(f *testing.F) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 0x0b}
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	vip4 := netip.MustParseAddr("10.213.7.200")
	// Seed: a gratuitous ARP as a speaker sends it.
	p, _ := arp.NewPacket(arp.OperationRequest, mac, vip4, bcast, vip4)
	pb, _ := p.MarshalBinary()
	garp, _ := (&ethernet.Frame{Destination: bcast, Source: mac, EtherType: ethernet.EtherTypeARP, Payload: pb}).MarshalBinary()
	f.Add(garp)
	// Seed: an unsolicited NA with a target link-layer address.
	nb, _ := ndp.MarshalMessage(&ndp.NeighborAdvertisement{Override: true, TargetAddress: netip.MustParseAddr("fd00:213:7::200"),
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}}})
	na, _ := (&ethernet.Frame{Destination: bcast, Source: mac, EtherType: ethernet.EtherTypeIPv6, Payload: append(ipv6Header(len(nb)), nb...)}).MarshalBinary()
	f.Add(na)
	// Seed: an Ethernet header and nothing after it.
	f.Add(garp[:14])
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, ok := parseFrame(b)
		if !ok {
			return
		}
		if !fr.IP.IsValid() || fr.Kind < ARPReply || fr.Kind > UnsolicitedNA {
			t.Errorf("parseFrame accepted %x as %+v", b, fr)
		}
	})
}
