package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// e2etest's one ARP/NDP observer. Two ways to look, one decoding:
//   - Capture listens passively on the nodes' links and records every
//     announcement each node sends (parseFrame: Ethernet, IPv6 and the
//     ARP/NDP payload, all decoded by the mdlayher packages).
//   - Asker asks from a lab host who has an address and hands over the
//     answers (mdlayher/arp and mdlayher/ndp sockets), for Resolve and the
//     failover bench's split-brain watcher.
// Both turn what they read into a Frame with arpFrame and naFrame.

// FrameKind says what a captured frame announced.
type FrameKind int

const (
	// ARPReply answers an ARP request.
	ARPReply FrameKind = iota + 1
	// GratuitousARP is an ARP request or reply whose sender and target IP
	// are the same: a node announcing that it now has the address.
	GratuitousARP
	// SolicitedNA is a Neighbor Advertisement answering a solicitation.
	SolicitedNA
	// UnsolicitedNA is a Neighbor Advertisement nobody asked for: IPv6's
	// gratuitous ARP.
	UnsolicitedNA
)

func (k FrameKind) String() string {
	switch k {
	case ARPReply:
		return "arp-reply"
	case GratuitousARP:
		return "gratuitous-arp"
	case SolicitedNA:
		return "solicited-na"
	case UnsolicitedNA:
		return "unsolicited-na"
	}
	return fmt.Sprintf("FrameKind(%d)", int(k))
}

// Frame is one announcement a node sent.
type Frame struct {
	Time time.Time
	Node string           // the node whose link the frame came from
	MAC  net.HardwareAddr // the MAC it announced for IP
	Kind FrameKind
	IP   netip.Addr // the address announced
}

func (f Frame) String() string {
	return fmt.Sprintf("%s %s %s %s is-at %s", f.Time.Format("15:04:05.000"), f.Node, f.Kind, f.IP, f.MAC)
}

// Capture records every ARP reply, gratuitous ARP and Neighbor
// Advertisement the nodes send, whoever they are for. It reads the
// root-side ends of the nodes' veths with AF_PACKET sockets, so it sees
// unicast answers to the client as well as broadcasts, and knows which node
// sent each frame whatever MAC the frame claims.
type Capture struct {
	mu     sync.Mutex
	frames []Frame
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Capture starts capturing; it is recording when Capture returns. Call Stop
// when done.
func (c *Cluster) Capture() (*Capture, error) {
	cp := &Capture{stop: make(chan struct{})}
	var conns []*packet.Conn
	for _, h := range c.Lab.Nodes {
		conn, err := listenLink(h.HostLink)
		if err != nil {
			for _, conn := range conns {
				conn.Close()
			}
			return nil, fmt.Errorf("cluster: capture on %s (%s): %w", h.HostLink, h.Name, err)
		}
		conns = append(conns, conn)
		cp.wg.Go(func() { cp.read(conn, h.Name) })
	}
	return cp, nil
}

// sentByNode is the kernel-side filter of a capture socket: ARP and IPv6
// frames that the node sent. Frames the bridge sends to the node are
// PACKET_OUTGOING on the root-side end of its veth and are dropped, so a
// node never gets the credit for another's broadcast.
func sentByNode() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 3},
		bpf.LoadAbsolute{Off: 12, Size: 2}, // the EtherType
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_ARP, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IPV6, SkipTrue: 1},
		bpf.RetConstant{Val: 0},       // drop
		bpf.RetConstant{Val: 1 << 16}, // keep up to 64 KiB
	}
}

// listenLink opens an AF_PACKET socket on link, in the root namespace. The
// filter goes on before bind, so no other frame slips in first.
func listenLink(link string) (*packet.Conn, error) {
	ifi, err := net.InterfaceByName(link)
	if err != nil {
		return nil, err
	}
	prog, err := bpf.Assemble(sentByNode())
	if err != nil {
		return nil, err
	}
	conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: prog})
	if err != nil {
		return nil, err
	}
	if rc, err := conn.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20) })
	}
	return conn, nil
}

// read records the announcements in the frames node sends until Stop. It
// reads with a short deadline, so it notices Stop, and drains what has
// arrived before it does.
func (cp *Capture) read(conn *packet.Conn, node string) {
	defer conn.Close()
	buf := make([]byte, 65536)
	for {
		if err := conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			return
		}
		n, _, err := conn.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			select {
			case <-cp.stop:
				return
			default:
				continue
			}
		}
		if err != nil {
			return
		}
		if f, ok := parseFrame(buf[:n]); ok {
			f.Time, f.Node = time.Now(), node
			cp.mu.Lock()
			cp.frames = append(cp.frames, f)
			cp.mu.Unlock()
		}
	}
}

// parseFrame decodes an Ethernet frame that carries an announcement.
func parseFrame(b []byte) (Frame, bool) {
	var eth ethernet.Frame
	if err := eth.UnmarshalBinary(b); err != nil {
		return Frame{}, false
	}
	switch eth.EtherType {
	case ethernet.EtherTypeARP:
		var p arp.Packet
		if err := p.UnmarshalBinary(eth.Payload); err != nil {
			return Frame{}, false
		}
		return arpFrame(&p)
	case ethernet.EtherTypeIPv6:
		h, err := ipv6.ParseHeader(eth.Payload)
		if err != nil || h.NextHeader != unix.IPPROTO_ICMPV6 {
			return Frame{}, false
		}
		m, err := ndp.ParseMessage(eth.Payload[ipv6.HeaderLen:])
		if err != nil {
			return Frame{}, false
		}
		na, ok := m.(*ndp.NeighborAdvertisement)
		if !ok {
			return Frame{}, false
		}
		return naFrame(na, slices.Clone(eth.Source)), true
	}
	return Frame{}, false
}

// arpFrame is what an ARP packet announces: a reply, or a gratuitous ARP
// (request or reply whose sender and target IP are the same). ok is false
// for a plain request.
func arpFrame(p *arp.Packet) (f Frame, ok bool) {
	f = Frame{MAC: p.SenderHardwareAddr, IP: p.SenderIP}
	switch {
	case p.SenderIP == p.TargetIP:
		f.Kind = GratuitousARP
	case p.Operation == arp.OperationReply:
		f.Kind = ARPReply
	default:
		return Frame{}, false
	}
	return f, true
}

// naFrame is what a Neighbor Advertisement announces: its target address at
// its target link-layer address, or at src (the sender's MAC, if known)
// without that option.
func naFrame(na *ndp.NeighborAdvertisement, src net.HardwareAddr) Frame {
	f := Frame{MAC: src, IP: na.TargetAddress, Kind: UnsolicitedNA}
	if na.Solicited {
		f.Kind = SolicitedNA
	}
	for _, o := range na.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
			f.MAC = lla.Addr
		}
	}
	return f
}

// Frames returns what was captured so far, in order.
func (cp *Capture) Frames() []Frame {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return slices.Clone(cp.frames)
}

// Stop ends the capture and returns every frame captured. It is idempotent.
func (cp *Capture) Stop() []Frame {
	cp.mu.Lock()
	select {
	case <-cp.stop:
	default:
		close(cp.stop)
	}
	cp.mu.Unlock()
	cp.wg.Wait()
	return cp.Frames()
}

// For returns the captured frames that announce ip, of the given kinds (all
// kinds if none are given), captured at or after since (everything with a
// zero since).
func (cp *Capture) For(ip netip.Addr, since time.Time, kinds ...FrameKind) []Frame {
	var out []Frame
	for _, f := range cp.Frames() {
		if f.IP == ip && !f.Time.Before(since) && (len(kinds) == 0 || slices.Contains(kinds, f.Kind)) {
			out = append(out, f)
		}
	}
	return out
}

// Senders returns the nodes that sent frames, sorted, each once.
func Senders(frames []Frame) []string {
	var out []string
	for _, f := range frames {
		if !slices.Contains(out, f.Node) {
			out = append(out, f.Node)
		}
	}
	slices.Sort(out)
	return out
}

// Asker asks, from one lab host, who has an address. It opens its ARP or
// NDP socket in the host's namespace on the first question of that family
// and keeps it until Close; one question at a time.
type Asker struct {
	h   *netlab.Host
	ifi *net.Interface
	arp *arp.Client
	ndp *ndp.Conn
}

// NewAsker returns an Asker for h; it opens nothing yet.
func NewAsker(h *netlab.Host) *Asker { return &Asker{h: h} }

// Ask sends one ARP request (IPv4) or one Neighbor Solicitation to ip's
// solicited-node group (IPv6) and calls answer with every answer to it, in
// the order they arrive, until answer returns false or deadline passes. An
// answer is an ARP reply from ip to this host (a gratuitous ARP is none) or
// a Neighbor Advertisement for ip with a target link-layer address; its
// Frame has Time set and Node empty. Running out of time is no error.
func (a *Asker) Ask(ip netip.Addr, deadline time.Time, answer func(Frame) bool) error {
	if err := a.open(ip.Is4()); err != nil {
		return fmt.Errorf("cluster: asking from %s: %w", a.h.Name, err)
	}
	var err error
	if ip.Is4() {
		err = a.askARP(ip, deadline, answer)
	} else {
		err = a.askNDP(ip, deadline, answer)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster: asking from %s who has %s: %w", a.h.Name, ip, err)
	}
	return nil
}

// open opens the family's socket in the host's namespace, once.
func (a *Asker) open(v4 bool) error {
	if (v4 && a.arp != nil) || (!v4 && a.ndp != nil) {
		return nil
	}
	return a.h.Do(func() (err error) {
		if a.ifi == nil {
			if a.ifi, err = net.InterfaceByName(a.h.Interface); err != nil {
				return err
			}
		}
		if v4 {
			a.arp, err = arp.Dial(a.ifi)
			return err
		}
		// ndp names the link in the zones of the addresses it listens on
		// and sends to (fe80::1%eth0), and Go turns zone names into indexes
		// through one process-wide cache, filled from whichever namespace
		// looked last: every lab host has an eth0, and so may the root
		// namespace. A zone that is the index itself needs no lookup, so
		// the socket works from any thread.
		byIndex := *a.ifi
		byIndex.Name = strconv.Itoa(a.ifi.Index)
		a.ndp, _, err = ndp.Listen(&byIndex, ndp.LinkLocal)
		return err
	})
}

func (a *Asker) askARP(ip netip.Addr, deadline time.Time, answer func(Frame) bool) error {
	if err := a.arp.SetDeadline(deadline); err != nil {
		return err
	}
	if err := a.arp.Request(ip); err != nil {
		return err
	}
	for {
		p, _, err := a.arp.Read()
		if err != nil {
			return err
		}
		if p.TargetIP != a.h.IPv4 || p.SenderIP != ip {
			continue
		}
		if f, ok := arpFrame(p); ok && f.Kind == ARPReply {
			f.Time = time.Now()
			if !answer(f) {
				return nil
			}
		}
	}
}

func (a *Asker) askNDP(ip netip.Addr, deadline time.Time, answer func(Frame) bool) error {
	if err := a.ndp.SetDeadline(deadline); err != nil {
		return err
	}
	group, err := ndp.SolicitedNodeMulticast(ip)
	if err != nil {
		return err
	}
	ns := &ndp.NeighborSolicitation{TargetAddress: ip, Options: []ndp.Option{
		&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: a.ifi.HardwareAddr},
	}}
	if err := a.ndp.WriteTo(ns, nil, group); err != nil {
		return err
	}
	for {
		m, _, _, err := a.ndp.ReadFrom()
		if err != nil {
			return err
		}
		na, ok := m.(*ndp.NeighborAdvertisement)
		if !ok || na.TargetAddress != ip {
			continue
		}
		// No Ethernet source here: an answer must say its MAC itself.
		if f := naFrame(na, nil); f.MAC != nil {
			f.Time = time.Now()
			if !answer(f) {
				return nil
			}
		}
	}
}

// Close closes the sockets.
func (a *Asker) Close() error {
	var errs []error
	if a.arp != nil {
		errs = append(errs, a.arp.Close())
	}
	if a.ndp != nil {
		errs = append(errs, a.ndp.Close())
	}
	return errors.Join(errs...)
}
