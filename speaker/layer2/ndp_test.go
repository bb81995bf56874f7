package layer2

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
)

func TestAnswerNS(t *testing.T) {
	var (
		solicitor = netip.MustParseAddr("fe80::2")
		snm, _    = ndp.SolicitedNodeMulticast(vip6)
		sourceLLA = &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: peerMAC}
		targetLLA = &ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ownMAC}
		announced = func(ip netip.Addr) bool { return ip == vip6 }
	)
	ns := func(target netip.Addr, opts ...ndp.Option) ndp.Message {
		return &ndp.NeighborSolicitation{TargetAddress: target, Options: opts}
	}
	tests := []struct {
		name   string
		in     solicitation
		wantNA *ndp.NeighborAdvertisement
		wantTo netip.Addr
	}{
		{
			name:   "NS for announced IP: solicited NA back to the solicitor",
			in:     solicitation{msg: ns(vip6, sourceLLA), src: solicitor, dst: snm, hopLimit: 255},
			wantNA: &ndp.NeighborAdvertisement{Solicited: true, Override: true, TargetAddress: vip6, Options: []ndp.Option{targetLLA}},
			wantTo: solicitor,
		},
		{
			name:   "zone on the source is dropped",
			in:     solicitation{msg: ns(vip6, sourceLLA), src: solicitor.WithZone("eth0"), hopLimit: 255},
			wantNA: &ndp.NeighborAdvertisement{Solicited: true, Override: true, TargetAddress: vip6, Options: []ndp.Option{targetLLA}},
			wantTo: solicitor,
		},
		{
			name:   "unknown hop limit and destination are accepted",
			in:     solicitation{msg: ns(vip6), src: solicitor},
			wantNA: &ndp.NeighborAdvertisement{Solicited: true, Override: true, TargetAddress: vip6, Options: []ndp.Option{targetLLA}},
			wantTo: solicitor,
		},
		{
			name:   "DAD probe for announced IP is defended to all nodes",
			in:     solicitation{msg: ns(vip6), src: netip.IPv6Unspecified(), dst: snm, hopLimit: 255},
			wantNA: &ndp.NeighborAdvertisement{Override: true, TargetAddress: vip6, Options: []ndp.Option{targetLLA}},
			wantTo: netip.IPv6LinkLocalAllNodes(),
		},
		{name: "NS for another IP", in: solicitation{msg: ns(netip.MustParseAddr("2001:db8::11")), src: solicitor, hopLimit: 255}},
		{name: "hop limit below 255: off-link sender", in: solicitation{msg: ns(vip6), src: solicitor, hopLimit: 254}},
		{name: "DAD probe with a source link-layer address is invalid", in: solicitation{msg: ns(vip6, sourceLLA), src: netip.IPv6Unspecified(), dst: snm, hopLimit: 255}},
		{name: "DAD probe not sent to the solicited-node group", in: solicitation{msg: ns(vip6), src: netip.IPv6Unspecified(), dst: netip.IPv6LinkLocalAllNodes(), hopLimit: 255}},
		{name: "multicast source", in: solicitation{msg: ns(vip6), src: netip.IPv6LinkLocalAllNodes(), hopLimit: 255}},
		{name: "advertisement, not a solicitation", in: solicitation{msg: unsolicitedNA(vip6, peerMAC), src: solicitor, hopLimit: 255}},
		{name: "router solicitation", in: solicitation{msg: &ndp.RouterSolicitation{}, src: solicitor, hopLimit: 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			na, to, ok := answerNS(tt.in, ownMAC, announced)
			if ok != (tt.wantNA != nil) {
				t.Fatalf("answered = %v, want %v", ok, tt.wantNA != nil)
			}
			if diff := cmp.Diff(tt.wantNA, na, equateAddrs); diff != "" {
				t.Errorf("NA (-want +got):\n%s", diff)
			}
			if to != tt.wantTo {
				t.Errorf("sent to %v, want %v", to, tt.wantTo)
			}
			if na == nil {
				return
			}
			// What we build must survive the wire.
			b, err := ndp.MarshalMessage(na)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			back, err := ndp.ParseMessage(b)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(ndp.Message(na), back, equateAddrs); diff != "" {
				t.Errorf("round trip (-built +parsed):\n%s", diff)
			}
		})
	}
}

func TestSolicitedNodeGroups(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1:10")
	b := netip.MustParseAddr("fd00:1::1:10") // same low 24 bits as a: one group
	c := netip.MustParseAddr("2001:db8::2:20")
	ga, _ := ndp.SolicitedNodeMulticast(a)
	gc, _ := ndp.SolicitedNodeMulticast(c)

	have := solicitedNodeGroups([]netip.Addr{a, b})
	if len(have) != 1 {
		t.Fatalf("groups of two addresses sharing the low 24 bits: %v, want one", have)
	}
	// Dropping b keeps a's group; adding c joins one more.
	join, leave := diffGroups(have, solicitedNodeGroups([]netip.Addr{a, c}))
	if diff := cmp.Diff([]netip.Addr{gc}, join, equateAddrs); diff != "" {
		t.Errorf("join (-want +got):\n%s", diff)
	}
	if len(leave) != 0 {
		t.Errorf("leave = %v, want none: a still needs %v", leave, ga)
	}
	join, leave = diffGroups(have, solicitedNodeGroups(nil))
	if len(join) != 0 || len(leave) != 1 || leave[0] != ga {
		t.Errorf("dropping everything: join %v leave %v, want leave [%v]", join, leave, ga)
	}
	// IPv4 addresses have no solicited-node group.
	if g := solicitedNodeGroups([]netip.Addr{vip4}); len(g) != 0 {
		t.Errorf("IPv4 groups = %v", g)
	}
}

func TestClaimedNA(t *testing.T) {
	withTLLA := func(mac net.HardwareAddr) ndp.Message {
		return &ndp.NeighborAdvertisement{Override: true, TargetAddress: vip6,
			Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}}}
	}
	tests := []struct {
		name string
		in   solicitation
		want bool
	}{
		{"another station's NA", solicitation{msg: withTLLA(peerMAC), hopLimit: 255}, true},
		{"hop limit unknown", solicitation{msg: withTLLA(peerMAC)}, true},
		{"our own MAC", solicitation{msg: withTLLA(ownMAC), hopLimit: 255}, false},
		{"off-link (hop limit 64)", solicitation{msg: withTLLA(peerMAC), hopLimit: 64}, false},
		{"no target link-layer address", solicitation{msg: &ndp.NeighborAdvertisement{TargetAddress: vip6}, hopLimit: 255}, false},
		{"a solicitation", solicitation{msg: &ndp.NeighborSolicitation{TargetAddress: vip6}, hopLimit: 255}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip, by, ok := claimedNA(tt.in, ownMAC)
			if ok != tt.want || (ok && (ip != vip6 || !bytes.Equal(by, peerMAC))) {
				t.Errorf("claimedNA = %v, %v, %v; want claim %v", ip, by, ok, tt.want)
			}
		})
	}
}
