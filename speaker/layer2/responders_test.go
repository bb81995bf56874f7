package layer2

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
)

// TestRunReportsMissingInterface runs the real Responders in the test's own
// namespace (listing links needs no privileges) with only a missing
// interface named, so no socket is ever opened.
func TestRunReportsMissingInterface(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(Config{}, testr.New(t))
		a.Set(map[netip.Addr][]string{vip4: {"pl2-missing0"}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		synctest.Wait() // first reconcile done, Run waits for the ticker

		err := a.Healthy()
		if err == nil || !strings.Contains(err.Error(), `interface "pl2-missing0": not found`) {
			t.Errorf("Healthy() = %v, want the missing interface named", err)
		}
		if err := a.Run(ctx); err == nil {
			t.Error("a second concurrent Run succeeded")
		}

		// Dropping the request clears the problem at once (Set kicks Run).
		a.Set(nil)
		synctest.Wait()
		if err := a.Healthy(); err != nil {
			t.Errorf("Healthy() after Set(nil) = %v", err)
		}

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
}

// TestStampRelinked: the quiet period after a flap runs from the scan that
// first saw the link usable again, whether or not anything was opened on it
// then; a responder opened later (say, when a hold-down ends) is not quiet.
func TestStampRelinked(t *testing.T) {
	start := time.Unix(1000, 0)
	up := link{name: "eth0", flags: net.FlagUp | net.FlagRunning, mac: []byte{2, 0, 0, 0, 0, 1}}
	down := up
	down.flags = net.FlagUp // no carrier
	relinked := map[string]time.Time{"eth0": {}}

	stampRelinked(relinked, map[string]link{"eth0": down}, start, 500*time.Millisecond)
	if back := relinked["eth0"]; !back.IsZero() {
		t.Fatalf("stamped %v while the link is down", back)
	}
	stampRelinked(relinked, map[string]link{"eth0": up}, start.Add(time.Second), 500*time.Millisecond)
	if back := relinked["eth0"]; !back.Equal(start.Add(time.Second)) {
		t.Fatalf("stamped %v, want the first scan that saw it up", back)
	}
	stampRelinked(relinked, map[string]link{"eth0": up}, start.Add(1200*time.Millisecond), 500*time.Millisecond)
	if _, ok := relinked["eth0"]; !ok {
		t.Fatal("forgotten before the delay passed")
	}
	stampRelinked(relinked, map[string]link{"eth0": up}, start.Add(2*time.Second), 500*time.Millisecond)
	if _, ok := relinked["eth0"]; ok {
		t.Fatal("still remembered after the delay passed")
	}
}

// slowSockets is the socket boundary with one link, test0, whose ARP socket
// opens only when the test says so.
type slowSockets struct {
	link    link
	dialing chan struct{} // closed when dialARP is entered
	release chan struct{} // dialARP returns once it is closed
	client  *arp.Client
}

func (s *slowSockets) listLinks() (map[string]link, error) {
	return map[string]link{s.link.name: s.link}, nil
}

func (s *slowSockets) dialARP(link) (*arp.Client, error) {
	close(s.dialing)
	<-s.release
	return s.client, nil
}

func (s *slowSockets) listenNDP(link) (*ndp.Conn, error) {
	return nil, errors.New("no NDP in this test")
}

// TestSetDuringOpen: while reconcile opens a socket, which in production
// goes through the namespace thread and the kernel, Set and Healthy return
// at once (the election must not queue behind sockets), and the responder,
// once open, serves the desired set as Set last left it.
func TestSetDuringOpen(t *testing.T) {
	c, conn := newFakeARPClient(t, "test0")
	s := &slowSockets{
		link: link{index: 100, name: "test0", mac: ownMAC, flags: net.FlagUp | net.FlagRunning,
			prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")}},
		dialing: make(chan struct{}), release: make(chan struct{}), client: c,
	}
	a := New(Config{GratuitousCount: 1}, testr.New(t))
	a.sockets = s
	a.Set(map[netip.Addr][]string{vip4: nil})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// The bounds only turn a hang (the old lock held across the open) into
	// a failure; nothing here waits for time to pass.
	select {
	case <-s.dialing:
	case <-time.After(10 * time.Second):
		t.Fatal("reconcile never opened the ARP socket")
	}
	returned := make(chan struct{})
	go func() {
		a.Set(map[netip.Addr][]string{vip4: nil, other4: nil})
		_ = a.Healthy()
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		close(s.release)
		t.Fatal("Set and Healthy waited on a socket open")
	}
	close(s.release)

	// Both addresses are announced: the one of the Set before the open and
	// the one Set added during it.
	deadline := time.Now().Add(10 * time.Second)
	seen := map[netip.Addr]bool{}
	for !(seen[vip4] && seen[other4]) && time.Now().Before(deadline) {
		for _, f := range conn.take() {
			seen[f.pkt.SenderIP] = true
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !seen[vip4] || !seen[other4] {
		t.Errorf("gratuitous ARP for %v, want %s and %s", seen, vip4, other4)
	}
}
