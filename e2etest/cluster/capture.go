package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"golang.org/x/sys/unix"
)

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
	var fds []int
	for _, h := range c.Lab.Nodes {
		fd, err := openPacketSocket(h.HostLink)
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, fmt.Errorf("cluster: capture on %s (%s): %w", h.HostLink, h.Name, err)
		}
		fds = append(fds, fd)
		cp.wg.Go(func() { cp.read(fd, h.Name) })
	}
	return cp, nil
}

// openPacketSocket opens an AF_PACKET socket bound to link, in the root
// namespace, with a short receive timeout so the reader notices Stop.
func openPacketSocket(link string) (int, error) {
	ifi, err := net.InterfaceByName(link)
	if err != nil {
		return -1, err
	}
	// Protocol 0 receives nothing until bind names the link and protocol,
	// so no frame of another link slips in before.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	all := htons(unix.ETH_P_ALL)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: all, Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read records the announcements in the frames node sends until Stop.
func (cp *Capture) read(fd int, node string) {
	defer unix.Close(fd)
	buf := make([]byte, 65536)
	for {
		select {
		case <-cp.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		// Frames the bridge sends to the node are PACKET_OUTGOING here;
		// only what the node sends counts.
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
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
	const ethHdr, ipv6Hdr = 14, 40
	if len(b) < ethHdr {
		return Frame{}, false
	}
	src := net.HardwareAddr(slices.Clone(b[6:12]))
	switch binary.BigEndian.Uint16(b[12:14]) {
	case unix.ETH_P_ARP:
		var p arp.Packet
		if err := p.UnmarshalBinary(b[ethHdr:]); err != nil {
			return Frame{}, false
		}
		f := Frame{MAC: p.SenderHardwareAddr, IP: p.SenderIP}
		switch {
		case p.SenderIP == p.TargetIP:
			f.Kind = GratuitousARP
		case p.Operation == arp.OperationReply:
			f.Kind = ARPReply
		default:
			return Frame{}, false
		}
		return f, true
	case unix.ETH_P_IPV6:
		ip := b[ethHdr:]
		if len(ip) < ipv6Hdr || ip[6] != unix.IPPROTO_ICMPV6 {
			return Frame{}, false
		}
		m, err := ndp.ParseMessage(ip[ipv6Hdr:])
		if err != nil {
			return Frame{}, false
		}
		na, ok := m.(*ndp.NeighborAdvertisement)
		if !ok {
			return Frame{}, false
		}
		f := Frame{MAC: src, IP: na.TargetAddress, Kind: UnsolicitedNA}
		if na.Solicited {
			f.Kind = SolicitedNA
		}
		for _, o := range na.Options {
			if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
				f.MAC = lla.Addr
			}
		}
		return f, true
	}
	return Frame{}, false
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
