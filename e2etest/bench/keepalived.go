package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// keepalivedPort is where the podservers on the keepalived nodes listen.
const keepalivedPort = 8080

// vrrpConfig is one keepalived node's configuration: one VRRP instance
// holding one IPv4 VIP on the node's LAN link.
type vrrpConfig struct {
	RouterID  string
	State     string // MASTER or BACKUP: only the initial state
	Interface string
	VRID      int
	Priority  int
	AdvertInt time.Duration
	VIP       netip.Addr
}

// render writes the keepalived.conf: VRRPv3, preemption left at its
// default (on, no delay), so the higher priority takes the VIP back as soon
// as it returns, as most installations run it.
func (v vrrpConfig) render() (string, error) {
	cs := v.AdvertInt / (10 * time.Millisecond)
	switch {
	case v.AdvertInt%(10*time.Millisecond) != 0 || cs < 1 || cs > 4095:
		// VRRPv3 carries the interval in centiseconds, 12 bits.
		return "", fmt.Errorf("keepalived: advert_int %v: want 10ms to 40.95s in steps of 10ms", v.AdvertInt)
	case v.State != "MASTER" && v.State != "BACKUP":
		return "", fmt.Errorf("keepalived: state %q: want MASTER or BACKUP", v.State)
	case v.Priority < 1 || v.Priority > 254:
		return "", fmt.Errorf("keepalived: priority %d: want 1 to 254", v.Priority)
	case v.VRID < 1 || v.VRID > 255:
		return "", fmt.Errorf("keepalived: virtual_router_id %d: want 1 to 255", v.VRID)
	case !v.VIP.Is4():
		return "", fmt.Errorf("keepalived: VIP %v: want an IPv4 address", v.VIP)
	case v.RouterID == "" || v.Interface == "":
		return "", errors.New("keepalived: router_id and interface are required")
	}
	adv := strconv.FormatFloat(math.Round(v.AdvertInt.Seconds()*100)/100, 'f', -1, 64)
	return fmt.Sprintf(`global_defs {
    router_id %s
    vrrp_version 3
}

vrrp_instance VI_1 {
    state %s
    interface %s
    virtual_router_id %d
    priority %d
    advert_int %s
    virtual_ipaddress {
        %s/32 dev %s
    }
}
`, v.RouterID, v.State, v.Interface, v.VRID, v.Priority, adv, v.VIP, v.Interface), nil
}

// keepalivedTarget is keepalived on two nodes of a lab of its own, with a
// podserver on each node answering on the VIP.
type keepalivedTarget struct {
	lab     *netlab.Lab
	dir     string
	bin     string // keepalived
	ip      string // the ip command
	vip     netip.Addr
	version string
	conf    map[string]string // node → rendered configuration
	procs   map[string]*netlab.Process
}

var _ target = (*keepalivedTarget)(nil)

// runKeepalived measures the reference under the same faults.
func runKeepalived(ctx context.Context, c failoverConfig, dir string, r report) (res *targetResult, err error) {
	kt, err := startKeepalived(ctx, filepath.Join(dir, "keepalived"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := kt.lab.Destroy(); derr != nil && err == nil {
			err = fmt.Errorf("bench: %w", derr)
		}
	}()
	res = newTargetResult("keepalived")
	res.setting = []string{
		fmt.Sprintf("%s; lab %s, LAN %s; VIP %s:%d (podserver on each node)", kt.version, kt.lab.Prefix, kt.lab.LANv4, kt.vip, keepalivedPort),
		"keepalived -n -l -G -D -P -f <conf> -p <pid> -r <vrrp pid>, one per node namespace; kill -9 hits its process group, SIGTERM its main process",
		"node-1 (node-2: state BACKUP, priority 100):",
	}
	for l := range strings.Lines(kt.conf["node-1"]) {
		res.setting = append(res.setting, "    "+strings.TrimRight(l, "\n"))
	}
	printTargetHeader(r, res)
	via := func(line string) string { return lineField(line, "node") }
	o, err := startObservers(ctx, c, kt.lab, netip.AddrPortFrom(kt.vip, keepalivedPort), via)
	if err != nil {
		return res, err
	}
	defer func() {
		if oerr := o.stop(); oerr != nil && err == nil {
			err = fmt.Errorf("bench: %w", oerr)
		}
	}()
	if err := runFaults(ctx, c, kt, o, res, r); err != nil {
		return res, err
	}
	return res, nil
}

// startKeepalived builds podserver, creates a two-node lab and starts
// keepalived and a podserver on both nodes.
func startKeepalived(ctx context.Context, dir string) (_ *keepalivedTarget, err error) {
	kt := &keepalivedTarget{dir: dir, conf: map[string]string{}, procs: map[string]*netlab.Process{}}
	if kt.bin, err = lookSbin("keepalived"); err != nil {
		return nil, fmt.Errorf("bench: keepalived is not installed (run `make setup`, which installs it with apt): %w", err)
	}
	if kt.ip, err = netlab.IPCommand(); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, kt.bin, "--version").CombinedOutput(); err == nil {
		kt.version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	podserver, err := buildPodserver(ctx, dir)
	if err != nil {
		return nil, err
	}
	if kt.lab, err = netlab.Create(ctx, netlab.Options{Nodes: 2}); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			kt.lab.Destroy()
		}
	}()
	kt.vip, _ = kt.lab.Addr(netlab.PoolFirst)
	for i, h := range kt.lab.Nodes {
		v := vrrpConfig{RouterID: h.Name, State: "MASTER", Interface: h.Interface, VRID: 51, Priority: 150,
			AdvertInt: 100 * time.Millisecond, VIP: kt.vip}
		if i > 0 {
			v.State, v.Priority = "BACKUP", 100
		}
		if kt.conf[h.Name], err = v.render(); err != nil {
			return nil, err
		}
		if err := os.WriteFile(kt.path(h.Name, ".conf"), []byte(kt.conf[h.Name]), 0o644); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		// The VIP is added to eth0 by keepalived: listen on every address.
		if _, err := h.Start(context.Background(), kt.path(h.Name, "-podserver.log"), podserver,
			"--listen", ":"+strconv.Itoa(keepalivedPort), "--pod", "ka-"+h.Name, "--node", h.Name); err != nil {
			return nil, err
		}
		if err := kt.start(h.Name); err != nil {
			return nil, err
		}
	}
	err = pollUntil(ctx, "keepalived to elect a master", func(ctx context.Context) error {
		n, err := kt.announcer(ctx)
		if err == nil && n == "" {
			err = errors.New("not exactly one node holds the VIP")
		}
		return err
	})
	return kt, err
}

// start starts node's keepalived. Stale pid files (after kill -9) make it
// refuse to start ("daemon is already running"); a reboot would have
// cleared them with /run, so they are removed first.
func (kt *keepalivedTarget) start(node string) error {
	h, err := kt.host(node)
	if err != nil {
		return err
	}
	for _, s := range []string{".pid", "-vrrp.pid"} {
		if err := os.Remove(kt.path(node, s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("bench: %w", err)
		}
	}
	p, err := h.Start(context.Background(), kt.path(node, ".log"), kt.bin, "-n", "-l", "-G", "-D", "-P",
		"-f", kt.path(node, ".conf"), "-p", kt.path(node, ".pid"), "-r", kt.path(node, "-vrrp.pid"))
	if err != nil {
		return err
	}
	kt.procs[node] = p
	return nil
}

// announcer returns the only node whose eth0 holds the VIP.
func (kt *keepalivedTarget) announcer(ctx context.Context) (string, error) {
	var holders []string
	for _, h := range kt.lab.Nodes {
		out, err := exec.CommandContext(ctx, kt.ip, "-n", h.Namespace, "-4", "-o", "addr", "show", "dev", h.Interface, "to", kt.vip.String()+"/32").Output()
		if err != nil {
			return "", fmt.Errorf("bench: %s: ip addr: %w", h.Name, err)
		}
		if len(bytes.TrimSpace(out)) > 0 {
			holders = append(holders, h.Name)
		}
	}
	if len(holders) != 1 {
		return "", nil
	}
	return holders[0], nil
}

func (kt *keepalivedTarget) inject(ctx context.Context, f fault, node string) error {
	p := kt.procs[node]
	switch f {
	case faultKill:
		// The whole group: the main process and its VRRP child.
		if err := p.Kill(syscall.SIGKILL); err != nil {
			return err
		}
		return waitExit(p, 5*time.Second)
	case faultSIGTERM:
		// The main process only, as systemd stops it; it stops the child,
		// which sends priority 0 so the backup takes over at once.
		if err := syscall.Kill(p.Pid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("bench: keepalived on %s: %w", node, err)
		}
		return waitExit(p, 10*time.Second)
	case faultLinkDown:
		h, err := kt.host(node)
		if err != nil {
			return err
		}
		return h.SetLink(false)
	}
	return fmt.Errorf("bench: unknown fault %q", f)
}

func (kt *keepalivedTarget) restore(ctx context.Context, f fault, node string) error {
	if f == faultLinkDown {
		h, err := kt.host(node)
		if err != nil {
			return err
		}
		return h.SetLink(true)
	}
	if !kt.procs[node].Exited() {
		return nil
	}
	return kt.start(node)
}

// settled: both keepalived run and exactly one node holds the VIP.
func (kt *keepalivedTarget) settled(ctx context.Context) bool {
	for _, p := range kt.procs {
		if p.Exited() {
			return false
		}
	}
	n, err := kt.announcer(ctx)
	return err == nil && n != ""
}

func (kt *keepalivedTarget) host(node string) (*netlab.Host, error) {
	for _, h := range kt.lab.Nodes {
		if h.Name == node {
			return h, nil
		}
	}
	return nil, fmt.Errorf("bench: no node %q", node)
}

func (kt *keepalivedTarget) path(node, suffix string) string {
	return filepath.Join(kt.dir, node+suffix)
}

func waitExit(p *netlab.Process, limit time.Duration) error {
	select {
	case <-p.Done():
		return nil
	case <-time.After(limit):
		return fmt.Errorf("bench: %s still running %v after the signal", p.Name, limit)
	}
}

// buildPodserver builds the lab's podserver into dir.
func buildPodserver(ctx context.Context, dir string) (string, error) {
	bins, err := cluster.GoBuild(ctx, dir, "./e2etest/cmd/podserver")
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	return bins[0], nil
}

// lookSbin finds a command in PATH, /usr/sbin or /sbin.
func lookSbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name), nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH, /usr/sbin or /sbin", name)
}
