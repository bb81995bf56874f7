package layer2

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/go-logr/logr"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// arpWire answers ARP on one interface through an *arp.Client, which keeps
// the socket (net.PacketConn) apart from the codec.
type arpWire struct {
	c   *arp.Client
	mac net.HardwareAddr
}

var _ wire = (*arpWire)(nil)

// newARPResponder serves ARP through c. Production builds c with arp.Dial;
// tests build it with arp.New and a fake net.PacketConn.
func newARPResponder(ctx context.Context, iface string, c *arp.Client, cfg Config, log logr.Logger, m *metrics, o openOptions) *responder {
	return newResponder(ctx, iface, "arp", &arpWire{c: c, mac: c.HardwareAddr()}, cfg, log, m, o)
}

func (w *arpWire) serve(ctx context.Context, r *responder) {
	var b backoff
	for {
		// The packet socket is bound to the ARP EtherType on one interface, so
		// each Read consumes one frame: the loop is bounded by the socket.
		p, _, err := w.c.Read()
		if err != nil {
			if !r.readFailed(ctx, err, &b) {
				return
			}
			continue
		}
		b.reset()
		if !answerARP(p, w.mac, r.has) {
			if ip, ok := claimedARP(p, w.mac); ok {
				r.defend(ip, p.SenderHardwareAddr)
			}
			continue
		}
		if err := w.c.Reply(p, w.mac, p.TargetIP); err != nil {
			r.log.Error(err, "sending ARP reply", "ip", p.TargetIP, "to", p.SenderHardwareAddr.String())
			continue
		}
		r.m.arpAnswered.WithLabelValues(r.iface).Inc()
	}
}

// announce sends both forms of gratuitous ARP, sender and target IP set to
// the VIP, to the Ethernet broadcast address. Hosts differ in which form they
// honour, so we send both, as keepalived does.
func (w *arpWire) announce(ip netip.Addr) error {
	req, reply, err := gratuitousARP(w.mac, ip)
	if err != nil {
		return err
	}
	if err := w.c.WriteTo(req, ethernet.Broadcast); err != nil {
		return fmt.Errorf("layer2: gratuitous ARP request for %s: %w", ip, err)
	}
	if err := w.c.WriteTo(reply, ethernet.Broadcast); err != nil {
		return fmt.Errorf("layer2: gratuitous ARP reply for %s: %w", ip, err)
	}
	return nil
}

// sync has nothing to do: the packet socket already sees every ARP frame.
func (w *arpWire) sync([]netip.Addr) error { return nil }

func (w *arpWire) close() error { return w.c.Close() }

// answerARP reports whether p is a question we must answer: an Ethernet/IPv4
// ARP request, from another station, for an announced address.
//
// It answers RFC 5227 probes (sender IP 0.0.0.0) as the kernel does for its
// own addresses, so a host trying to configure a VIP learns it is taken. It
// ignores gratuitous requests (sender IP = target IP): they announce, they do
// not ask, and answering one would argue with whoever sent it.
func answerARP(p *arp.Packet, own net.HardwareAddr, announced func(netip.Addr) bool) bool {
	if p.Operation != arp.OperationRequest || !fromOtherStation(p, own) {
		return false
	}
	if !p.SenderIP.Is4() || !p.TargetIP.Is4() || p.SenderIP == p.TargetIP {
		return false
	}
	if p.SenderIP.IsMulticast() || p.SenderIP.IsLoopback() {
		return false
	}
	return announced(p.TargetIP)
}

// fromOtherStation reports whether p is a well-formed Ethernet/IPv4 ARP
// packet sent by another station.
func fromOtherStation(p *arp.Packet, own net.HardwareAddr) bool {
	// 1 is Ethernet, 6 is IEEE 802; Linux accepts both on Ethernet devices.
	if (p.HardwareType != 1 && p.HardwareType != 6) || p.ProtocolType != uint16(ethernet.EtherTypeIPv4) {
		return false
	}
	if p.HardwareAddrLength != 6 || p.IPLength != 4 || len(p.SenderHardwareAddr) != 6 {
		return false
	}
	// A multicast or broadcast sender is bogus; our own frames come back to
	// the packet socket as outgoing copies.
	return p.SenderHardwareAddr[0]&1 == 0 && !bytes.Equal(p.SenderHardwareAddr, own)
}

// claimedARP returns the address another station claims with p: any ARP
// packet, request or reply, gratuitous or not, says "the sender IP is at
// the sender MAC". Probes (sender IP 0.0.0.0) claim nothing.
func claimedARP(p *arp.Packet, own net.HardwareAddr) (netip.Addr, bool) {
	if (p.Operation != arp.OperationRequest && p.Operation != arp.OperationReply) || !fromOtherStation(p, own) {
		return netip.Addr{}, false
	}
	if !p.SenderIP.Is4() || p.SenderIP.IsUnspecified() {
		return netip.Addr{}, false
	}
	return p.SenderIP, true
}

// gratuitousARP builds the request and reply forms of a gratuitous ARP for ip.
// The request's target MAC is zero (RFC 5227 §2.3, "ARP Announcement"); the
// reply's is broadcast, like its Ethernet destination.
func gratuitousARP(mac net.HardwareAddr, ip netip.Addr) (req, reply *arp.Packet, err error) {
	req, err = arp.NewPacket(arp.OperationRequest, mac, ip, make(net.HardwareAddr, 6), ip)
	if err != nil {
		return nil, nil, fmt.Errorf("layer2: gratuitous ARP for %s: %w", ip, err)
	}
	reply, err = arp.NewPacket(arp.OperationReply, mac, ip, ethernet.Broadcast, ip)
	if err != nil {
		return nil, nil, fmt.Errorf("layer2: gratuitous ARP for %s: %w", ip, err)
	}
	return req, reply, nil
}
