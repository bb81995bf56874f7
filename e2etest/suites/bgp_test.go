package suites

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/frr"
	"github.com/portico-lb/portico/e2etest/netlab"
	"github.com/portico-lb/portico/internal/roottier"
)

// The nodes' AS: eBGP to the router (frr.DefaultASN).
const nodeASN = cluster.NodeASN

// bgpPassword is the TCP MD5 key of the IPv4 sessions, which the speakers
// read from a Secret in Portico's namespace.
const bgpPassword = "e2e-s3cret"

// bgpLab is a cluster of its own with the lab router running real FRR
// (zebra + bgpd), peering with every node over IPv4 and IPv6.
type bgpLab struct {
	*fixture
	router *frr.Router
	rh     *netlab.Host
}

// newBGPLab starts a dedicated cluster (the shared one has no router, and
// this test stops speakers and edits peers), adds the router, starts FRR and
// sets up the test's namespace; everything goes at the end of the test.
func newBGPLab(t *testing.T) *bgpLab {
	t.Helper()
	requireLab(t)
	if err := frr.Installed(); err != nil {
		if os.Getenv(roottier.Env) == "1" {
			t.Fatalf("%s=1, but %v", roottier.Env, err)
		}
		t.Skip(err)
	}
	dir, err := os.MkdirTemp("", "portico-e2e-bgp-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Dir: dir})
	if err != nil {
		t.Fatalf("starting the cluster: %v (logs in %s)", err, dir)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
		if t.Failed() || *keepLogs {
			t.Logf("logs kept in %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	})
	t.Logf("cluster up in %v, logs in %s", time.Since(start).Round(time.Millisecond), dir)
	rh, err := c.Lab.AddRouter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var nbrs []frr.Neighbor
	for _, n := range c.Lab.Nodes {
		nbrs = append(nbrs, frr.Neighbor{Addr: n.IPv4, ASN: nodeASN, Password: bgpPassword}, frr.Neighbor{Addr: n.IPv6, ASN: nodeASN})
	}
	r, err := frr.Start(ctx, frr.Config{Host: rh, Neighbors: nbrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FRR logs:\n%s", r.Logs())
		}
		r.Stop()
	})
	return &bgpLab{fixture: setupOn(t, c, 0, nil), router: r, rh: rh}
}

// peer is a BGPPeer from every node to the router at addr, with the lab's
// quick timers.
func (b *bgpLab) peer(name string, addr netip.Addr, peerASN int64) *v1beta1.BGPPeer {
	return cluster.BGPPeer(name, addr, peerASN, 9*time.Second)
}

// nodeAddrs returns the nodes' addresses of one family, by node name.
func (b *bgpLab) nodeAddrs(v6 bool, nodes ...string) []netip.Addr {
	var out []netip.Addr
	for _, h := range b.c.Lab.Nodes {
		if len(nodes) > 0 && !slices.Contains(nodes, h.Name) {
			continue
		}
		if v6 {
			out = append(out, h.IPv6)
		} else {
			out = append(out, h.IPv4)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// waitFIB waits until the router's kernel routes p via exactly hops (none:
// no route), and returns how long that took.
func (b *bgpLab) waitFIB(p netip.Prefix, hops []netip.Addr, within time.Duration) time.Duration {
	b.t.Helper()
	fam := frr.IPv4
	if p.Addr().Is6() {
		fam = frr.IPv6
	}
	start := time.Now()
	b.eventually(within, fmt.Sprintf("the router's FIB to route %s via %v", p, hops), func() error {
		fib, err := b.router.FIB(b.ctx, fam)
		if err != nil {
			return err
		}
		r, ok := fib[p]
		got := slices.Clone(r.NextHops)
		slices.SortFunc(got, netip.Addr.Compare)
		switch {
		case len(hops) == 0 && !ok:
			return nil
		case len(hops) == 0:
			return fmt.Errorf("still routed via %v (%s)", got, r.Protocol)
		case !ok:
			return fmt.Errorf("no route")
		case r.Protocol != "bgp" || !slices.Equal(got, hops):
			return fmt.Errorf("routed via %v (%s)", got, r.Protocol)
		}
		return nil
	})
	return time.Since(start)
}

// waitSessions waits until the router's sessions with addrs are all in
// state (or, with not set, none is).
func (b *bgpLab) waitSessions(addrs []netip.Addr, state string, within time.Duration) {
	b.t.Helper()
	b.eventually(within, fmt.Sprintf("the router's sessions with %v %s", addrs, state), func() error {
		s, err := b.router.Neighbors(b.ctx)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if s[a].State != state {
				return fmt.Errorf("session with %s is %q", a, s[a].State)
			}
		}
		return nil
	})
}

// statusLag bounds how long after the router sees a session change each
// node's BGPNodeStatus may take to say so: the speakers write session
// states as GoBGP reports them, not at a poll (which took up to 5 s).
const statusLag = 2 * time.Second

// waitStatusState waits until every node's BGPNodeStatus says its session
// with peer is state, within statusLag, and logs how long that took.
func (b *bgpLab) waitStatusState(nodes []string, peer, state string) {
	b.t.Helper()
	start := time.Now()
	b.eventually(statusLag, fmt.Sprintf("the BGPNodeStatus of %v to say the session with %s is %s", nodes, peer, state), func() error {
		for _, n := range nodes {
			s, err := b.session(n, peer)
			if err != nil {
				return err
			}
			if s.State != state {
				return fmt.Errorf("node %s: session %+v", n, s)
			}
		}
		return nil
	})
	b.t.Logf("every BGPNodeStatus says %s with %s %v after the router did", state, peer, time.Since(start).Round(time.Millisecond))
}

// session returns node's BGPNodeStatus entry for peer, if any.
func (b *bgpLab) session(node, peer string) (v1beta1.BGPNodeSession, error) {
	var st v1beta1.BGPNodeStatus
	if err := b.c.Client.Get(b.ctx, client.ObjectKey{Namespace: cluster.Namespace, Name: node}, &st); err != nil {
		return v1beta1.BGPNodeSession{}, err
	}
	for _, s := range st.Status.Sessions {
		if s.Peer == peer {
			return s, nil
		}
	}
	return v1beta1.BGPNodeSession{}, fmt.Errorf("BGPNodeStatus %s lists no session with %s: %+v", node, peer, st.Status)
}

// TestBGP runs the BGP announcer against a real FRR router: every eligible
// node's route in the router's FIB (ECMP), traffic from the client through
// the router to a pod, a pool announced by layer 2 and BGP at once, an
// excluded node, externalTrafficPolicy Local, the API server away, a speaker's SIGTERM, a
// peer with the wrong AS beside working ones, IPv6, and withdrawal when the
// Service goes.
func TestBGP(t *testing.T) {
	b := newBGPLab(t)
	nodes := b.otherNodes()
	all4, all6 := b.nodeAddrs(false), b.nodeAddrs(true)

	b.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: cluster.Namespace, Name: "e2e-bgp-password"},
		Type: corev1.SecretTypeBasicAuth, StringData: map[string]string{"password": bgpPassword}})
	v4 := b.peer("e2e-tor-v4", b.rh.IPv4, frr.DefaultASN)
	v4.Spec.PasswordSecret = &v1beta1.SecretReference{Name: "e2e-bgp-password"}
	b.create(v4)
	pool := cluster.Pool("e2e-bgp", false, "198.51.100.10-198.51.100.13", "2001:db8:b6::10-2001:db8:b6::13")
	b.create(pool)
	b.create(cluster.BGPAdvertisement("e2e-bgp", pool.Name))
	start := time.Now()
	b.waitSessions(all4, "Established", 30*time.Second)
	t.Logf("IPv4 sessions of %d nodes Established in %v", len(all4), time.Since(start).Round(time.Millisecond))
	b.waitStatusState(nodes, v4.Name, "Established")

	p1, p2 := b.pod(nodes[0], "bgp-web-1"), b.pod(nodes[1], "bgp-web-2")
	svc := b.service("web", cluster.FromPool(pool.Name), cluster.SingleStack(corev1.IPv4Protocol))
	b.expose(svc, p1, p2)
	vip := b.vip(svc)
	host := netip.PrefixFrom(vip, 32)

	// ECMP over every node.
	{
		t.Log("=== ECMP over every node")
		took := b.waitFIB(host, all4, 20*time.Second)
		t.Logf("%s in the router's FIB via all %d nodes %v after the endpoints were written", host, len(all4), took.Round(time.Millisecond))
		routes, err := b.router.Routes(b.ctx, frr.IPv4)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range routes[host] {
			if p.ASPath != fmt.Sprint(nodeASN) || !p.Valid {
				t.Errorf("path %+v; want a valid path with AS path %d", p, nodeASN)
			}
		}
		// The Service says so, in the words of one of the nodes.
		b.eventually(10*time.Second, "service web's condition to say BGP announces "+vip.String(), func() error {
			var cur corev1.Service
			if err := b.c.Client.Get(b.ctx, client.ObjectKeyFromObject(svc), &cur); err != nil {
				return err
			}
			c := meta.FindStatusCondition(cur.Status.Conditions, v1beta1.AnnouncedConditionType(vip))
			if c == nil {
				return fmt.Errorf("no condition")
			}
			if m, err := v1beta1.ParseAnnouncedMessage(c.Message); err != nil || !m.Announced || m.Method != v1beta1.MethodBGP {
				return fmt.Errorf("condition %s: %s", c.Status, c.Message)
			}
			t.Logf("condition %s: %s", c.Status, c.Message)
			return nil
		})
		for _, n := range nodes {
			b.eventually(10*time.Second, "node "+n+"'s BGPNodeStatus to say Established", func() error {
				s, err := b.session(n, "e2e-tor-v4")
				if err != nil {
					return err
				}
				if s.State != "Established" || s.PrefixesSent != 1 {
					return fmt.Errorf("session %+v", s)
				}
				return nil
			})
		}
	}

	// client reaches a pod through the router.
	{
		t.Log("=== client reaches a pod through the router")
		line := b.dial(vip, 80)
		if !strings.Contains(line, "bgp-web-") {
			t.Errorf("answer %q; want one of the pods", line)
		}
		t.Logf("client → router → %s: %s", b.ingressNode(line), line)
	}

	// A pool selected by an L2Advertisement and a BGPAdvertisement.
	{
		t.Log("=== layer 2 and BGP for one pool")
		b.create(cluster.BGPAdvertisement("e2e-both", b.name))
		both := b.service("both", cluster.SingleStack(corev1.IPv4Protocol))
		b.expose(both, p1, p2)
		ip := b.vip(both)
		b.waitFIB(netip.PrefixFrom(ip, 32), all4, 20*time.Second)
		elected := b.resolve(ip)
		b.dial(ip, 80)
		t.Logf("%s: answered by ARP from %s alone, and routed by the router via all %d nodes", ip, elected, len(all4))
		if err := b.c.Client.Delete(b.ctx, both); err != nil {
			t.Fatal(err)
		}
		b.waitFIB(netip.PrefixFrom(ip, 32), nil, 10*time.Second)
	}

	// An excluded node announces nothing.
	{
		t.Log("=== a node labelled " + corev1.LabelNodeExcludeBalancers)
		b.labelNode(nodes[2], corev1.LabelNodeExcludeBalancers, ptr.To(""))
		took := b.waitFIB(host, b.nodeAddrs(false, nodes[0], nodes[1]), 10*time.Second)
		t.Logf("%s withdrew %v after the label", nodes[2], took.Round(time.Millisecond))
		b.labelNode(nodes[2], corev1.LabelNodeExcludeBalancers, nil)
		b.waitFIB(host, all4, 10*time.Second)
	}

	// externalTrafficPolicy Local.
	{
		t.Log("=== externalTrafficPolicy Local")
		if err := b.c.Client.Get(b.ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			t.Fatal(err)
		}
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		if err := b.c.Client.Update(b.ctx, svc); err != nil {
			t.Fatal(err)
		}
		took := b.waitFIB(host, b.nodeAddrs(false, nodes[0], nodes[1]), 20*time.Second)
		t.Logf("the node without an endpoint withdrew in %v", took.Round(time.Millisecond))
		line := b.dial(vip, 80)
		if got := b.ingressNodeOrPod(line); got == nodes[2] {
			t.Errorf("answer %q came through %s, which has no endpoint", line, nodes[2])
		}
	}

	// The API server away: sessions and routes stay.
	{
		t.Log("=== the API server away")
		if err := b.c.BlockAPIServer(b.ctx); err != nil {
			t.Fatal(err)
		}
		b.onCleanup(b.c.UnblockAPIServer)
		hops := b.nodeAddrs(false, nodes[0], nodes[1])
		away := 12 * time.Second // longer than the 9s hold time
		end := time.Now().Add(away)
		for time.Now().Before(end) {
			b.waitFIB(host, hops, time.Second)
			time.Sleep(500 * time.Millisecond)
		}
		b.dial(vip, 80)
		if n, err := b.router.Neighbors(b.ctx); err != nil {
			t.Fatal(err)
		} else {
			for _, a := range all4 {
				if s := n[a]; s.State != "Established" || s.Uptime < away {
					t.Errorf("session with %s: %s for %v; want Established all along the %v outage", a, s.State, s.Uptime, away)
				}
			}
		}
		if err := b.c.UnblockAPIServer(b.ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("API server away for %v: %s stayed routed via %v, sessions up", away, host, hops)
	}

	// SIGTERM withdraws the node's next hop.
	{
		t.Log("=== SIGTERM withdraws the node's next hop")
		gone := nodes[1]
		start := time.Now()
		if err := b.c.KillSpeaker(gone, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		exited := time.Since(start)
		b.waitFIB(host, b.nodeAddrs(false, nodes[0]), 10*time.Second)
		took := time.Since(start)
		t.Logf("speaker on %s exited %v after SIGTERM; its next hop left the router's FIB %v after SIGTERM", gone, exited.Round(time.Millisecond), took.Round(time.Millisecond))
		if took > 5*time.Second {
			t.Errorf("next hop withdrawn %v after SIGTERM; want within 5s (Cease, not hold time)", took)
		}
		b.dial(vip, 80)
		if err := b.c.StartSpeaker(gone); err != nil {
			t.Fatal(err)
		}
		b.waitFIB(host, b.nodeAddrs(false, nodes[0], nodes[1]), 30*time.Second)
	}

	// a peer with the wrong AS.
	{
		t.Log("=== a peer with the wrong AS")
		before, err := b.router.Neighbors(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		wrong := b.peer("e2e-tor-v6", b.rh.IPv6, 65099)
		b.create(wrong)
		for _, n := range nodes {
			b.eventually(30*time.Second, "node "+n+"'s BGPNodeStatus to say why e2e-tor-v6 fails", func() error {
				s, err := b.session(n, wrong.Name)
				if err != nil {
					return err
				}
				if s.State == "Established" || !strings.Contains(s.LastError, "AS") {
					return fmt.Errorf("session %+v", s)
				}
				return nil
			})
		}
		s, _ := b.session(nodes[0], wrong.Name)
		t.Logf("%s's session with %s: %s, %q", nodes[0], wrong.Name, s.State, s.LastError)
		b.eventually(10*time.Second, "a SessionFailing Event on BGPPeer "+wrong.Name, func() error {
			var evs eventsv1.EventList
			if err := b.c.Client.List(b.ctx, &evs); err != nil {
				return err
			}
			for _, e := range evs.Items {
				if e.Regarding.Kind == "BGPPeer" && e.Regarding.Name == wrong.Name && e.Reason == "SessionFailing" {
					t.Logf("Event %s %s: %s", e.Type, e.Reason, e.Note)
					return nil
				}
			}
			return fmt.Errorf("none among %d Events", len(evs.Items))
		})
		// The other sessions never noticed.
		b.waitSessions(all4, "Established", time.Second)
		// FRR counts whole seconds: allow one each way.
		if n, err := b.router.Neighbors(b.ctx); err == nil {
			for _, a := range all4 {
				if want := before[a].Uptime + time.Since(t0) - 2*time.Second; n[a].Uptime < want {
					t.Errorf("session with %s up for %v, %v before: it was reset", a, n[a].Uptime, before[a].Uptime)
				}
			}
		}
		b.waitFIB(host, b.nodeAddrs(false, nodes[0], nodes[1]), time.Second)

		// Fixed, it comes up and carries IPv6.
		if err := b.c.Client.Get(b.ctx, client.ObjectKeyFromObject(wrong), wrong); err != nil {
			t.Fatal(err)
		}
		wrong.Spec.PeerASN = frr.DefaultASN
		if err := b.c.Client.Update(b.ctx, wrong); err != nil {
			t.Fatal(err)
		}
		b.waitSessions(all6, "Established", 30*time.Second)
		b.waitStatusState(nodes, wrong.Name, "Established")
		svc6 := b.service("web6", cluster.FromPool(pool.Name), ipv6())
		b.expose(svc6, p1, p2)
		vip6 := b.vip(svc6)
		b.waitFIB(netip.PrefixFrom(vip6, 128), all6, 20*time.Second)
		line := b.dial(vip6, 80)
		t.Logf("IPv6: client → router → pod: %s", line)
	}

	// deleting the Service withdraws.
	{
		t.Log("=== deleting the Service withdraws")
		start := time.Now()
		if err := b.c.Client.Delete(b.ctx, svc); err != nil {
			t.Fatal(err)
		}
		b.waitFIB(host, nil, 10*time.Second)
		t.Logf("withdrawn from the router's FIB %v after the Service was deleted", time.Since(start).Round(time.Millisecond))
	}
	b.logBGPMetrics()
	for _, n := range nodes {
		m, err := b.c.SpeakerMetrics(n)
		if err != nil {
			continue
		}
		if up := m[`portico_bgp_session_up{peer="e2e-tor-v4"}`]; up != 1 {
			t.Errorf("%s: portico_bgp_session_up for e2e-tor-v4 = %v, want 1", n, up)
		}
	}
}

// logBGPMetrics logs each node's BGP metrics: status writes, updates sent
// and session state per peer, the figures of a run.
func (b *bgpLab) logBGPMetrics() {
	b.t.Helper()
	for _, n := range b.otherNodes() {
		m, err := b.c.SpeakerMetrics(n)
		if err != nil {
			b.t.Errorf("metrics of %s: %v", n, err)
			continue
		}
		var parts []string
		for k, v := range m {
			if strings.HasPrefix(k, "portico_bgp_") {
				parts = append(parts, fmt.Sprintf("%s=%v", k, v))
			}
		}
		slices.Sort(parts)
		b.t.Logf("%s: %s", n, strings.Join(parts, " "))
	}
}

// ingressNodeOrPod returns the node a podserver line came through, or ""
// when it cannot tell (with externalTrafficPolicy Local the pod sees the
// client's own address).
func (b *bgpLab) ingressNodeOrPod(line string) string {
	a, err := cluster.ClientAddr(line)
	if err != nil {
		return ""
	}
	return b.c.NodeByIP(a)
}
