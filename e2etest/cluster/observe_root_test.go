package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/arp"

	"github.com/portico-lb/portico/e2etest/netlab"
	"github.com/portico-lb/portico/internal/roottier"
)

// Root tier: a two-node lab without a cluster, for the observer's sockets.

func newObserverLab(t *testing.T) *netlab.Lab {
	roottier.Require(t)
	l, err := netlab.Create(t.Context(), netlab.Options{Nodes: 2, NoClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Destroy(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// TestCaptureCreditsTheSender: node-2's broadcast gratuitous ARPs reach
// node-1's bridge port too (as PACKET_OUTGOING); the capture must credit
// them to node-2 alone, or every announcement would look like a split.
func TestCaptureCreditsTheSender(t *testing.T) {
	l := newObserverLab(t)
	cp, err := (&Cluster{Lab: l}).Capture()
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	vip, _ := l.Addr(netlab.PoolFirst)
	n2 := l.Nodes[1]
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	err = n2.Do(func() error {
		ifi, err := net.InterfaceByName(n2.Interface)
		if err != nil {
			return err
		}
		cl, err := arp.Dial(ifi)
		if err != nil {
			return err
		}
		defer cl.Close()
		p, err := arp.NewPacket(arp.OperationRequest, n2.MAC, vip, bcast, vip)
		if err != nil {
			return err
		}
		for range 3 {
			if err := cl.WriteTo(p, bcast); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every frame is on the wire; wait until the capture has read all
	// three, and a little longer for any it should not have.
	if err := netlab.Poll(t.Context(), 20*time.Millisecond, 2*time.Second, "three captured frames", func(ctx context.Context) error {
		if n := len(cp.Frames()); n < 3 {
			return fmt.Errorf("%d captured", n)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	time.Sleep(200 * time.Millisecond)
	frames := cp.Stop()
	if len(frames) != 3 {
		t.Errorf("captured %d frames, want node-2's 3: %v", len(frames), frames)
	}
	for _, f := range frames {
		if f.Node != n2.Name || f.Kind != GratuitousARP || f.IP != vip || !slices.Equal(f.MAC, n2.MAC) {
			t.Errorf("captured %v; want node-2's gratuitous ARP for %s", f, vip)
		}
	}
}

// TestAsker: node-1 asks who has node-2's addresses; node-2's kernel
// answers ARP and NDP for its own addresses with its MAC. (The NDP question
// must be sent from node-1's namespace: its zone names node-1's eth0.)
func TestAsker(t *testing.T) {
	l := newObserverLab(t)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	a := NewAsker(n1)
	defer a.Close()
	for _, ip := range []netip.Addr{n2.IPv4, n2.IPv6} {
		var got []Frame
		if err := a.Ask(ip, time.Now().Add(2*time.Second), func(f Frame) bool { got = append(got, f); return false }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !slices.Equal(got[0].MAC, n2.MAC) || got[0].IP != ip {
			t.Errorf("asking for %s: %v; want one answer, %s at %s", ip, got, ip, n2.MAC)
		}
	}
	// Nobody has an address of the pool: no answer, and no error.
	vip, _ := l.Addr(netlab.PoolFirst)
	called := false
	if err := a.Ask(vip, time.Now().Add(200*time.Millisecond), func(Frame) bool { called = true; return false }); err != nil || called {
		t.Errorf("asking for %s, which nobody has: answered %v, error %v", vip, called, err)
	}
}
