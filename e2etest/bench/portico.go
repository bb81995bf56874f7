package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// Names of the objects the Portico run creates.
const (
	failoverNS   = "failover"
	failoverPool = "failover"
	failoverSvc  = "web"
	failoverPort = 80
)

// porticoTarget is a three-node lab cluster with one LoadBalancer Service.
type porticoTarget struct {
	c       *cluster.Cluster
	svc     *corev1.Service
	vip     netip.Addr
	pods    []string // nodes with a pod behind the Service
	capture *cluster.Capture
	// Sticky runs only: a pod behind every node, and the node whose pod
	// is left out of the Service's endpoints (the announcer; see prepare).
	podOn   map[string]*cluster.Pod
	podless string
}

var (
	_ target   = (*porticoTarget)(nil)
	_ preparer = (*porticoTarget)(nil)
)

// runPortico starts the cluster, runs every fault (and the stress run) and
// stops it again.
func runPortico(ctx context.Context, c failoverConfig, dir string, r report) (res *targetResult, err error) {
	start := time.Now()
	pt, err := startPortico(ctx, c, filepath.Join(dir, "portico"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := pt.c.Stop(); serr != nil && err == nil {
			err = fmt.Errorf("bench: stopping the cluster: %w", serr)
		}
	}()
	res = newTargetResult("Portico")
	args := pt.speakerArgs()
	res.holdDown = flagDuration(args, "--hold-down")
	c.holdDown = res.holdDown
	res.setting = []string{
		fmt.Sprintf("lab %s, LAN %s, API server %s; cluster up in %s", pt.c.Lab.Prefix, pt.c.Lab.LANv4, pt.c.APIServer, seconds(time.Since(start))),
		fmt.Sprintf("Service %s/%s %s:%d, externalTrafficPolicy Cluster, pods on %s", failoverNS, failoverSvc, pt.vip, failoverPort, strings.Join(pt.pods, ", ")),
		"speaker: " + args,
		"a speaker stopped with SIGTERM answers for --handover-delay after the new node took over: two nodes answer then, by design",
	}
	if c.Sticky {
		res.setting = append(res.setting,
			"sticky: the address stays where it moved; the pods behind the Service are moved off each fault's announcer before the fault")
	}
	printTargetHeader(r, res)
	o, err := startObservers(ctx, c, pt.c.Lab, netip.AddrPortFrom(pt.vip, failoverPort), pt.via)
	if err != nil {
		return res, err
	}
	defer func() {
		if oerr := o.stop(); oerr != nil && err == nil {
			err = fmt.Errorf("bench: %w", oerr)
		}
	}()
	if err := runFaults(ctx, c, pt, o, res, r); err != nil {
		return res, err
	}
	if c.Stress > 0 {
		if res.stress, err = pt.stress(ctx, c, o, dir); err != nil {
			return res, err
		}
		printStress(r, res.stress)
	}
	return res, nil
}

// startPortico starts the cluster and creates the pool, the advertisement,
// the Service and its pods.
func startPortico(ctx context.Context, c failoverConfig, dir string) (_ *porticoTarget, err error) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	args := slices.Clone(c.SpeakerArgs)
	if c.Sticky {
		args = append(args, "--sticky")
	}
	cl, err := cluster.Start(sctx, cluster.Options{Dir: dir, SpeakerArgs: args})
	if err != nil {
		return nil, err
	}
	pt := &porticoTarget{c: cl}
	defer func() {
		if err != nil {
			cl.Stop()
		}
	}()
	if err := pt.createService(sctx); err != nil {
		return nil, err
	}
	// Pods on the nodes that do not announce the VIP when all are up. The
	// lab has no kubelet and no endpoint controller, so a pod behind a node
	// whose link is down would stay a ready endpoint and fail a third of
	// the connections through any node: that would measure endpoint health,
	// not the failover. Rendezvous hashing gives the VIP back to the same
	// node after every restore, so every fault hits that node. A sticky
	// VIP stays where it moved, so the next fault hits another node: then
	// every node gets a pod, and prepare keeps the announcer's out.
	winner, err := pt.waitAnnouncer(sctx)
	if err != nil {
		return nil, err
	}
	if c.Sticky {
		pt.podOn = map[string]*cluster.Pod{}
	}
	var pods []*cluster.Pod
	for _, h := range cl.Lab.Nodes {
		if h.Name == winner && !c.Sticky {
			continue
		}
		pod, err := cl.AddPod(sctx, h.Name, "web-"+h.Name, map[string]string{"app": "web"})
		if err != nil {
			return nil, err
		}
		if c.Sticky {
			pt.podOn[h.Name] = pod
		}
		if h.Name != winner {
			pods = append(pods, pod)
			pt.pods = append(pt.pods, h.Name)
		}
	}
	if err := cl.ExposePods(sctx, pt.svc, pods...); err != nil {
		return nil, err
	}
	pt.podless = winner
	if err := pt.waitProgrammed(sctx); err != nil {
		return nil, err
	}
	if pt.capture, err = cl.Capture(); err != nil {
		return nil, err
	}
	return pt, nil
}

// createService creates the namespace, pool, advertisement and Service and
// waits for the Service's address.
func (pt *porticoTarget) createService(ctx context.Context) error {
	first, _ := pt.c.Lab.Addr(netlab.PoolFirst)
	last, _ := pt.c.Lab.Addr(netlab.PoolFirst + 3)
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: failoverNS}},
		cluster.Pool(failoverPool, false, first.String()+"-"+last.String()),
		cluster.L2Advertisement(failoverPool, failoverPool),
	}
	pt.svc = cluster.Service(failoverNS, failoverSvc,
		cluster.FromPool(failoverPool), cluster.SelectApp("web"), cluster.Port(corev1.ProtocolTCP, failoverPort))
	for _, o := range append(objs, pt.svc) {
		if err := pt.c.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("bench: creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return pollUntil(ctx, "an address for Service "+failoverSvc, func(ctx context.Context) error {
		if err := pt.c.Client.Get(ctx, client.ObjectKeyFromObject(pt.svc), pt.svc); err != nil {
			return err
		}
		for _, in := range pt.svc.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil && a.Is4() {
				pt.vip = a
				return nil
			}
		}
		return fmt.Errorf("ingress %v has no IPv4 address", pt.svc.Status.LoadBalancer.Ingress)
	})
}

// waitProgrammed waits until kube-proxy on every node sends the VIP to
// endpoints (its service-ips map holds the VIP) before the client sends
// anything, and sends nothing itself.
//
// A SYN that reaches a node while the Service is still in kube-proxy's
// no-endpoint set leaves an untranslated conntrack entry behind (SYN_SENT,
// 120 s). The client opens 100 connections a second and its source ports
// come round again within that time: each SYN on such a port then matches
// the old entry, skips kube-proxy's DNAT, and the node routes it to the VIP
// by its own neighbour entry, to whichever node announced it last; that
// node DNATs it and answers the client directly. Captures showed the
// announcer forwarding exactly such SYNs, and 41 to 47 such entries on the
// first announcer: that, not ARP, was the entry-node flip-flop around
// kill -9 the bench reported.
func (pt *porticoTarget) waitProgrammed(ctx context.Context) error {
	want := fmt.Sprintf("%s . tcp . %d : goto external-", pt.vip, failoverPort)
	return pollUntil(ctx, "kube-proxy on every node to forward "+pt.vip.String(), func(ctx context.Context) error {
		for _, h := range pt.c.Lab.Nodes {
			out, err := h.Command(ctx, "nft", "list", "map", "ip", "kube-proxy", "service-ips").Output()
			if err != nil {
				return fmt.Errorf("%s: nft list map: %w", h.Name, err)
			}
			if !strings.Contains(string(out), want) {
				return fmt.Errorf("%s: service-ips has no %q", h.Name, want)
			}
		}
		return nil
	})
}

func (pt *porticoTarget) waitAnnouncer(ctx context.Context) (string, error) {
	var node string
	err := pollUntil(ctx, "an announcer for "+pt.vip.String(), func(ctx context.Context) error {
		var err error
		if node, err = pt.announcer(ctx); err == nil && node == "" {
			err = errors.New("no node named by the announced condition")
		}
		return err
	})
	return node, err
}

// announcer reads the Service's announced-ipv4 condition.
func (pt *porticoTarget) announcer(ctx context.Context) (string, error) {
	var svc corev1.Service
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pt.c.Client.Get(rctx, client.ObjectKeyFromObject(pt.svc), &svc); err != nil {
		return "", fmt.Errorf("bench: service %s: %w", failoverSvc, err)
	}
	return v1beta1.AnnouncingNode(&svc, pt.vip), nil
}

// prepare leaves the pod behind node, about to fail, out of the Service's
// endpoints, and puts the others in (sticky runs only; see startPortico).
func (pt *porticoTarget) prepare(ctx context.Context, node string) (bool, error) {
	if pt.podOn == nil || node == pt.podless {
		return false, nil
	}
	var pods []*cluster.Pod
	for _, h := range pt.c.Lab.Nodes {
		if h.Name != node {
			pods = append(pods, pt.podOn[h.Name])
		}
	}
	if err := pt.c.ExposePods(ctx, pt.svc, pods...); err != nil {
		return false, err
	}
	pt.podless = node
	return true, nil
}

func (pt *porticoTarget) inject(ctx context.Context, f fault, node string) error {
	switch f {
	case faultKill:
		return pt.c.KillSpeaker(node, syscall.SIGKILL)
	case faultSIGTERM:
		return pt.c.KillSpeaker(node, syscall.SIGTERM)
	case faultLinkDown:
		return pt.c.SetNodeLink(ctx, node, false)
	}
	return fmt.Errorf("bench: unknown fault %q", f)
}

// restore undoes a fault. Bringing a link up also puts back the node's
// routes to the pods behind the other nodes, which the kernel deleted with
// the link (the cluster package does that).
func (pt *porticoTarget) restore(ctx context.Context, f fault, node string) error {
	if f == faultLinkDown {
		return pt.c.SetNodeLink(ctx, node, true)
	}
	if p := pt.c.Speaker(node); p != nil && !p.Exited() {
		return nil
	}
	return pt.c.StartSpeaker(node)
}

// settled asks the speakers whether every one counts every other as a
// stable member (not in hold-down).
func (pt *porticoTarget) settled(ctx context.Context) bool {
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	return pt.c.WaitSettled(sctx) == nil
}

// via names the node a connection entered at: with externalTrafficPolicy
// Cluster, kube-proxy masquerades to that node's address.
func (pt *porticoTarget) via(line string) string {
	ap, err := netip.ParseAddrPort(lineField(line, "client"))
	if err != nil {
		return "?"
	}
	if n := pt.c.NodeByIP(ap.Addr()); n != "" {
		return n
	}
	return "client " + ap.Addr().String()
}

// announcements summarises the ARP answers and gratuitous ARPs the nodes
// sent for the VIP in [from, to), relative to from.
func (pt *porticoTarget) announcements(from, to time.Time) string {
	var b strings.Builder
	var nodes []string
	byNode := map[string][]cluster.Frame{}
	for _, f := range pt.capture.For(pt.vip, from) {
		if !f.Time.Before(to) {
			continue
		}
		if byNode[f.Node] == nil {
			nodes = append(nodes, f.Node)
		}
		byNode[f.Node] = append(byNode[f.Node], f)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		fs := byNode[n]
		garp := 0
		for _, f := range fs {
			if f.Kind == cluster.GratuitousARP {
				garp++
			}
		}
		fmt.Fprintf(&b, " %s: %d GARP + %d replies, %s…%s;", n, garp, len(fs)-garp,
			msStr(fs[0].Time.Sub(from)), msStr(fs[len(fs)-1].Time.Sub(from)))
	}
	return strings.TrimSuffix(strings.TrimSpace(b.String()), ";")
}

func (pt *porticoTarget) host(node string) (*netlab.Host, error) {
	for _, h := range pt.c.Lab.Nodes {
		if h.Name == node {
			return h, nil
		}
	}
	return nil, fmt.Errorf("bench: no node %q", node)
}

// speakerArgs returns a running speaker's command line (from /proc), without
// the per-node and per-run values.
func (pt *porticoTarget) speakerArgs() string {
	p := pt.c.Speaker(pt.c.Lab.Nodes[0].Name)
	if p == nil {
		return "(not running)"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.Pid))
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
	var out []string
	skip := map[string]bool{"--kubeconfig": true, "--node-name": true, "--bind-address": true, "--metrics-bind-address": true, "--namespace": true}
	for i := 1; i < len(args); i++ {
		if skip[args[i]] {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return strings.Join(out, " ")
}

// flagDuration returns the last value of a "--name value" or "--name=value"
// flag in a space-separated command line, or 0.
func flagDuration(args, name string) time.Duration {
	var d time.Duration
	fs := strings.Fields(args)
	for i, f := range fs {
		v, ok := strings.CutPrefix(f, name+"=")
		if !ok && f == name && i+1 < len(fs) {
			v, ok = fs[i+1], true
		}
		if ok {
			if x, err := time.ParseDuration(v); err == nil {
				d = x
			}
		}
	}
	return d
}

// pollUntil is netlab.Poll as the bench uses it: every 100 ms for up to
// 30 s, an error from check being what is still missing.
func pollUntil(ctx context.Context, what string, check func(context.Context) error) error {
	if err := netlab.Poll(ctx, 100*time.Millisecond, 30*time.Second, what, check); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
