package suites

import (
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/frr"
)

// bgpSelectLabel is the node label the node selectors of TestBGPPolicy
// select on.
const bgpSelectLabel = "portico-e2e/bgp"

// TestBGPPolicy checks what BGPAdvertisements and BGPPeers ask of the
// routes, as the real FRR router sees them: communities (standard,
// well-known, large) and localPref over an iBGP session, localPref left out
// over eBGP (with the advertisement's warning saying so), an aggregated
// /28, an advertisement limited to one peer, node selectors on a peer and
// on an advertisement, how fast a node's next hop goes when its speaker is
// killed (the TCP session closes) and when its link goes down (hold time
// 3 s), and eBGP to a router two hops away, which needs ebgpMultiHop.
func TestBGPPolicy(t *testing.T) {
	b := newBGPLab(t)
	nodes := b.otherNodes()
	all4, all6 := b.nodeAddrs(false), b.nodeAddrs(true)

	// The router's IPv6 neighbors become iBGP: the nodes speak AS 64512 there.
	for _, a := range all6 {
		if err := b.router.RemoveNeighbor(b.ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := b.router.AddNeighbor(b.ctx, frr.Neighbor{Addr: a, ASN: frr.DefaultASN}); err != nil {
			t.Fatal(err)
		}
	}
	b.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: cluster.Namespace, Name: "e2e-bgp-password"},
		Type: corev1.SecretTypeBasicAuth, StringData: map[string]string{"password": bgpPassword}})
	// eBGP over IPv4 with a 3 s hold time, for the link-down case.
	v4 := b.peer("pol-v4", b.rh.IPv4, frr.DefaultASN)
	v4.Spec.PasswordSecret = &v1beta1.SecretReference{Name: "e2e-bgp-password"}
	v4.Spec.HoldTime = &metav1.Duration{Duration: 3 * time.Second}
	v4.Spec.KeepaliveTime = &metav1.Duration{Duration: time.Second}
	b.create(v4)
	v6 := b.peer("pol-v6", b.rh.IPv6, frr.DefaultASN)
	v6.Spec.MyASN = frr.DefaultASN
	b.create(v6)

	attrs := cluster.Pool("pol-attrs", false, "198.51.100.20-198.51.100.23", "2001:db8:b6::20-2001:db8:b6::23")
	agg := cluster.Pool("pol-agg", false, "198.51.100.32/28")
	only := cluster.Pool("pol-only", false, "198.51.100.50-198.51.100.53", "2001:db8:b6::50-2001:db8:b6::53")
	for _, p := range []*v1beta1.IPAddressPool{attrs, agg, only} {
		b.create(p)
	}
	b.create(&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "pol-attrs"}, Spec: v1beta1.BGPAdvertisementSpec{
		IPAddressPools: []string{attrs.Name}, LocalPref: ptr.To[int64](250),
		Communities: []string{"65000:100", "no-export", "large:1:2:3"},
	}})
	aggAdv := &v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "pol-agg"}, Spec: v1beta1.BGPAdvertisementSpec{
		IPAddressPools: []string{agg.Name}, AggregationLength: ptr.To[int32](28),
		NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{bgpSelectLabel: "adv"}}},
	}}
	b.create(aggAdv)
	b.create(&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "pol-only"}, Spec: v1beta1.BGPAdvertisementSpec{
		IPAddressPools: []string{only.Name}, Peers: []string{v6.Name},
	}})
	start := time.Now()
	b.waitSessions(append(slices.Clone(all4), all6...), "Established", 30*time.Second)
	t.Logf("eBGP IPv4 and iBGP IPv6 sessions of %d nodes Established in %v", len(all4), time.Since(start).Round(time.Millisecond))

	p1, p2 := b.pod(nodes[0], "pol-web-1"), b.pod(nodes[1], "pol-web-2")
	svc := b.service("attrs", cluster.FromPool(attrs.Name), cluster.DualStack())
	b.expose(svc, p1, p2)
	vip4, vip6 := dualVIPs(t, svc)
	host4, host6 := netip.PrefixFrom(vip4, 32), netip.PrefixFrom(vip6, 128)

	// Communities and localPref.
	{
		t.Log("=== communities, and localPref over iBGP only")
		b.waitFIB(host4, all4, 20*time.Second)
		b.waitFIB(host6, all6, 20*time.Second)
		for _, c := range []struct {
			fam       frr.Family
			p         netip.Prefix
			localPref uint32
		}{{frr.IPv4, host4, 100}, {frr.IPv6, host6, 250}} {
			paths := b.routePaths(c.fam, c.p, len(all4))
			for _, p := range paths {
				comms := slices.Clone(p.Communities)
				slices.Sort(comms)
				if !slices.Equal(comms, []string{"65000:100", "noExport"}) && !slices.Equal(comms, []string{"65000:100", "no-export"}) {
					t.Errorf("%s from %s: communities %q; want 65000:100 and no-export", c.p, p.Peer, p.Communities)
				}
				if !slices.Equal(p.LargeCommunities, []string{"1:2:3"}) {
					t.Errorf("%s from %s: large communities %q; want 1:2:3", c.p, p.Peer, p.LargeCommunities)
				}
				if p.LocalPref != c.localPref {
					t.Errorf("%s from %s: local preference %d; want %d", c.p, p.Peer, p.LocalPref, c.localPref)
				}
			}
			t.Logf("%s: %d paths with communities %q, large %q, local preference %d (AS path %q)",
				c.p, len(paths), paths[0].Communities, paths[0].LargeCommunities, paths[0].LocalPref, paths[0].ASPath)
		}
		// The advertisement says why FRR sees no 250 over eBGP.
		b.eventually(10*time.Second, "BGPAdvertisement pol-attrs to warn that localPref is ignored for pol-v4", func() error {
			var adv v1beta1.BGPAdvertisement
			if err := b.c.Client.Get(b.ctx, client.ObjectKey{Name: "pol-attrs"}, &adv); err != nil {
				return err
			}
			c := meta.FindStatusCondition(adv.Status.Conditions, v1beta1.ConditionReady)
			if c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1beta1.ReasonLocalPrefIgnored ||
				!strings.Contains(c.Message, `"pol-v4"`) || strings.Contains(c.Message, "pol-v6") {
				return fmt.Errorf("condition %+v", c)
			}
			t.Logf("BGPAdvertisement pol-attrs: Ready=%s %s: %s", c.Status, c.Reason, c.Message)
			return nil
		})
	}

	// An advertisement for one peer only.
	{
		t.Log("=== an advertisement with peers: [pol-v6]")
		o := b.service("only", cluster.FromPool(only.Name), cluster.DualStack())
		b.expose(o, p1, p2)
		o4, o6 := dualVIPs(t, o)
		b.waitFIB(netip.PrefixFrom(o6, 128), all6, 20*time.Second)
		// The IPv4 sessions are up and carry the other pools, but not this one.
		b.holdFIB(netip.PrefixFrom(o4, 32), nil, 2*time.Second)
		b.waitFIB(host4, all4, time.Second)
		t.Logf("%s routed via every node's pol-v6 session; %s announced to no peer", o6, o4)
	}

	// Aggregation, and node selectors on an advertisement.
	{
		t.Log("=== aggregationLength 28, nodeSelectors on the advertisement")
		b.labelNode(nodes[1], bgpSelectLabel, ptr.To("adv"))
		a := b.service("agg", cluster.FromPool(agg.Name), cluster.SingleStack(corev1.IPv4Protocol))
		b.expose(a, p1, p2)
		ip := b.vip(a)
		p28 := netip.MustParsePrefix("198.51.100.32/28")
		took := b.waitFIB(p28, b.nodeAddrs(false, nodes[1]), 20*time.Second)
		b.holdFIB(p28, b.nodeAddrs(false, nodes[1]), 2*time.Second)
		routes, err := b.router.Routes(b.ctx, frr.IPv4)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := routes[netip.PrefixFrom(ip, 32)]; ok {
			t.Errorf("the router has a route to %s/32 too; want the /28 only", ip)
		}
		t.Logf("%s: the router has %s via %s only (the selected node) after %v, no /32", ip, p28, nodes[1], took.Round(time.Millisecond))
		if err := b.c.Client.Get(b.ctx, client.ObjectKeyFromObject(aggAdv), aggAdv); err != nil {
			t.Fatal(err)
		}
		aggAdv.Spec.NodeSelectors = nil
		if err := b.c.Client.Update(b.ctx, aggAdv); err != nil {
			t.Fatal(err)
		}
		took = b.waitFIB(p28, all4, 20*time.Second)
		t.Logf("without the selector: %s via all %d nodes after %v", p28, len(all4), took.Round(time.Millisecond))
	}

	// Node selectors on a peer.
	{
		t.Log("=== nodeSelectors on BGPPeer pol-v6")
		b.labelNode(nodes[0], bgpSelectLabel, ptr.To("peer"))
		if err := b.c.Client.Get(b.ctx, client.ObjectKeyFromObject(v6), v6); err != nil {
			t.Fatal(err)
		}
		v6.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{bgpSelectLabel: "peer"}}}
		if err := b.c.Client.Update(b.ctx, v6); err != nil {
			t.Fatal(err)
		}
		others := b.nodeAddrs(true, nodes[1], nodes[2])
		start := time.Now()
		b.waitSessionsNot(others, "Established", 20*time.Second)
		b.waitFIB(host6, b.nodeAddrs(true, nodes[0]), 10*time.Second)
		b.waitSessions(b.nodeAddrs(true, nodes[0]), "Established", time.Second)
		t.Logf("only %s keeps its pol-v6 session and route to %s (%v)", nodes[0], host6, time.Since(start).Round(time.Millisecond))
		if err := b.c.Client.Get(b.ctx, client.ObjectKeyFromObject(v6), v6); err != nil {
			t.Fatal(err)
		}
		v6.Spec.NodeSelectors = nil
		if err := b.c.Client.Update(b.ctx, v6); err != nil {
			t.Fatal(err)
		}
		b.waitSessions(all6, "Established", 30*time.Second)
		b.waitFIB(host6, all6, 20*time.Second)
	}

	// kill -9: the kernel closes the speaker's sockets.
	gone := nodes[2]
	rest := b.nodeAddrs(false, nodes[0], nodes[1])
	{
		t.Log("=== kill -9 of a speaker")
		start := time.Now()
		if err := b.c.KillSpeaker(gone, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		b.waitFIB(host4, rest, 10*time.Second)
		took := time.Since(start)
		t.Logf("speaker on %s killed: its next hop left the router's FIB %v after SIGKILL", gone, took.Round(time.Millisecond))
		if took > 3*time.Second {
			t.Errorf("next hop withdrawn %v after SIGKILL; want within 3s (the TCP session closes, no hold time)", took)
		}
		if err := b.c.StartSpeaker(gone); err != nil {
			t.Fatal(err)
		}
		b.waitFIB(host4, all4, 30*time.Second)
	}

	// Link down: only the hold time tells.
	{
		t.Log("=== link down of a node, hold time 3s")
		b.waitSessions(b.nodeAddrs(false, gone), "Established", 10*time.Second)
		start := time.Now()
		b.setLink(gone, false)
		b.waitFIB(host4, rest, 10*time.Second)
		took := time.Since(start)
		t.Logf("%s's link down: its next hop left the router's FIB %v later (hold time 3s)", gone, took.Round(time.Millisecond))
		if took > 4500*time.Millisecond {
			t.Errorf("next hop withdrawn %v after link down; want within the 3s hold time + 1.5s", took)
		}
		b.setLink(gone, true)
		b.waitFIB(host4, all4, 30*time.Second)
	}

	// eBGP two hops away.
	{
		t.Log("=== ebgpMultiHop to a router behind the lab router")
		far := b.farRouter(all4, all6)
		mh := b.peer("pol-far", farAddr, farASN)
		b.create(mh)
		// TTL 1: the lab router drops the SYN, so the session never comes up.
		for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			n, err := far.Neighbors(b.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range all4 {
				if n[a].State == "Established" {
					t.Fatalf("far router's session with %s Established without ebgpMultiHop", a)
				}
			}
		}
		s, err := b.session(nodes[0], mh.Name)
		t.Logf("without ebgpMultiHop after 4s: %s's session %s %q (%v)", nodes[0], s.State, s.LastError, err)
		if err := b.c.Client.Get(b.ctx, client.ObjectKeyFromObject(mh), mh); err != nil {
			t.Fatal(err)
		}
		mh.Spec.EBGPMultiHop = true
		if err := b.c.Client.Update(b.ctx, mh); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		b.eventually(30*time.Second, "the far router's sessions Established", func() error {
			n, err := far.Neighbors(b.ctx)
			if err != nil {
				return err
			}
			for _, a := range all4 {
				if n[a].State != "Established" {
					return fmt.Errorf("session with %s is %q", a, n[a].State)
				}
			}
			return nil
		})
		b.eventually(10*time.Second, fmt.Sprintf("%s from every node at the far router", host4), func() error {
			routes, err := far.Routes(b.ctx, frr.IPv4)
			if err != nil {
				return err
			}
			var hops []netip.Addr
			for _, p := range routes[host4] {
				hops = append(hops, p.NextHops...)
			}
			slices.SortFunc(hops, netip.Addr.Compare)
			if !slices.Equal(hops, all4) {
				return fmt.Errorf("next hops %v", hops)
			}
			return nil
		})
		t.Logf("with ebgpMultiHop: sessions to %s (two hops) Established and %s learnt from all %d nodes in %v",
			farAddr, host4, len(all4), time.Since(start).Round(time.Millisecond))

		// IPv6 two hops away, over an IPv6 session: the next hop is each
		// node's global address (the link-local one means nothing there).
		mh6 := b.peer("pol-far6", farAddr6, farASN)
		mh6.Spec.EBGPMultiHop = true
		b.create(mh6)
		start = time.Now()
		b.eventually(30*time.Second, fmt.Sprintf("%s from every node at the far router over IPv6", host6), func() error {
			n, err := far.Neighbors(b.ctx)
			if err != nil {
				return err
			}
			for _, a := range all6 {
				if n[a].State != "Established" {
					return fmt.Errorf("session with %s is %q", a, n[a].State)
				}
			}
			routes, err := far.Routes(b.ctx, frr.IPv6)
			if err != nil {
				return err
			}
			var hops []netip.Addr
			for _, p := range routes[host6] {
				hops = append(hops, p.NextHops...)
			}
			slices.SortFunc(hops, netip.Addr.Compare)
			if !slices.Equal(hops, all6) {
				return fmt.Errorf("next hops %v", hops)
			}
			return nil
		})
		t.Logf("with ebgpMultiHop over IPv6: sessions to %s (two hops) Established and %s learnt with next hops %v in %v",
			farAddr6, host6, all6, time.Since(start).Round(time.Millisecond))

		// Two IPv4 peers now: an advertisement for one of them.
		t.Log("=== an advertisement with peers: [pol-far], beside pol-v4")
		farPool := cluster.Pool("pol-faronly", false, "198.51.100.60-198.51.100.63")
		b.create(farPool)
		b.create(&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "pol-faronly"}, Spec: v1beta1.BGPAdvertisementSpec{
			IPAddressPools: []string{farPool.Name}, Peers: []string{mh.Name},
		}})
		fs := b.service("faronly", cluster.FromPool(farPool.Name), cluster.SingleStack(corev1.IPv4Protocol))
		b.expose(fs, p1, p2)
		fp := netip.PrefixFrom(b.vip(fs), 32)
		b.eventually(10*time.Second, fmt.Sprintf("%s from every node at the far router", fp), func() error {
			routes, err := far.Routes(b.ctx, frr.IPv4)
			if err != nil {
				return err
			}
			if n := len(routes[fp]); n != len(all4) {
				return fmt.Errorf("%d paths", n)
			}
			return nil
		})
		b.holdFIB(fp, nil, 2*time.Second)
		if routes, err := b.router.Routes(b.ctx, frr.IPv4); err != nil {
			t.Fatal(err)
		} else if _, ok := routes[fp]; ok {
			t.Errorf("the lab router learnt %s over pol-v4; the advertisement names pol-far only", fp)
		}
		b.waitSessions(all4, "Established", time.Second)
		t.Logf("%s: at the far router from all %d nodes, never at the lab router, whose IPv4 sessions are up", fp, len(all4))
	}

	t.Log("=== gracefulRestart on pol-v6: kill -9 keeps the path, SIGTERM withdraws it")
	b.testGracefulRestart(v6.Name, frr.IPv6, host6, all6, nodes[2])
}

// The far router: AS farASN, BGP on farAddr, which only the lab router
// routes to, so the nodes reach it through the lab router (two hops).
const farASN = 64600

var (
	farAddr  = netip.MustParseAddr("203.0.113.1")
	farAddr6 = netip.MustParseAddr("2001:db8:fa::1")
)

// farRouter adds a host on the LAN with farAddr and farAddr6 on its
// loopback, routes them from the nodes via the lab router and from the
// router to the host, and starts FRR there with every node's IPv4 and IPv6
// address as an ebgp-multihop neighbor.
// Its replies go straight back over the LAN; the nodes' packets to it are
// the ones that cross the router, with their TTL decremented.
func (b *bgpLab) farRouter(nodes4, nodes6 []netip.Addr) *frr.Router {
	b.t.Helper()
	h, err := b.c.Lab.AddHost(b.ctx, "far", 3)
	if err != nil {
		b.t.Fatal(err)
	}
	run := func(host string, cmd *exec.Cmd) {
		if out, err := cmd.CombinedOutput(); err != nil {
			b.t.Fatalf("%s: %v: %v: %s", host, cmd.Args, err, out)
		}
	}
	run(h.Name, h.Command(b.ctx, "ip", "addr", "add", farAddr.String()+"/32", "dev", "lo"))
	run(h.Name, h.Command(b.ctx, "ip", "addr", "add", farAddr6.String()+"/128", "dev", "lo"))
	run(b.rh.Name, b.rh.Command(b.ctx, "ip", "route", "replace", farAddr.String()+"/32", "via", h.IPv4.String()))
	run(b.rh.Name, b.rh.Command(b.ctx, "ip", "-6", "route", "replace", farAddr6.String()+"/128", "via", h.IPv6.String()))
	for _, n := range b.c.Lab.Nodes {
		run(n.Name, n.Command(b.ctx, "ip", "route", "replace", farAddr.String()+"/32", "via", b.rh.IPv4.String()))
		run(n.Name, n.Command(b.ctx, "ip", "-6", "route", "replace", farAddr6.String()+"/128", "via", b.rh.IPv6.String()))
	}
	var nbrs []frr.Neighbor
	for _, a := range slices.Concat(nodes4, nodes6) {
		nbrs = append(nbrs, frr.Neighbor{Addr: a, ASN: nodeASN, EBGPMultihop: 2})
	}
	r, err := frr.Start(b.ctx, frr.Config{Host: h, ASN: farASN, RouterID: farAddr, Neighbors: nbrs})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() {
		if b.t.Failed() {
			b.t.Logf("far FRR logs:\n%s", r.Logs())
		}
		r.Stop()
	})
	return r
}

// holdFIB checks for d that the router's FIB keeps routing p via exactly
// hops (none: no route): what must not happen has had time to.
func (b *bgpLab) holdFIB(p netip.Prefix, hops []netip.Addr, d time.Duration) {
	b.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		b.waitFIB(p, hops, 100*time.Millisecond)
	}
}

// dualVIPs returns a dual-stack Service's IPv4 and IPv6 addresses.
func dualVIPs(t *testing.T, svc *corev1.Service) (v4, v6 netip.Addr) {
	t.Helper()
	for _, in := range svc.Status.LoadBalancer.Ingress {
		a, err := netip.ParseAddr(in.IP)
		if err != nil {
			t.Fatal(err)
		}
		if a.Is4() {
			v4 = a
		} else {
			v6 = a
		}
	}
	if !v4.IsValid() || !v6.IsValid() {
		t.Fatalf("service %s: addresses %+v; want one of each family", svc.Name, svc.Status.LoadBalancer.Ingress)
	}
	return v4, v6
}

// routePaths waits until bgpd holds n paths to p and returns them.
func (b *bgpLab) routePaths(fam frr.Family, p netip.Prefix, n int) []frr.Path {
	b.t.Helper()
	var paths []frr.Path
	b.eventually(10*time.Second, fmt.Sprintf("%d paths to %s in bgpd", n, p), func() error {
		routes, err := b.router.Routes(b.ctx, fam)
		if err != nil {
			return err
		}
		if paths = routes[p]; len(paths) != n {
			return fmt.Errorf("%d paths", len(paths))
		}
		return nil
	})
	return paths
}

// waitSessionsNot waits until none of the router's sessions with addrs is
// in state.
func (b *bgpLab) waitSessionsNot(addrs []netip.Addr, state string, within time.Duration) {
	b.t.Helper()
	b.eventually(within, fmt.Sprintf("the router's sessions with %v not %s", addrs, state), func() error {
		s, err := b.router.Neighbors(b.ctx)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if s[a].State == state {
				return fmt.Errorf("session with %s is %s", a, state)
			}
		}
		return nil
	})
}
