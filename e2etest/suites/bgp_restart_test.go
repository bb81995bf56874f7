package suites

import (
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/frr"
)

// testGracefulRestart turns on gracefulRestart for the BGPPeer peer, whose
// sessions carry host via every node in all, and shows what the router
// keeps: after a speaker's crash (kill -9: the TCP session closes, no
// NOTIFICATION) bgpd keeps node's path as stale and the FIB keeps routing
// through node (RFC 4724 §4.2); the restarted speaker's new session ends
// with an End-of-RIB that holds the path, so the route never leaves the FIB
// and the stale mark goes. A SIGTERM still withdraws at once: the Cease
// NOTIFICATION ends graceful restart for the session (RFC 4724 §4; GoBGP v3
// does not offer RFC 8538's N bit), so a node that is shut down stops
// attracting traffic.
func (b *bgpLab) testGracefulRestart(peer string, fam frr.Family, host netip.Prefix, all []netip.Addr, node string) {
	b.t.Helper()
	var p v1beta1.BGPPeer
	if err := b.c.Client.Get(b.ctx, client.ObjectKey{Name: peer}, &p); err != nil {
		b.t.Fatal(err)
	}
	p.Spec.GracefulRestart = true
	if err := b.c.Client.Update(b.ctx, &p); err != nil {
		b.t.Fatal(err)
	}
	// The changed peer resets its sessions; they come back with the
	// capability for the session's family.
	b.eventually(30*time.Second, fmt.Sprintf("sessions with %v Established with graceful restart", all), func() error {
		s, err := b.router.Neighbors(b.ctx)
		if err != nil {
			return err
		}
		for _, a := range all {
			if s[a].State != "Established" || s[a].RemoteGRMode != "Restart" || !slices.Equal(s[a].RestartFamilies, []string{string(fam) + "Unicast"}) {
				return fmt.Errorf("session with %s: %+v", a, s[a])
			}
		}
		return nil
	})
	b.waitFIB(host, all, 20*time.Second)
	addr := b.nodeAddrs(fam == frr.IPv6, node)[0]
	b.t.Logf("%s: sessions Established with graceful restart (Restart mode, %sUnicast) at the router", peer, fam)

	// kill -9: the path stays, stale.
	start := time.Now()
	if err := b.c.KillSpeaker(node, syscall.SIGKILL); err != nil {
		b.t.Fatal(err)
	}
	b.waitSessionsNot([]netip.Addr{addr}, "Established", 5*time.Second)
	b.eventually(5*time.Second, fmt.Sprintf("%s's path to %s stale", node, host), func() error {
		return b.pathStale(fam, host, addr, true)
	})
	// Without graceful restart the path left within ~0.1 s (the kill -9
	// case above); 3 s is well past that and the session's hold time.
	b.holdFIB(host, all, 3*time.Second)
	b.t.Logf("speaker on %s killed: its path to %s stale and still in the FIB %v later", node, host, time.Since(start).Round(time.Millisecond))

	// The restart: the FIB never loses the node, and the End-of-RIB clears
	// the stale mark.
	if err := b.c.StartSpeaker(node); err != nil {
		b.t.Fatal(err)
	}
	restarted := time.Now()
	var fresh time.Duration
	for deadline := restarted.Add(60 * time.Second); fresh == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.t.Fatalf("%s's path to %s still stale 60s after the speaker restarted", node, host)
		}
		if err := b.fibVia(fam, host, addr); err != nil { // the first gap fails the test
			b.t.Fatalf("%v after the speaker on %s restarted: %v", time.Since(restarted).Round(time.Millisecond), node, err)
		}
		if err := b.pathStale(fam, host, addr, false); err == nil {
			fresh = time.Since(restarted)
		}
	}
	b.waitFIB(host, all, 10*time.Second)
	b.t.Logf("speaker on %s restarted: %s never left the FIB; the path fresh again %v after the restart", node, host, fresh.Round(time.Millisecond))

	// SIGTERM: Cease, withdrawn.
	start = time.Now()
	if err := b.c.KillSpeaker(node, syscall.SIGTERM); err != nil {
		b.t.Fatal(err)
	}
	rest := slices.DeleteFunc(slices.Clone(all), func(a netip.Addr) bool { return a == addr })
	b.waitFIB(host, rest, 10*time.Second)
	d := time.Since(start)
	b.t.Logf("speaker on %s SIGTERM'd with graceful restart: its next hop left the FIB %v later (Cease ends graceful restart)", node, d.Round(time.Millisecond))
	if d > 5*time.Second {
		b.t.Errorf("next hop withdrawn %v after SIGTERM with graceful restart; want within 5s (Cease ends it)", d)
	}
	if err := b.c.StartSpeaker(node); err != nil {
		b.t.Fatal(err)
	}
	b.waitFIB(host, all, 30*time.Second)
}

// fibVia checks that the router's kernel routes p via hop, among others.
// The other nodes' hops are not its business: a restarted speaker can make
// a loaded lab's membership count another node out for a hold-down.
func (b *bgpLab) fibVia(fam frr.Family, p netip.Prefix, hop netip.Addr) error {
	fib, err := b.router.FIB(b.ctx, fam)
	if err != nil {
		return err
	}
	if r, ok := fib[p]; !ok || !slices.Contains(r.NextHops, hop) {
		return fmt.Errorf("the router's FIB routes %s via %v, not via %s", p, r.NextHops, hop)
	}
	return nil
}

// pathStale checks that bgpd's path to p from peer is there with its stale
// mark set as want.
func (b *bgpLab) pathStale(fam frr.Family, p netip.Prefix, peer netip.Addr, want bool) error {
	routes, err := b.router.Routes(b.ctx, fam)
	if err != nil {
		return err
	}
	for _, path := range routes[p] {
		if path.Peer == peer {
			if path.Stale != want {
				return fmt.Errorf("path from %s: stale %v", peer, path.Stale)
			}
			return nil
		}
	}
	return fmt.Errorf("no path from %s among %d", peer, len(routes[p]))
}
