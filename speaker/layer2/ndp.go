package layer2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/go-logr/logr"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// ndpWire answers Neighbor Solicitations on one interface through an ICMPv6
// socket bound to the interface's link-local address.
//
// Known limit: the socket only sees NS sent to a solicited-node multicast
// group. Neighbour unreachability probes (unicast NS to the VIP) are not
// delivered to local sockets because the VIP is not a local address, so the
// asking host's entry goes PROBE → FAILED and it re-resolves by multicast,
// which we do answer; traffic keeps using the cached MAC meanwhile.
type ndpWire struct {
	conn   *ndp.Conn
	mac    net.HardwareAddr
	groups map[netip.Addr]struct{} // joined solicited-node groups; guarded by responder.mu
}

var _ wire = (*ndpWire)(nil)

// errNoLinkLocal is reported while an interface has no link-local address an
// NDP socket can bind to.
var errNoLinkLocal = errors.New("no usable IPv6 link-local address yet (duplicate address detection runs for 1-2 s after a link comes up)")

// listenNDP opens the NDP socket for l. Like arp.Dial it must run in l's
// network namespace.
func listenNDP(l link) (*ndp.Conn, error) {
	if !l.linkLocal.IsValid() {
		return nil, errNoLinkLocal
	}
	// Bind the address the scan found usable rather than ndp.LinkLocal, which
	// would pick the first link-local even if it is still tentative.
	//
	// ndp puts the interface's name in the zone of every address it binds
	// and sends to, and Go turns zone names into indexes through one
	// process-wide cache, filled from the namespace of whichever thread
	// missed it last. A speaker run with --netns opens its sockets in a
	// namespace other goroutines are not in, so a name could resolve to
	// another namespace's link; a zone that is the index needs no lookup.
	ifi := l.netInterface()
	ifi.Name = strconv.Itoa(l.index)
	c, _, err := ndp.Listen(ifi, ndp.Addr(l.linkLocal.String()))
	if err != nil {
		return nil, err
	}
	// Solicitations to answer and advertisements to defend against; let the
	// kernel drop the rest of ICMPv6.
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeNeighborSolicitation)
	f.Accept(ipv6.ICMPTypeNeighborAdvertisement)
	if err := c.SetICMPFilter(&f); err != nil {
		c.Close()
		return nil, fmt.Errorf("setting ICMPv6 filter: %w", err)
	}
	// Hop limit and destination feed the RFC 4861 §7.1.1 checks in answerNS.
	if err := c.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst, true); err != nil {
		c.Close()
		return nil, fmt.Errorf("enabling control messages: %w", err)
	}
	return c, nil
}

func newNDPResponder(ctx context.Context, iface string, c *ndp.Conn, mac net.HardwareAddr, cfg Config, log logr.Logger, m *metrics, o openOptions) *responder {
	return newResponder(ctx, iface, "ndp", &ndpWire{conn: c, mac: mac, groups: map[netip.Addr]struct{}{}}, cfg, log, m, o)
}

func (w *ndpWire) serve(ctx context.Context, r *responder) {
	var b backoff
	for {
		// ReadFrom already skips malformed ICMPv6 and our own messages.
		m, cm, src, err := w.conn.ReadFrom()
		if err != nil {
			if !r.readFailed(ctx, err, &b) {
				return
			}
			continue
		}
		b.reset()
		in := solicitation{msg: m, src: src.WithZone("")}
		if cm != nil {
			in.hopLimit = cm.HopLimit
			in.dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		na, to, ok := answerNS(in, w.mac, r.has)
		if !ok {
			if ip, by, ok := claimedNA(in, w.mac); ok {
				r.defend(ip, by)
			}
			continue
		}
		if err := w.conn.WriteTo(na, nil, to); err != nil {
			// The kernel could not route a unicast reply to the solicitor, for
			// example because the prefix it sent from is no longer configured
			// here (IPv6 addresses go away on link down unless
			// keep_addr_on_down=1). A multicast NA without the Solicited flag
			// still completes the asker's INCOMPLETE entry (RFC 4861 §7.2.5);
			// a Solicited one would be dropped by Linux.
			r.log.V(1).Info("unicast NA failed; multicasting it", "ip", na.TargetAddress, "to", to, "error", err.Error())
			if err := w.conn.WriteTo(unsolicitedNA(na.TargetAddress, w.mac), nil, netip.IPv6LinkLocalAllNodes()); err != nil {
				r.log.Error(err, "sending neighbor advertisement", "ip", na.TargetAddress)
				continue
			}
		}
		r.m.ndpAnswered.WithLabelValues(r.iface).Inc()
	}
}

// announce sends one unsolicited Neighbor Advertisement for ip to all nodes.
func (w *ndpWire) announce(ip netip.Addr) error {
	if err := w.conn.WriteTo(unsolicitedNA(ip, w.mac), nil, netip.IPv6LinkLocalAllNodes()); err != nil {
		return fmt.Errorf("layer2: unsolicited NA for %s: %w", ip, err)
	}
	return nil
}

// sync joins the solicited-node group of every address and leaves groups no
// address needs any more. Several VIPs can share a group (same low 24 bits),
// so groups are diffed as sets, never joined or left per address.
func (w *ndpWire) sync(addrs []netip.Addr) error {
	want := solicitedNodeGroups(addrs)
	join, leave := diffGroups(w.groups, want)
	var errs []error
	for _, g := range join {
		if err := w.conn.JoinGroup(g); err != nil {
			errs = append(errs, fmt.Errorf("joining %s: %w", g, err))
			continue
		}
		w.groups[g] = struct{}{}
	}
	for _, g := range leave {
		if err := w.conn.LeaveGroup(g); err != nil {
			errs = append(errs, fmt.Errorf("leaving %s: %w", g, err))
		}
		delete(w.groups, g)
	}
	return errors.Join(errs...)
}

func (w *ndpWire) close() error { return w.conn.Close() }

// solicitation is one received NDP message with what the socket told us about
// it. Zero hopLimit or dst means the kernel did not say.
type solicitation struct {
	msg      ndp.Message
	src      netip.Addr
	dst      netip.Addr
	hopLimit int
}

// answerNS decides whether to answer in and builds the advertisement and its
// destination. It validates as RFC 4861 §7.1.1 requires and answers per
// §7.2.4.
//
// Duplicate address detection probes (source ::) for an announced address
// are answered with an NA to all nodes, Solicited flag clear, as the kernel
// does for its own addresses: the VIP is in use, and a host that configured it
// would black-hole part of the service's traffic. Staying silent would let the
// other host finish DAD and take the address.
func answerNS(in solicitation, mac net.HardwareAddr, announced func(netip.Addr) bool) (*ndp.NeighborAdvertisement, netip.Addr, bool) {
	ns, ok := in.msg.(*ndp.NeighborSolicitation)
	if !ok {
		return nil, netip.Addr{}, false
	}
	// Hop limit 255 proves the sender is on this link.
	if in.hopLimit != 0 && in.hopLimit != ndp.HopLimit {
		return nil, netip.Addr{}, false
	}
	target := ns.TargetAddress
	if !target.Is6() || target.Is4In6() || target.IsMulticast() || !announced(target) {
		return nil, netip.Addr{}, false
	}
	hasSourceLLA := false
	for _, o := range ns.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Source {
			hasSourceLLA = true
		}
	}
	src := in.src.WithZone("")
	switch {
	case src.IsUnspecified():
		// A DAD probe: must go to the target's solicited-node group and
		// carry no source link-layer address.
		if hasSourceLLA {
			return nil, netip.Addr{}, false
		}
		if in.dst.IsValid() {
			if snm, err := ndp.SolicitedNodeMulticast(target); err != nil || in.dst.WithZone("") != snm {
				return nil, netip.Addr{}, false
			}
		}
		return unsolicitedNA(target, mac), netip.IPv6LinkLocalAllNodes(), true
	case !src.Is6() || src.Is4In6() || src.IsMulticast():
		return nil, netip.Addr{}, false
	}
	return &ndp.NeighborAdvertisement{
		Solicited:     true,
		Override:      true,
		TargetAddress: target,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}, src, true
}

// claimedNA returns the address another station claims with an
// advertisement, and its MAC: an on-link NA whose target link-layer address
// is not ours. An NA without one names no MAC to argue with.
func claimedNA(in solicitation, own net.HardwareAddr) (netip.Addr, net.HardwareAddr, bool) {
	na, ok := in.msg.(*ndp.NeighborAdvertisement)
	if !ok || (in.hopLimit != 0 && in.hopLimit != ndp.HopLimit) {
		return netip.Addr{}, nil, false
	}
	if !na.TargetAddress.Is6() || na.TargetAddress.Is4In6() || na.TargetAddress.IsMulticast() {
		return netip.Addr{}, nil, false
	}
	for _, o := range na.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target && len(lla.Addr) == 6 && !bytes.Equal(lla.Addr, own) {
			return na.TargetAddress, lla.Addr, true
		}
	}
	return netip.Addr{}, nil, false
}

// unsolicitedNA is the advertisement sent to all nodes on take-over: Override
// so neighbours replace the old owner's MAC, not Solicited so they keep the
// entry STALE and confirm it on next use.
func unsolicitedNA(target netip.Addr, mac net.HardwareAddr) *ndp.NeighborAdvertisement {
	return &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: target,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}
}

// solicitedNodeGroups returns the solicited-node multicast group of every
// IPv6 address in addrs.
func solicitedNodeGroups(addrs []netip.Addr) map[netip.Addr]struct{} {
	groups := make(map[netip.Addr]struct{}, len(addrs))
	for _, a := range addrs {
		if g, err := ndp.SolicitedNodeMulticast(a); err == nil {
			groups[g] = struct{}{}
		}
	}
	return groups
}

// diffGroups returns the groups to join and to leave, each sorted.
func diffGroups(have, want map[netip.Addr]struct{}) (join, leave []netip.Addr) {
	for g := range want {
		if _, ok := have[g]; !ok {
			join = append(join, g)
		}
	}
	for g := range have {
		if _, ok := want[g]; !ok {
			leave = append(leave, g)
		}
	}
	sortAddrs(join)
	sortAddrs(leave)
	return join, leave
}
