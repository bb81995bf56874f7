package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
)

// ErrNoAnswer is returned by Resolve when nobody answered in time.
var ErrNoAnswer = errors.New("cluster: no ARP/NDP answer")

// resolveWait is how long Resolve waits for an answer when ctx allows more.
const resolveWait = time.Second

// Resolve asks, from the client, who has ip: one ARP request (IPv4) or one
// Neighbor Solicitation to ip's solicited-node group (IPv6), sent from a
// socket of its own, and returns the MAC of the first answer (the ARP
// sender or the NA's target link-layer address). It waits up to a second,
// less if ctx ends sooner, and returns ErrNoAnswer if nobody answered. It
// first flushes the client kernel's neighbour entry for ip, so that the
// next Dial resolves afresh too.
func (c *Cluster) Resolve(ctx context.Context, ip netip.Addr) (net.HardwareAddr, error) {
	h := c.Lab.Client
	if err := c.FlushNeighbour(ctx, ip); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(resolveWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var mac net.HardwareAddr
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.Interface)
		if err != nil {
			return err
		}
		if ip.Is4() {
			mac, err = resolveARP(ifi, ip, deadline)
		} else {
			mac, err = resolveNDP(ifi, ip, deadline)
		}
		return err
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, fmt.Errorf("%w for %s within %v", ErrNoAnswer, ip, resolveWait)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: resolving %s from the client: %w", ip, err)
	}
	return mac, nil
}

func resolveARP(ifi *net.Interface, ip netip.Addr, deadline time.Time) (net.HardwareAddr, error) {
	cl, err := arp.Dial(ifi)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := cl.SetDeadline(deadline); err != nil {
		return nil, err
	}
	return cl.Resolve(ip)
}

func resolveNDP(ifi *net.Interface, ip netip.Addr, deadline time.Time) (net.HardwareAddr, error) {
	conn, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	group, err := ndp.SolicitedNodeMulticast(ip)
	if err != nil {
		return nil, err
	}
	ns := &ndp.NeighborSolicitation{TargetAddress: ip, Options: []ndp.Option{
		&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr},
	}}
	if err := conn.WriteTo(ns, nil, group); err != nil {
		return nil, err
	}
	for {
		m, _, _, err := conn.ReadFrom()
		if err != nil {
			return nil, err
		}
		na, ok := m.(*ndp.NeighborAdvertisement)
		if !ok || na.TargetAddress != ip {
			continue
		}
		for _, o := range na.Options {
			if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
				return lla.Addr, nil
			}
		}
	}
}

// FlushNeighbour removes the client kernel's neighbour entry for ip, so the
// next connection resolves it afresh.
func (c *Cluster) FlushNeighbour(ctx context.Context, ip netip.Addr) error {
	fam := "-4"
	if ip.Is6() {
		fam = "-6"
	}
	return c.ipIn(ctx, c.Lab.Client.Namespace, fam, "neigh", "flush", "to", ip.String())
}

// dialTimeout bounds a Dial when ctx allows more.
const dialTimeout = 2 * time.Second

// Dial connects from the client to ip:port over TCP, through the client
// kernel's neighbour cache as any LAN host would, and returns the line the
// podserver answered (without the newline). It gives up after two seconds,
// or sooner if ctx ends.
func (c *Cluster) Dial(ctx context.Context, ip netip.Addr, port int) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	target := netip.AddrPortFrom(ip, uint16(port)).String()
	var line string
	err := c.Lab.Client.Do(func() error {
		// The socket is made on this thread, so in the client's namespace.
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return err
		}
		defer conn.Close()
		if dl, ok := ctx.Deadline(); ok {
			conn.SetDeadline(dl)
		}
		line, err = bufio.NewReader(conn).ReadString('\n')
		return err
	})
	if err != nil {
		return "", fmt.Errorf("cluster: dial %s from the client: %w", target, err)
	}
	return strings.TrimSpace(line), nil
}

// ClientAddr returns the "client=" address of a podserver line: the source
// address the pod saw.
func ClientAddr(line string) (netip.Addr, error) {
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, "client="); ok {
			ap, err := netip.ParseAddrPort(v)
			if err != nil {
				return netip.Addr{}, fmt.Errorf("cluster: podserver line %q: %w", line, err)
			}
			return ap.Addr().Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("cluster: podserver line %q has no client=", line)
}
