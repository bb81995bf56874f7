package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// Ports inside node namespaces. Each namespace has its own addresses, so
// fixed ports never clash between nodes.
const (
	speakerMetricsPort = 7472
	memberlistPort     = 7946
	proxyHealthzPort   = 10256
)

// podCIDRs returns node-<i>'s pod ranges: 10.244.<i>.0/24 and
// fd00:244:<i>::/64 (i written in decimal digits, like netlab's hosts).
func podCIDRs(i int) (v4, v6 netip.Prefix) {
	v4 = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(i), 0}), 24)
	v6 = netip.MustParsePrefix(fmt.Sprintf("fd00:244:%d::/64", i))
	return v4, v6
}

// clusterCIDRs covers every node's pod ranges, for kube-proxy.
const clusterCIDRs = "10.244.0.0/16,fd00:244::/56"

// createNode registers node namespace h (node index i) as a Node: its LAN
// addresses as InternalIPs (kube-proxy waits for them), its hostname label
// (what nodeSelectors usually match) and a Ready condition.
func (c *Cluster) createNode(ctx context.Context, h *netlab.Host, i int) error {
	v4, v6 := podCIDRs(i)
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: h.Name, Labels: map[string]string{
			corev1.LabelHostname: h.Name, corev1.LabelOSStable: "linux",
		}},
		Spec: corev1.NodeSpec{PodCIDR: v4.String(), PodCIDRs: []string{v4.String(), v6.String()}},
	}
	if err := c.Client.Create(ctx, n); err != nil {
		return fmt.Errorf("cluster: node %s: %w", h.Name, err)
	}
	now := metav1.Now()
	n.Status = corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: h.IPv4.String()},
			{Type: corev1.NodeInternalIP, Address: h.IPv6.String()},
			{Type: corev1.NodeHostName, Address: h.Name},
		},
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "LabNode",
			Message: "node namespace of the Portico test lab", LastHeartbeatTime: now, LastTransitionTime: now,
		}},
	}
	if err := c.Client.Status().Update(ctx, n); err != nil {
		return fmt.Errorf("cluster: node %s: status: %w", h.Name, err)
	}
	return nil
}

// routeNodes gives every node routes to the other nodes' pod ranges via
// their LAN addresses: a flat pod network without an overlay.
func (c *Cluster) routeNodes(ctx context.Context) error {
	for _, h := range c.Lab.Nodes {
		if err := c.routeNode(ctx, h, "add"); err != nil {
			return err
		}
	}
	return nil
}

// routeNode gives node h its routes to the other nodes' pod ranges and
// to the Service range: verb "add" when the cluster starts, "replace" to
// put back routes the kernel may have deleted. The Service range route
// stands in for a real node's default route: a connection the node opens
// to a ClusterIP needs some route before kube-proxy's output chain DNATs
// it (to a pod, or to an ExternalService's target on the LAN).
func (c *Cluster) routeNode(ctx context.Context, h *netlab.Host, verb string) error {
	for _, r := range strings.Split(serviceCIDR, ",") {
		family := "-4"
		if strings.Contains(r, ":") {
			family = "-6"
		}
		if err := c.ipIn(ctx, h.Namespace, family, "route", verb, r, "dev", h.Interface); err != nil {
			return err
		}
	}
	for j, o := range c.Lab.Nodes {
		if o == h {
			continue
		}
		v4, v6 := podCIDRs(j + 1)
		if err := c.ipIn(ctx, h.Namespace, "route", verb, v4.String(), "via", o.IPv4.String()); err != nil {
			return err
		}
		if err := c.ipIn(ctx, h.Namespace, "-6", "route", verb, v6.String(), "via", o.IPv6.String()); err != nil {
			return err
		}
	}
	return nil
}

// SetNodeLink takes node's LAN link down or up, as pulling and plugging its
// cable would (netlab's Host.SetLink). Link down also makes the kernel
// delete the node's routes to the other nodes' pod ranges, since they go
// via the LAN, and link up does not bring them back; so on up SetNodeLink
// puts them back as Start made them, and kube-proxy on the node reaches
// every pod again. It returns once the link is up, none of its IPv6
// addresses is tentative and the routes are in place. It does not wait for
// the speakers: see WaitSettled.
func (c *Cluster) SetNodeLink(ctx context.Context, node string, up bool) error {
	h, _, err := c.node(node)
	if err != nil {
		return err
	}
	if err := h.SetLink(up); err != nil || !up {
		return err // netlab's errors name the node
	}
	return c.routeNode(ctx, h, "replace")
}

// startController runs portico-controller in the root namespace; it reaches
// the API server on the bridge address like everything else.
func (c *Cluster) startController(ctx context.Context) error {
	probe, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	external, err := c.controllerExternalArgs()
	if err != nil {
		return err
	}
	args := []string{filepath.Join(c.bin, binController),
		"--kubeconfig", c.Kubeconfig, "--namespace", Namespace, "--leader-elect=false",
		"--metrics-bind-address", "0", "--health-probe-bind-address", probe}
	args = append(args, external...)
	p, err := c.Lab.Start(c.ctx, c.logPath("controller"), append(args, c.o.ControllerArgs...)...)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.controller = p
	c.mu.Unlock()
	err = netlab.Poll(ctx, 100*time.Millisecond, 60*time.Second, "controller ready at http://"+probe+"/readyz", func(context.Context) error {
		if p.Exited() {
			return netlab.Permanent(fmt.Errorf("controller exited at start (%v)\n%s", p.Wait(), tail(c.logPath("controller"), 20)))
		}
		return httpReady("http://" + probe + "/readyz")
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// Controller is the running portico-controller, for the benches that
// measure it.
func (c *Cluster) Controller() *netlab.Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.controller
}

// startKubeProxy runs kube-proxy in node namespace h, in nftables mode. The
// conntrack flags at 0 keep it from setting machine-wide sysctls; healthz
// listens on the node's LAN address so the harness can poll it from the
// root namespace.
func (c *Cluster) startKubeProxy(h *netlab.Host) error {
	p, err := h.Start(c.ctx, c.logPath("kube-proxy-"+h.Name), c.o.KubeProxy,
		"--kubeconfig", c.Kubeconfig, "--proxy-mode", "nftables", "--hostname-override", h.Name,
		"--cluster-cidr", clusterCIDRs,
		"--conntrack-max-per-core", "0", "--conntrack-tcp-timeout-established", "0", "--conntrack-tcp-timeout-close-wait", "0",
		"--healthz-bind-address", netip.AddrPortFrom(h.IPv4, proxyHealthzPort).String(),
		"--metrics-bind-address", "127.0.0.1:10249")
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.proxies[h.Name] = p
	c.mu.Unlock()
	return nil
}

// waitKubeProxies waits until every kube-proxy reports healthy, which it
// does after its first full sync of the rules.
func (c *Cluster) waitKubeProxies(ctx context.Context) error {
	for _, h := range c.Lab.Nodes {
		c.mu.Lock()
		p := c.proxies[h.Name]
		c.mu.Unlock()
		url := fmt.Sprintf("http://%s/healthz", netip.AddrPortFrom(h.IPv4, proxyHealthzPort))
		err := netlab.Poll(ctx, 100*time.Millisecond, 60*time.Second, "kube-proxy on "+h.Name+" healthy", func(context.Context) error {
			if p.Exited() {
				return netlab.Permanent(fmt.Errorf("kube-proxy on %s exited (%v)\n%s", h.Name, p.Wait(), tail(c.logPath("kube-proxy-"+h.Name), 20)))
			}
			return httpReady(url)
		})
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
	}
	return nil
}

// StartSpeaker starts node's speaker, which must not be running. It does
// not wait: the speaker joins the others and becomes stable after its
// hold-down (see WaitSettled).
func (c *Cluster) StartSpeaker(node string) error {
	h, _, err := c.node(node)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.speakers[node]; p != nil {
		select {
		case <-p.Done():
		default:
			return fmt.Errorf("cluster: speaker on %s is already running (pid %d)", node, p.Pid)
		}
	}
	log := c.logPath("speaker-" + node)
	if f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "=== %s: cluster: starting the speaker\n", time.Now().Format(time.RFC3339Nano))
		f.Close()
	}
	args := []string{
		"--kubeconfig", c.Kubeconfig, "--node-name", node, "--bind-address", h.IPv4.String(),
		"--namespace", Namespace, "--metrics-bind-address", netip.AddrPortFrom(h.IPv4, speakerMetricsPort).String(),
		"--memberlist-port", strconv.Itoa(memberlistPort),
		"--probe-interval", "70ms", "--probe-timeout", "35ms", "--suspicion-mult", "2", "--hold-down", "3s",
		"--gratuitous-count", "3", "--gratuitous-interval", "100ms", "--handover-delay", "1s",
	}
	p, err := h.Start(c.ctx, log, filepath.Join(c.bin, binSpeaker), append(args, c.o.SpeakerArgs...)...)
	if err != nil {
		return err
	}
	c.speakers[node] = p
	return nil
}

// KillSpeaker sends sig to node's speaker. For SIGKILL, SIGTERM and SIGINT
// it waits (up to 15 s) until the speaker has exited, so after a SIGTERM
// it returns once the handover is over.
func (c *Cluster) KillSpeaker(node string, sig syscall.Signal) error {
	p := c.Speaker(node)
	if p == nil {
		return fmt.Errorf("cluster: no speaker on %s", node)
	}
	if err := p.Kill(sig); err != nil {
		return err
	}
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM && sig != syscall.SIGINT {
		return nil
	}
	select {
	case <-p.Done():
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("cluster: speaker on %s still running 15s after signal %v", node, sig)
	}
}

// Speaker returns node's latest speaker process (nil if never started); see
// its Done channel for whether it still runs.
func (c *Cluster) Speaker(node string) *netlab.Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speakers[node]
}

// runningSpeakers returns the nodes whose speaker runs.
func (c *Cluster) runningSpeakers() []*netlab.Host {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*netlab.Host
	for _, h := range c.Lab.Nodes {
		p := c.speakers[h.Name]
		if p == nil {
			continue
		}
		select {
		case <-p.Done():
		default:
			out = append(out, h)
		}
	}
	return out
}

// WaitSettled waits (at most 60 s, or until ctx ends) until every running
// speaker counts every running speaker, itself included, as a stable member
// and none as in hold-down: from then on elections are what they will stay.
// It reads the speakers' portico_speaker_members gauge.
func (c *Cluster) WaitSettled(ctx context.Context) error {
	err := netlab.Poll(ctx, 100*time.Millisecond, 60*time.Second, "speakers settled", func(context.Context) error {
		running := c.runningSpeakers()
		var b strings.Builder
		ok := true
		for _, h := range running {
			m, err := scrape(fmt.Sprintf("http://%s/metrics", netip.AddrPortFrom(h.IPv4, speakerMetricsPort)))
			stable, hold := m[`portico_speaker_members{state="stable"}`], m[`portico_speaker_members{state="holddown"}`]
			fmt.Fprintf(&b, " %s: stable=%v holddown=%v", h.Name, stable, hold)
			if err != nil {
				fmt.Fprintf(&b, " (%v)", err)
			}
			if err != nil || int(stable) != len(running) || hold != 0 {
				ok = false
			}
		}
		if !ok {
			return fmt.Errorf("last seen:%s", b.String())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// node returns node name's host and its index (1-based).
func (c *Cluster) node(name string) (*netlab.Host, int, error) {
	for i, h := range c.Lab.Nodes {
		if h.Name == name {
			return h, i + 1, nil
		}
	}
	return nil, 0, fmt.Errorf("cluster: no node %q", name)
}

// NodeByMAC returns the name of the node whose eth0 has mac, or "".
func (c *Cluster) NodeByMAC(mac net.HardwareAddr) string {
	for _, h := range c.Lab.Nodes {
		if bytes.Equal(h.MAC, mac) {
			return h.Name
		}
	}
	return ""
}

// NodeByIP returns the name of the node with LAN address ip, or "".
func (c *Cluster) NodeByIP(ip netip.Addr) string {
	ip = ip.Unmap()
	for _, h := range c.Lab.Nodes {
		if h.IPv4 == ip || h.IPv6 == ip {
			return h.Name
		}
	}
	return ""
}

func (c *Cluster) logPath(name string) string { return filepath.Join(c.Dir, name+".log") }

// ipIn runs ip -n ns args.
func (c *Cluster) ipIn(ctx context.Context, ns string, args ...string) error {
	_, err := c.run(ctx, c.ip, append([]string{"-n", ns}, args...)...)
	return err
}

// run runs a command and returns its stdout, or an error with its stderr.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("cluster: %s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// httpGet fetches url from the root namespace, within a second.
func httpGet(url string) (*http.Response, error) {
	return (&http.Client{Timeout: time.Second}).Get(url)
}

// httpReady returns nil once url answers 200 OK, and otherwise what it
// answered, for a Poll's last state.
func httpReady(url string) error {
	resp, err := httpGet(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answers %s", url, resp.Status)
	}
	return nil
}

// SpeakerMetrics reads node's speaker metrics page: "name{labels}" →
// value, as the text format spells the series.
func (c *Cluster) SpeakerMetrics(node string) (map[string]float64, error) {
	h, _, err := c.node(node)
	if err != nil {
		return nil, err
	}
	return scrape(fmt.Sprintf("http://%s/metrics", netip.AddrPortFrom(h.IPv4, speakerMetricsPort)))
}

// scrape reads a Prometheus text page into "name{labels}" → value; it
// needs nothing more than the gauges the harness waits on.
func scrape(url string) (map[string]float64, error) {
	resp, err := httpGet(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// freeLoopbackPort returns 127.0.0.1:<a port free right now>.
func freeLoopbackPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cluster: reserving a port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
