package layer2

import (
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
)

// The decisions are fuzzed from raw bytes through the same parsers the
// sockets use. Properties: no panic, never an answer for an address that is
// not announced, and every answer can be put on the wire.

func FuzzARPDecision(f *testing.F) {
	seed := func(p *arp.Packet) []byte {
		b, err := p.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	// A request for the announced VIP: answered.
	f.Add(seed(arpRequest(f, peerMAC, peerIP, vip4)))
	// A request for another address: ignored.
	f.Add(seed(arpRequest(f, peerMAC, peerIP, other4)))
	// An RFC 5227 probe for the VIP (sender 0.0.0.0): answered, to 0.0.0.0.
	f.Add(seed(arpRequest(f, peerMAC, netip.IPv4Unspecified(), vip4)))
	// Gratuitous request and reply from another node: ignored.
	req, reply, _ := gratuitousARP(peerMAC, vip4)
	f.Add(seed(req))
	f.Add(seed(reply))
	// Header claiming 16-byte IPs and 1-byte MACs: lengths the codec trusts.
	f.Add([]byte{0, 1, 8, 0, 1, 16, 0, 1, 0xbb, 192, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xaa, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10})
	// Truncated header.
	f.Add([]byte{0, 1, 8, 0, 6})

	announced := func(ip netip.Addr) bool { return ip == vip4 }
	f.Fuzz(func(t *testing.T, b []byte) {
		var p arp.Packet
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		if !answerARP(&p, ownMAC, announced) {
			return
		}
		if !announced(p.TargetIP) {
			t.Fatalf("answered for unannounced %v", p.TargetIP)
		}
		// What arp.Client.Reply builds from the request must be valid.
		if _, err := arp.NewPacket(arp.OperationReply, ownMAC, p.TargetIP, p.SenderHardwareAddr, p.SenderIP); err != nil {
			t.Fatalf("reply to %+v cannot be built: %v", p, err)
		}
	})
}

func FuzzNDPDecision(f *testing.F) {
	seed := func(m ndp.Message) []byte {
		b, err := ndp.MarshalMessage(m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	sourceLLA := &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: peerMAC}
	// NS for the announced VIP from a unicast solicitor: answered.
	f.Add(seed(&ndp.NeighborSolicitation{TargetAddress: vip6, Options: []ndp.Option{sourceLLA}}), false, uint8(255))
	// The same as a DAD probe (source ::, no option): defended to all nodes.
	f.Add(seed(&ndp.NeighborSolicitation{TargetAddress: vip6}), true, uint8(255))
	// DAD probe carrying a source link-layer address: invalid, ignored.
	f.Add(seed(&ndp.NeighborSolicitation{TargetAddress: vip6, Options: []ndp.Option{sourceLLA}}), true, uint8(255))
	// Forwarded from off-link (hop limit 64): ignored.
	f.Add(seed(&ndp.NeighborSolicitation{TargetAddress: vip6}), false, uint8(64))
	// NS for another address and an NA for ours: ignored.
	f.Add(seed(&ndp.NeighborSolicitation{TargetAddress: netip.MustParseAddr("2001:db8::11")}), false, uint8(255))
	f.Add(seed(unsolicitedNA(vip6, peerMAC)), false, uint8(255))
	// NS with a zero-length option, which a naive option walk loops on.
	f.Add(append(seed(&ndp.NeighborSolicitation{TargetAddress: vip6}), 1, 0), false, uint8(255))

	announced := func(ip netip.Addr) bool { return ip == vip6 }
	f.Fuzz(func(t *testing.T, b []byte, fromUnspecified bool, hopLimit uint8) {
		m, err := ndp.ParseMessage(b)
		if err != nil {
			return
		}
		in := solicitation{msg: m, src: netip.MustParseAddr("fe80::2"), hopLimit: int(hopLimit)}
		if fromUnspecified {
			in.src = netip.IPv6Unspecified()
		}
		if ns, ok := m.(*ndp.NeighborSolicitation); ok {
			in.dst, _ = ndp.SolicitedNodeMulticast(ns.TargetAddress)
		}
		na, to, ok := answerNS(in, ownMAC, announced)
		if !ok {
			return
		}
		ns, isNS := m.(*ndp.NeighborSolicitation)
		if !isNS || na.TargetAddress != ns.TargetAddress || !announced(na.TargetAddress) {
			t.Fatalf("answered %T for %v with an NA for %v", m, in.src, na.TargetAddress)
		}
		if fromUnspecified && (to != netip.IPv6LinkLocalAllNodes() || na.Solicited) {
			t.Fatalf("DAD probe answered to %v with Solicited=%v", to, na.Solicited)
		}
		if _, err := ndp.MarshalMessage(na); err != nil {
			t.Fatalf("NA cannot be marshalled: %v", err)
		}
	})
}
