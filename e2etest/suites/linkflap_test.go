package suites

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
)

const (
	// holdDown is the speakers' --hold-down (cluster.StartSpeaker).
	holdDown = 3 * time.Second
	// shortFlap keeps a link down well below failure detection: memberlist
	// declares a node dead after a missed probe (70 ms interval, 35 ms
	// timeout) and a suspicion it could not refute (2 × 70 ms), about
	// 250 ms, with the cluster's flags.
	shortFlap = 50 * time.Millisecond
	// longFlap is the least time a link stays down in the long flap, far
	// beyond failure detection; it stays down at least until the VIP has
	// moved.
	longFlap = 2 * time.Second
	// healWindow is how long after a long flap the test records who
	// answers NDP for the VIP.
	healWindow = 5 * time.Second
)

// TestIPv6LinkFlap: an IPv6 VIP keeps working when the announcing node's
// link flaps. Linux deletes a link's IPv6 addresses on link down unless
// keep_addr_on_down is set (the lab sets it), the node's routes through
// the link go too (the cluster puts them back), and the speaker's NDP
// socket sits on the link-local address.
//
//   - Short flap (shortFlap, well below failure detection): the VIP stays
//     where it was; afterwards the client resolves it to the same node,
//     TCP reaches the pod (on another node, so through the restored
//     routes), and no other node ever answers for it.
//   - Long flap (at least longFlap): the VIP moves to another node, which
//     the Service's condition names and the client reaches it through.
//     Once the link is back for longer than the hold-down and the speakers
//     have settled, the node the condition names is the only one answering
//     NDP for the VIP, and TCP works through it. In the first healWindow
//     after link up no solicitation is answered by two nodes (the cut-off
//     node yields to the others as it rejoins), and the flapped node does
//     not answer before the hold-down has passed.
//
// Both times the flapped node keeps its IPv6 addresses, none tentative.
func TestIPv6LinkFlap(t *testing.T) {
	f := setup(t, 11, nil)
	svc := f.service("web", ipv6())
	vip := f.vip(svc)
	if !vip.Is6() {
		t.Fatalf("VIP %s: want IPv6", vip)
	}
	first := f.waitAnnouncer(svc, vip, 10*time.Second, nil)
	// The pod lives elsewhere, so traffic entering at the flapped node
	// needs its routes to the other nodes' pod ranges.
	podNode := f.otherNodes(first)[0]
	pod := f.pod(podNode, "flap-web")
	f.expose(svc, pod)
	f.waitResolves(vip, first, 5*time.Second)
	f.checkTCP(vip, pod, first)
	t.Logf("%s announced by %s; pod on %s", vip, first, podNode)

	f.shortLinkFlap(svc, vip, pod, first)
	if err := f.c.WaitSettled(f.ctx); err != nil {
		t.Fatal(err)
	}
	// The short flap must not have moved the VIP; the long one flaps
	// whichever node announces it now.
	node := f.waitAnnouncer(svc, vip, 10*time.Second, nil)
	f.waitResolves(vip, node, 5*time.Second)
	if node == podNode {
		t.Fatalf("%s moved to %s, the pod's node, before the long flap", vip, node)
	}
	f.longLinkFlap(svc, vip, pod, node)
}

// shortLinkFlap takes node's link down for shortFlap and checks that
// nothing moved.
func (f *fixture) shortLinkFlap(svc *corev1.Service, vip netip.Addr, pod *cluster.Pod, node string) {
	t := f.t
	before := f.ipv6Addrs(node)
	cp := f.capture()
	start := time.Now()
	f.setLink(node, false)
	time.Sleep(shortFlap)
	f.setLink(node, true)
	t.Logf("short flap: %s's link down and up again in %v (down for %v, SetNodeLink included)", node, time.Since(start).Round(time.Millisecond), shortFlap)
	f.checkIPv6Addrs(node, before)

	// The speaker rescans its links every second and may have closed its
	// responders while the link was down, so the first answers may lag.
	f.waitResolves(vip, node, 10*time.Second)
	f.checkTCP(vip, pod, node)
	asked, answered := f.probeFor(vip, 2*time.Second, 200*time.Millisecond)
	cp.Stop()
	answers := cp.For(vip, start)
	t.Logf("short flap: %d solicitations after it, %d answered; %d announcements for %s since the flap from %v",
		asked, answered, len(answers), vip, cluster.Senders(answers))
	if answered != asked {
		t.Errorf("short flap: %d of %d solicitations for %s went unanswered", asked-answered, asked, vip)
	}
	f.onlyAnswerer(answers, vip, node)
	if n, err := f.announcedBy(svc, vip); err != nil || n != node {
		t.Errorf("short flap: condition names %q (%v); want %s throughout", n, err, node)
	}
}

// longLinkFlap takes node's link down until the VIP has moved (longFlap at
// least), brings it back and checks the heal.
func (f *fixture) longLinkFlap(svc *corev1.Service, vip netip.Addr, pod *cluster.Pod, node string) {
	t := f.t
	before := f.ipv6Addrs(node)
	cp := f.capture()
	down := time.Now()
	f.setLink(node, false)

	moved := f.waitAnnouncer(svc, vip, 15*time.Second, func(n string) bool { return n != node })
	t.Logf("long flap: condition names %s %v after %s's link went down", moved, time.Since(down).Round(time.Millisecond), node)
	f.waitResolves(vip, moved, 10*time.Second)
	f.checkTCP(vip, pod, moved)
	if d := longFlap - time.Since(down); d > 0 {
		time.Sleep(d) // the fault itself: the link stays down this long
	}

	upStart := time.Now()
	f.setLink(node, true)
	up := time.Now()
	t.Logf("long flap: %s's link was down %v; SetNodeLink(up) took %v", node, upStart.Sub(down).Round(time.Millisecond), up.Sub(upStart).Round(time.Millisecond))
	f.checkIPv6Addrs(node, before)

	// The heal: probe every 100 ms and see who answers each solicitation.
	rounds := f.probeRounds(cp, vip, healWindow-time.Since(upStart), 100*time.Millisecond)
	f.reportHeal(cp, vip, node, upStart, rounds)

	// Settled: the flapped node has been back longer than the hold-down and
	// every speaker counts every other as stable.
	if d := holdDown + time.Second - time.Since(up); d > 0 {
		time.Sleep(d)
	}
	if err := f.c.WaitSettled(f.ctx); err != nil {
		t.Fatal(err)
	}
	settled := time.Now()
	var final string
	f.eventually(15*time.Second, "the condition and NDP to agree on "+vip.String()+"'s announcer", func() error {
		n, err := f.announcedBy(svc, vip)
		if err != nil || n == "" {
			return fmt.Errorf("condition names %q (%v)", n, err)
		}
		mac, err := f.c.Resolve(f.ctx, vip)
		if err != nil {
			return err
		}
		if got := f.c.NodeByMAC(mac); got != n {
			return fmt.Errorf("condition names %s, %s answered by %s (%s)", n, vip, mac, got)
		}
		final = n
		return nil
	})
	t.Logf("long flap: settled %v after link up; %s announced by %s (%s before the flap, %s during it)",
		settled.Sub(up).Round(time.Millisecond), vip, final, node, moved)
	f.checkTCP(vip, pod, final)

	since := time.Now()
	asked, answered := f.probeFor(vip, 2*time.Second, 200*time.Millisecond)
	cp.Stop()
	answers := cp.For(vip, since)
	t.Logf("long flap, settled: %d solicitations, %d answered; %d announcements from %v", asked, answered, len(answers), cluster.Senders(answers))
	if answered != asked {
		t.Errorf("long flap, settled: %d of %d solicitations for %s went unanswered", asked-answered, asked, vip)
	}
	f.onlyAnswerer(answers, vip, final)
	if n, err := f.announcedBy(svc, vip); err != nil || n != final {
		t.Errorf("long flap, settled: condition names %q (%v) after the capture; want %s still", n, err, final)
	}
}

// setLink flaps node's link through the cluster (which restores its pod
// routes on up); the link is brought up again at the end of the test.
func (f *fixture) setLink(node string, up bool) {
	f.t.Helper()
	if !up {
		f.onCleanup(func(ctx context.Context) error { return f.c.SetNodeLink(ctx, node, true) })
	}
	if err := f.c.SetNodeLink(f.ctx, node, up); err != nil {
		f.t.Fatal(err)
	}
}

// checkTCP connects to vip:80 and checks that pod answered and that the
// connection entered the cluster at node.
func (f *fixture) checkTCP(vip netip.Addr, pod *cluster.Pod, node string) {
	f.t.Helper()
	line := f.dial(vip, 80)
	if want := "pod=" + pod.Name + " node=" + pod.Node; !strings.HasPrefix(line, want) {
		f.t.Errorf("TCP to %s:80 answered %q; want %q…", vip, line, want)
	}
	if via := f.ingressNode(line); via != node {
		f.t.Errorf("TCP to %s entered the cluster at %s (line %q); want %s", vip, via, line, node)
	}
}

// probeRound is one Neighbor Solicitation from the client and the nodes
// whose solicited answers were captured before the next one was sent.
type probeRound struct {
	at    time.Time
	nodes []string // sorted
}

// probeRounds asks who has ip every interval for d and returns, per
// solicitation, the nodes that answered it, as cp saw them. Two nodes in
// one round means two nodes answered the same solicitation.
func (f *fixture) probeRounds(cp *cluster.Capture, ip netip.Addr, d, interval time.Duration) []probeRound {
	var rounds []probeRound
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		rounds = append(rounds, probeRound{at: time.Now()})
		f.c.Resolve(f.ctx, ip) // the capture sees every answer
		time.Sleep(interval)
	}
	if len(rounds) == 0 {
		return nil
	}
	time.Sleep(100 * time.Millisecond) // late answers to the last one
	answer := cluster.SolicitedNA
	if ip.Is4() {
		answer = cluster.ARPReply
	}
	for _, fr := range cp.For(ip, rounds[0].at, answer) {
		i, found := slices.BinarySearchFunc(rounds, fr.Time, func(r probeRound, t time.Time) int { return r.at.Compare(t) })
		if found {
			i++
		}
		// rounds[i-1] is the last round sent at or before the frame.
		if r := &rounds[i-1]; !slices.Contains(r.nodes, fr.Node) {
			r.nodes = append(r.nodes, fr.Node)
			slices.Sort(r.nodes)
		}
	}
	return rounds
}

// reportHeal logs who answered NDP for ip after flapped's link came up at
// up: per node, the solicitations it answered and its unsolicited NAs, and
// the rounds as a timeline. A round answered by two nodes fails the test,
// and so does an answer from flapped before the hold-down has passed.
func (f *fixture) reportHeal(cp *cluster.Capture, ip netip.Addr, flapped string, up time.Time, rounds []probeRound) {
	t := f.t
	ms := func(at time.Time) string { return fmt.Sprintf("+%dms", at.Sub(up).Milliseconds()) }
	type span struct {
		answered, unsolicited int
		first, last           time.Time
	}
	per := map[string]*span{}
	at := func(node string, when time.Time) *span {
		s := per[node]
		if s == nil {
			s = &span{first: when}
			per[node] = s
		}
		s.first, s.last = minTime(s.first, when), maxTime(s.last, when)
		return s
	}
	var split []probeRound
	var timeline []string
	for i, r := range rounds {
		for _, n := range r.nodes {
			at(n, r.at).answered++
		}
		if len(r.nodes) > 1 {
			split = append(split, r)
		}
		who := strings.Join(r.nodes, "+")
		if who == "" {
			who = "nobody"
		}
		if i == 0 || !slices.Equal(r.nodes, rounds[i-1].nodes) {
			timeline = append(timeline, fmt.Sprintf("%s %s", ms(r.at), who))
		}
	}
	end := up.Add(healWindow)
	for _, fr := range cp.For(ip, up, cluster.UnsolicitedNA) {
		if fr.Time.Before(end) {
			at(fr.Node, fr.Time).unsolicited++
		}
	}
	var nodes []string
	for n := range per {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	var b strings.Builder
	for _, n := range nodes {
		s := per[n]
		fmt.Fprintf(&b, "; %s: answered %d, %d unsolicited NAs, %s…%s", n, s.answered, s.unsolicited, ms(s.first), ms(s.last))
	}
	t.Logf("heal window (%v after link up): %d solicitations, %d nodes answered%s", healWindow, len(rounds), len(nodes), b.String())
	t.Logf("heal window timeline (who answered, from each change on): %s", strings.Join(timeline, ", "))
	if s := per[flapped]; s != nil && s.first.Sub(up) < holdDown {
		t.Errorf("heal window: %s answered for %s at %s, before the hold-down (%v) had passed", flapped, ip, ms(s.first), holdDown)
	}
	if len(split) == 0 {
		t.Logf("heal window: every solicitation answered by at most one node")
		return
	}
	msg := fmt.Sprintf("heal window: %d of %d solicitations for %s answered by two or more nodes, %s…%s (%v)",
		len(split), len(rounds), ip, ms(split[0].at), ms(split[len(split)-1].at), split[len(split)-1].at.Sub(split[0].at).Round(time.Millisecond))
	if len(rounds[len(rounds)-1].nodes) > 1 {
		msg += ", still at the end of the window"
	}
	t.Errorf("only one answerer during the heal: %s", msg)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// ipv6Addr is one IPv6 address of a node's LAN link, as ip -j shows it.
type ipv6Addr struct {
	prefix netip.Prefix
	scope  string
	flags  []string // tentative, dadfailed, nodad, …
}

func (a ipv6Addr) String() string {
	return fmt.Sprintf("%s scope %s %s", a.prefix, a.scope, strings.Join(a.flags, " "))
}

// ipv6Addrs returns the IPv6 addresses of node's LAN link.
func (f *fixture) ipv6Addrs(node string) []ipv6Addr {
	f.t.Helper()
	h := f.host(node)
	ip, err := netlab.IPCommand()
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ip, "-n", h.Namespace, "-j", "-6", "addr", "show", "dev", h.Interface).Output()
	if err != nil {
		f.t.Fatalf("listing %s's IPv6 addresses: %v", node, err)
	}
	var links []struct {
		AddrInfo []map[string]any `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		f.t.Fatalf("listing %s's IPv6 addresses: %v in %s", node, err, out)
	}
	var addrs []ipv6Addr
	for _, l := range links {
		for _, ai := range l.AddrInfo {
			local, _ := ai["local"].(string)
			bits, _ := ai["prefixlen"].(float64)
			a, err := netip.ParseAddr(local)
			if err != nil {
				f.t.Fatalf("%s: address %q: %v", node, local, err)
			}
			addr := ipv6Addr{prefix: netip.PrefixFrom(a, int(bits))}
			addr.scope, _ = ai["scope"].(string)
			for k, v := range ai {
				if v == true {
					addr.flags = append(addr.flags, k)
				}
			}
			slices.Sort(addr.flags)
			addrs = append(addrs, addr)
		}
	}
	return addrs
}

// checkIPv6Addrs checks that node's LAN link has every IPv6 address it had
// before, its global LAN address and a link-local one among them, and none
// of them tentative or failed.
func (f *fixture) checkIPv6Addrs(node string, before []ipv6Addr) {
	f.t.Helper()
	h := f.host(node)
	after := f.ipv6Addrs(node)
	f.t.Logf("%s's IPv6 addresses after the flap: %v", node, after)
	has := func(p netip.Prefix) bool {
		return slices.ContainsFunc(after, func(a ipv6Addr) bool { return a.prefix == p })
	}
	for _, a := range before {
		if !has(a.prefix) {
			f.t.Errorf("%s lost %s in the flap (addresses now: %v)", node, a, after)
		}
	}
	if !has(netip.PrefixFrom(h.IPv6, f.c.Lab.LANv6.Bits())) {
		f.t.Errorf("%s has no %s/%d after the flap: %v", node, h.IPv6, f.c.Lab.LANv6.Bits(), after)
	}
	if !slices.ContainsFunc(after, func(a ipv6Addr) bool { return a.prefix.Addr().IsLinkLocalUnicast() }) {
		f.t.Errorf("%s has no link-local address after the flap: %v", node, after)
	}
	for _, a := range after {
		if slices.Contains(a.flags, "tentative") || slices.Contains(a.flags, "dadfailed") {
			f.t.Errorf("%s: %s after the flap; want it usable", node, a)
		}
	}
}

// host returns node's lab host.
func (f *fixture) host(node string) *netlab.Host {
	f.t.Helper()
	for _, h := range f.c.Lab.Nodes {
		if h.Name == node {
			return h
		}
	}
	f.t.Fatalf("no node %s", node)
	return nil
}
