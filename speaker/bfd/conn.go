package bfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// The UDP ports of RFC 5881 §4 and RFC 5883 §5.
const (
	DefaultPort         = 3784
	DefaultMultihopPort = 4784
)

// Source ports: RFC 5881 §4 requires 49152–65535, above Linux's default
// ephemeral range, so the port is picked here rather than by the kernel.
const (
	minSourcePort   = 49152
	maxSourcePort   = 65535
	sourcePortTries = 64 // a bound: a system out of ports gets an error, not a spin
)

// gtsmTTL is the TTL (hop limit) every packet is sent with, and that a
// single-hop packet must arrive with (RFC 5881 §5, the GTSM of RFC 5082):
// a packet from beyond the link cannot arrive with 255.
const gtsmTTL = 255

// listenerKey names one receive socket: a family and a hop mode.
type listenerKey struct {
	v6, multihop bool
}

func (k listenerKey) String() string {
	s := "single-hop"
	if k.multihop {
		s = "multihop"
	}
	if k.v6 {
		return s + " IPv6"
	}
	return s + " IPv4"
}

// listener is one receive socket with the received TTL (hop limit)
// delivered as a control message. It reads; it does not parse BFD.
type listener struct {
	key  listenerKey
	conn *net.UDPConn
	oob  []byte // control message space; only the receive goroutine uses it
}

// listen opens the wildcard receive socket for k on port.
func listen(k listenerKey, port uint16) (*listener, error) {
	network, addr := "udp4", netip.IPv4Unspecified()
	if k.v6 {
		network, addr = "udp6", netip.IPv6Unspecified()
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, port)))
	if err != nil {
		return nil, fmt.Errorf("bfd: %v listener on port %d: %w", k, port, err)
	}
	l := &listener{key: k, conn: c}
	if k.v6 {
		err = ipv6.NewPacketConn(c).SetControlMessage(ipv6.FlagHopLimit, true)
		l.oob = ipv6.NewControlMessage(ipv6.FlagHopLimit)
	} else {
		err = ipv4.NewPacketConn(c).SetControlMessage(ipv4.FlagTTL, true)
		l.oob = ipv4.NewControlMessage(ipv4.FlagTTL)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("bfd: %v listener on port %d: receiving the TTL: %w", k, port, err)
	}
	return l, nil
}

// read receives one datagram into b. ttl is -1 when the kernel gave none,
// which the caller refuses like any wrong TTL. It does not allocate.
func (l *listener) read(b []byte) (n int, src netip.AddrPort, ttl int, err error) {
	n, oobn, _, src, err := l.conn.ReadMsgUDPAddrPort(b, l.oob)
	if err != nil {
		return 0, src, -1, err
	}
	return n, netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), receivedTTL(l.oob[:oobn], l.key.v6), nil
}

// receivedTTL finds the IP_TTL (IPV6_HOPLIMIT) control message in oob,
// walking it in place: x/net's ControlMessage.Parse allocates a slice per
// packet. -1 if there is none.
func receivedTTL(oob []byte, v6 bool) int {
	level, typ := int32(unix.IPPROTO_IP), int32(unix.IP_TTL)
	if v6 {
		level, typ = unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT
	}
	for range 8 { // a bound: we asked for one message
		if len(oob) == 0 {
			break
		}
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		if h.Level == level && h.Type == typ && len(data) >= 4 {
			// An int in host order (ip(7), ipv6(7)); only the low byte
			// can be set, so it reads the same either way round.
			return int(binary.NativeEndian.Uint32(data))
		}
		oob = rest
	}
	return -1
}

// dialSource opens a session's transmit socket: bound to local (the
// unspecified address of the family if invalid) on a source port in
// 49152–65535, kept for the session's life (RFC 5881 §4), sending with TTL
// 255.
func dialSource(local netip.Addr, v6 bool, rng *rand.Rand) (*net.UDPConn, error) {
	network := "udp4"
	if v6 {
		network = "udp6"
	}
	if !local.IsValid() {
		local = netip.IPv4Unspecified()
		if v6 {
			local = netip.IPv6Unspecified()
		}
	}
	var err error
	for range sourcePortTries {
		port := uint16(minSourcePort + rng.IntN(maxSourcePort-minSourcePort+1))
		var c *net.UDPConn
		c, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, port)))
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("bfd: source socket on %v: %w", local, err)
		}
		if v6 {
			err = ipv6.NewConn(c).SetHopLimit(gtsmTTL)
		} else {
			err = ipv4.NewConn(c).SetTTL(gtsmTTL)
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("bfd: source socket on %v: setting TTL %d: %w", local, gtsmTTL, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("bfd: source socket on %v: no free port in %d–%d after %d tries: %w", local, minSourcePort, maxSourcePort, sourcePortTries, err)
}
