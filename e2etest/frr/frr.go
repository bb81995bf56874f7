package frr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// Where Debian's frr package puts things.
const (
	zebraBin = "/usr/lib/frr/zebra"
	bgpdBin  = "/usr/lib/frr/bgpd"
	bfddBin  = "/usr/lib/frr/bfdd"
	vtyGroup = "frrvty"
)

// ErrNotInstalled says FRR's binaries or its vty group are missing.
var ErrNotInstalled = errors.New("frr: not installed (run e2etest/setup/deps.sh as root)")

// Installed reports whether zebra, bgpd, bfdd, vtysh and the frrvty group
// are there; the error wraps ErrNotInstalled and names what is missing.
func Installed() error {
	var missing []string
	for _, b := range []string{zebraBin, bgpdBin, bfddBin} {
		if _, err := os.Stat(b); err != nil {
			missing = append(missing, b)
		}
	}
	if _, err := vtyshPath(); err != nil {
		missing = append(missing, "vtysh")
	}
	if _, err := user.LookupGroup(vtyGroup); err != nil {
		missing = append(missing, "group "+vtyGroup)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrNotInstalled, strings.Join(missing, ", "))
	}
	return nil
}

func vtyshPath() (string, error) {
	if p, err := exec.LookPath("vtysh"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/vtysh"); err != nil {
		return "", err
	}
	return "/usr/bin/vtysh", nil
}

// Router is a running FRR instance: zebra, bgpd and, with BFD profiles,
// bfdd in one lab host, with their configuration, vty sockets, zebra
// socket, bfdd's control socket, pid files and logs in Dir, so that
// instances never meet each other or the machine's own FRR.
type Router struct {
	Host *netlab.Host
	ASN  uint32
	Dir  string // removed by Stop

	vtysh   string
	ip      string
	procs   []*netlab.Process // zebra, bfdd when bfdd is set, then bgpd
	daemons []string          // their names
	bfdd    bool              // bfdd runs: Config had BFD profiles
	stop    sync.Once
	cfgMu   sync.Mutex // one configuration session at a time
}

// Start writes the configuration to a fresh directory and starts zebra,
// bfdd when c has BFD profiles, and then bgpd in c.Host's namespace,
// returning once each answers on its vty (at most 20 s each). bfdd starts
// before bgpd so that bgpd's BFD requests, which go through zebra, find it.
// The daemons run until Stop, and at the latest until the lab is
// destroyed. On error nothing is left running.
func Start(ctx context.Context, c Config) (_ *Router, err error) {
	c, err = setConfigDefaults(c)
	if err != nil {
		return nil, err
	}
	if err := Installed(); err != nil {
		return nil, err
	}
	vtysh, _ := vtyshPath()
	ip, err := netlab.IPCommand()
	if err != nil {
		return nil, err
	}
	// os.MkdirTemp, not a test's TempDir: unix socket paths must stay
	// under 108 bytes.
	dir, err := os.MkdirTemp("", "portico-frr-"+c.Host.Namespace+"-")
	if err != nil {
		return nil, fmt.Errorf("frr: %s: %w", c.Host.Name, err)
	}
	r := &Router{Host: c.Host, ASN: c.ASN, Dir: dir, vtysh: vtysh, ip: ip, bfdd: len(c.BFDProfiles) > 0}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, r.Logs())
			r.Stop()
		}
	}()
	type daemon struct {
		name, bin, conf, ready string
		extra                  []string
	}
	daemons := []daemon{{"zebra", zebraBin, renderZebra(c), "show version", nil}}
	if r.bfdd {
		// --bfdctl: bfdd's control socket defaults to /var/run/frr,
		// shared with every other instance and the machine's FRR.
		daemons = append(daemons, daemon{"bfdd", bfddBin, renderBFDD(c), "show bfd peers json",
			[]string{"--bfdctl", filepath.Join(dir, "bfdd.sock")}})
	}
	daemons = append(daemons, daemon{"bgpd", bgpdBin, renderBGPD(c), "show bgp summary json", nil})
	for _, d := range daemons {
		if err := os.WriteFile(filepath.Join(dir, d.name+".conf"), []byte(d.conf), 0o600); err != nil {
			return nil, fmt.Errorf("frr: %s: %w", c.Host.Name, err)
		}
	}
	for _, d := range daemons {
		if err := r.startDaemon(ctx, d.name, d.bin, d.ready, d.extra...); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// startDaemon runs one daemon and waits until its vty answers ready.
//
// -u root -g frrvty: FRR refuses a user outside its vty group, and root
// is in frrvty only through -g. -P 0: no TCP vty, only the socket in Dir.
func (r *Router) startDaemon(ctx context.Context, name, bin, ready string, extra ...string) error {
	args := append([]string{
		"-f", filepath.Join(r.Dir, name+".conf"),
		"--vty_socket", r.Dir,
		"-i", filepath.Join(r.Dir, name+".pid"),
		"-z", filepath.Join(r.Dir, "zserv.api"),
		"-u", "root", "-g", vtyGroup, "-P", "0",
		"--log", "stdout",
	}, extra...)
	// The processes outlive ctx (it bounds Start only); Stop ends them.
	p, err := r.Host.Start(context.Background(), r.logPath(name), bin, args...)
	if err != nil {
		return fmt.Errorf("frr: %s: %w", r.Host.Name, err)
	}
	r.procs, r.daemons = append(r.procs, p), append(r.daemons, name)
	err = netlab.Poll(ctx, 50*time.Millisecond, 20*time.Second, fmt.Sprintf("%s %s to answer on its vty", r.Host.Name, name), func(ctx context.Context) error {
		if p.Exited() {
			return netlab.Permanent(fmt.Errorf("%s exited: %v", name, p.Wait()))
		}
		_, err := r.vty(ctx, name, ready)
		return err
	})
	if err != nil {
		return fmt.Errorf("frr: %w", err)
	}
	return nil
}

func (r *Router) logPath(daemon string) string { return filepath.Join(r.Dir, daemon+".log") }

// Logs returns the last lines of the daemons' logs (zebra's, bfdd's and
// bgpd's), for a failing test's message.
func (r *Router) Logs() string {
	var b strings.Builder
	for _, d := range []string{"zebra", "bfdd", "bgpd"} {
		out, err := os.ReadFile(r.logPath(d))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		fmt.Fprintf(&b, "--- %s %s log (last %d lines)\n%s\n", r.Host.Name, d, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// Stop ends bgpd, bfdd and zebra (SIGTERM, SIGKILL after two seconds) and
// removes Dir. It is idempotent and never fails: there is nothing a caller
// could do about a leftover, and Lab.Destroy kills whatever still runs.
func (r *Router) Stop() {
	r.stop.Do(func() {
		for i := len(r.procs) - 1; i >= 0; i-- {
			p := r.procs[i]
			p.Stop(2 * time.Second)
			// Every FRR daemon keeps /var/tmp/frr/<daemon>.<pid> for crash
			// logs and removes it on a clean exit only; remove it when empty
			// (ip netns exec execs the daemon, so the pid is the daemon's).
			os.Remove(fmt.Sprintf("/var/tmp/frr/%s.%d", r.daemons[i], p.Pid))
		}
		os.RemoveAll(r.Dir)
	})
}

// vty runs vtysh commands against one daemon's socket in Dir (never the
// machine's FRR) and returns the output. FRR's CLI reports errors as
// lines starting with "%", often with exit status 0; those are errors here.
func (r *Router) vty(ctx context.Context, daemon string, cmds ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	args := []string{"--vty_socket", r.Dir, "--config_dir", r.Dir, "-d", daemon}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, r.vtysh, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		err = cliError(stdout.Bytes())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: vtysh -d %s -c %q: %w: %s", r.Host.Name, daemon, strings.Join(cmds, "; "), err,
			strings.TrimSpace(stderr.String()+" "+stdout.String()))
	}
	return stdout.Bytes(), nil
}

var errCLI = errors.New("FRR refused a command")

func cliError(out []byte) error {
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "%") {
			return errCLI
		}
	}
	return nil
}

// configure runs lines in bgpd's "router bgp" context.
func (r *Router) configure(ctx context.Context, lines ...string) error {
	r.cfgMu.Lock()
	defer r.cfgMu.Unlock()
	cmds := append([]string{"configure terminal", fmt.Sprintf("router bgp %d", r.ASN)}, lines...)
	if _, err := r.vty(ctx, "bgpd", cmds...); err != nil {
		return fmt.Errorf("frr: %w", err)
	}
	return nil
}

// AddNeighbor adds a BGP peer, activated in its address family.
func (r *Router) AddNeighbor(ctx context.Context, n Neighbor) error {
	if err := checkNeighbor(n); err != nil {
		return fmt.Errorf("frr: %s: %w", r.Host.Name, err)
	}
	if n.BFDProfile != "" && !r.bfdd {
		return fmt.Errorf("frr: %s: neighbor %s: BFD profile %s: bfdd is not running (Config had no BFD profile)", r.Host.Name, n.Addr, n.BFDProfile)
	}
	lines := neighborLines(n)
	lines = append(lines, fmt.Sprintf("address-family %s unicast", familyOf(n.Addr)))
	lines = append(lines, activateLines(n)...)
	return r.configure(ctx, lines...)
}

// RemoveNeighbor removes a BGP peer, closing its session; its routes go.
func (r *Router) RemoveNeighbor(ctx context.Context, addr netip.Addr) error {
	return r.configure(ctx, "no neighbor "+addr.String())
}

// Announce starts announcing p, with the Config's communities.
func (r *Router) Announce(ctx context.Context, p netip.Prefix) error {
	return r.network(ctx, p, "")
}

// Withdraw stops announcing p.
func (r *Router) Withdraw(ctx context.Context, p netip.Prefix) error {
	return r.network(ctx, p, "no ")
}

func (r *Router) network(ctx context.Context, p netip.Prefix, no string) error {
	if !p.IsValid() || p.Masked() != p {
		return fmt.Errorf("frr: %s: network %s: want a masked prefix", r.Host.Name, p)
	}
	return r.configure(ctx, fmt.Sprintf("address-family %s unicast", familyOf(p.Addr())),
		fmt.Sprintf("%snetwork %s route-map %s", no, p, rmAnnounce))
}
