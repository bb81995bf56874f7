package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
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
	if err := c.FlushNeighbour(ctx, ip); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(resolveWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	a := NewAsker(c.Lab.Client)
	defer a.Close()
	var mac net.HardwareAddr
	if err := a.Ask(ip, deadline, func(f Frame) bool { mac = f.MAC; return false }); err != nil {
		return nil, err
	}
	if mac == nil {
		return nil, fmt.Errorf("%w for %s within %v", ErrNoAnswer, ip, resolveWait)
	}
	return mac, nil
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
