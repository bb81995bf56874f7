package netlab

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/portico-lb/portico/internal/netns"
	"github.com/portico-lb/portico/internal/roottier"
)

// Lab is one running lab: a bridge in the root namespace and the hosts on it.
// Its exported fields never change after Create; use its methods from any
// goroutine.
type Lab struct {
	Prefix string // every name the lab creates starts with it
	Bridge string // the bridge in the root namespace

	LANv4, LANv6 netip.Prefix
	// GatewayV4 and GatewayV6 are the bridge's addresses in the root
	// namespace (host ID 1): the API server listens on GatewayV4.
	GatewayV4, GatewayV6 netip.Addr

	Nodes  []*Host // node-1 … node-N
	Client *Host   // nil with Options.NoClient

	ip    string        // path of the ip command
	mu    sync.Mutex    // guards the fields below
	lock  *os.File      // holds the lab's lock file (see cleanup.go); nil once dropped
	byID  map[int]*Host // every host, also those added after Create
	proc  []*Process    // every process Start started
	spawn *netns.Thread // forks every process (see newSpawner)
	done  bool          // Destroy has run; no more hosts or processes
}

// Create builds a lab: the bridge, then every node and the client. On any
// error it removes what it created. ctx bounds the commands it runs, not the
// lab's lifetime: call Destroy for that.
func Create(ctx context.Context, o Options) (*Lab, error) {
	ip, err := IPCommand()
	if err != nil {
		return nil, err
	}
	unlock, err := lockDir(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	l, o, err := reserve(ctx, ip, o)
	if err != nil {
		return nil, err
	}
	err = l.addBridge(ctx)
	// The bridge's routes now mark the subnets as taken: other labs may pick
	// theirs while this one adds its hosts.
	unlock()
	if err == nil {
		err = l.addHosts(ctx, o)
	}
	if err != nil {
		l.Destroy() // err says what went wrong; this only tidies up
		return nil, err
	}
	return l, nil
}

// addHosts adds the nodes and the client.
func (l *Lab) addHosts(ctx context.Context, o Options) error {
	for i := 1; i <= o.Nodes; i++ {
		h, err := l.AddHost(ctx, fmt.Sprintf("node-%d", i), idFirstNode+i-1)
		if err != nil {
			return err
		}
		// Nodes route to the pod namespaces behind them.
		for _, kv := range [][2]string{{"net.ipv4.ip_forward", "1"}, {"net.ipv6.conf.all.forwarding", "1"}} {
			if err := h.Sysctl(kv[0], kv[1]); err != nil {
				return err
			}
		}
		l.Nodes = append(l.Nodes, h)
	}
	if !o.NoClient {
		h, err := l.AddHost(ctx, "client", idClient)
		if err != nil {
			return err
		}
		l.Client = h
	}
	return nil
}

// reserve fills the defaults until the prefix and both subnets are free, takes
// the prefix's lock file and returns the Lab and the filled Options. The
// caller holds the directory lock, so no other Create can pick the same names
// meanwhile.
func reserve(ctx context.Context, ip string, o Options) (*Lab, Options, error) {
	const attempts = 64 // 1/256 of subnets per lab are taken; plenty
	for range attempts {
		c, err := setOptionsDefaults(o, rand.IntN)
		if err != nil {
			return nil, o, err
		}
		inUse, err := prefixInUse(ctx, ip, c.Prefix)
		if err != nil {
			return nil, o, err
		}
		if inUse {
			if o.Prefix != "" {
				return nil, o, fmt.Errorf("netlab: prefix %s is in use (Destroy that lab, or Cleanup(%q) after a crash)", c.Prefix, c.Prefix)
			}
			continue
		}
		taken, err := rootPrefixes(ctx, ip)
		if err != nil {
			return nil, o, err
		}
		if q, ok := overlapsAny(c.LANv4, taken); ok {
			if o.LANv4.IsValid() {
				return nil, o, fmt.Errorf("netlab: LANv4 %s overlaps %s in the root namespace", c.LANv4, q)
			}
			continue
		}
		if q, ok := overlapsAny(c.LANv6, taken); ok {
			if o.LANv6.IsValid() {
				return nil, o, fmt.Errorf("netlab: LANv6 %s overlaps %s in the root namespace", c.LANv6, q)
			}
			continue
		}
		lock, err := takeLock(c)
		if err != nil {
			return nil, o, err
		}
		spawn, err := newSpawner()
		if err != nil {
			dropLock(lock)
			return nil, o, fmt.Errorf("netlab: spawner thread: %w", err)
		}
		gw4, gw6 := hostAddrs(c.LANv4, c.LANv6, idGateway)
		return &Lab{
			Prefix: c.Prefix, Bridge: c.Prefix + "br",
			LANv4: c.LANv4, LANv6: c.LANv6, GatewayV4: gw4, GatewayV6: gw6,
			ip: ip, lock: lock, byID: map[int]*Host{}, spawn: spawn,
		}, c, nil
	}
	return nil, o, fmt.Errorf("netlab: no free prefix and subnets after %d random picks", attempts)
}

// addBridge creates the bridge with the gateway addresses.
func (l *Lab) addBridge(ctx context.Context) error {
	gwMAC := macFor(l.GatewayV4)
	// A bridge without an address of its own takes the lowest MAC of its
	// ports, so its MAC (and the API server's) would change whenever a host
	// joins or leaves. Setting it once pins it. STP off: ports forward at
	// once. Multicast snooping off: a snooping bridge without an MLD querier
	// forwards a group only to ports that reported it, and those reports race
	// with a VIP moving to another node; the lab tests the speakers, not a
	// switch's snooping.
	if _, err := l.run(ctx, l.Bridge, "link", "add", l.Bridge, "address", gwMAC.String(),
		"type", "bridge", "stp_state", "0", "mcast_snooping", "0"); err != nil {
		return err
	}
	for _, kv := range [][2]string{
		{"net/ipv6/conf/" + l.Bridge + "/disable_ipv6", "0"},
		{"net/ipv6/conf/" + l.Bridge + "/accept_dad", "0"},
		{"net/ipv6/conf/" + l.Bridge + "/keep_addr_on_down", "1"},
		// A router in the lab must never give the root namespace a default
		// route or an address.
		{"net/ipv6/conf/" + l.Bridge + "/accept_ra", "0"},
		{"net/ipv6/conf/" + l.Bridge + "/autoconf", "0"},
	} {
		if err := writeSysctl(l.Bridge, kv[0], kv[1]); err != nil {
			return err
		}
	}
	// With br_netfilter loaded, frames crossing any bridge of the root
	// namespace also pass its iptables/ip6tables/arptables chains, where a
	// host firewall (Docker's FORWARD DROP, say) would eat lab traffic. The
	// sysctls are per network namespace (every new namespace has its own
	// copy, checked on 6.x), so this changes the root namespace only; it is not restored, because another lab may still
	// be running. Without br_netfilter the files do not exist: nothing to do.
	for _, f := range []string{"bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables"} {
		if _, err := os.Stat("/proc/sys/net/bridge/" + f); err != nil {
			continue
		}
		if err := writeSysctl(l.Bridge, "net/bridge/"+f, "0"); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"addr", "add", prefixOf(l.GatewayV4, l.LANv4), "dev", l.Bridge},
		{"addr", "add", prefixOf(l.GatewayV6, l.LANv6), "dev", l.Bridge, "nodad"},
		{"link", "set", l.Bridge, "up"},
	} {
		if _, err := l.run(ctx, l.Bridge, args...); err != nil {
			return err
		}
	}
	return nil
}

// AddHost creates the namespace "<prefix>-<name>" with eth0 on the bridge and
// the addresses of host ID id (see the package doc; 2 to 254, except the pool
// IDs). Create uses it for the nodes and the client; later code adds the
// router (ID 2) and databases (IDs 101 and up) with it. On error it removes
// what it created.
func (l *Lab) AddHost(ctx context.Context, name string, id int) (_ *Host, err error) {
	tag, err := hostTag(name)
	if err != nil {
		return nil, err
	}
	if id < 2 || id > 254 || (id >= PoolFirst && id <= PoolLast) {
		return nil, fmt.Errorf("%w: %s: ID %d: want 2 to 254, outside the pool IDs %d to %d", errBadHost, name, id, PoolFirst, PoolLast)
	}
	v4, v6 := l.Addr(id)
	h := &Host{
		Name: name, Namespace: l.Prefix + "-" + name, Interface: "eth0",
		MAC: macFor(v4), IPv4: v4, IPv6: v6, HostLink: l.Prefix + tag, lab: l,
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return nil, fmt.Errorf("netlab: %s: lab %s is destroyed", name, l.Prefix)
	}
	for oid, o := range l.byID {
		if o.Name == name || o.HostLink == h.HostLink || oid == id {
			return nil, fmt.Errorf("%w: %s (ID %d, link %s) clashes with %s (ID %d, link %s)", errBadHost, name, id, h.HostLink, o.Name, oid, o.HostLink)
		}
	}
	var madeNS, madeLink bool
	defer func() {
		if err == nil {
			return
		}
		// Best effort, and only what this call made; Destroy removes the rest.
		bg, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if madeLink {
			l.run(bg, h.HostLink, "link", "del", h.HostLink)
		}
		if madeNS {
			l.run(bg, h.Namespace, "netns", "del", h.Namespace)
		}
	}()
	if _, err := l.run(ctx, name, "netns", "add", h.Namespace); err != nil {
		return nil, err
	}
	madeNS = true
	// Links created in the namespace later (pod veths) inherit "default";
	// "all" matters too, because DAD runs unless both say no.
	for _, dev := range []string{"all", "default"} {
		if err := h.setIPv6Conf(dev); err != nil {
			return nil, err
		}
	}
	if _, err := l.run(ctx, name, "link", "add", h.HostLink, "type", "veth",
		"peer", "name", h.Interface, "address", h.MAC.String(), "netns", h.Namespace); err != nil {
		return nil, err
	}
	madeLink = true
	// The root-side port only switches frames: without IPv6 it sends no
	// router solicitations or MLD reports into the lab and needs no DAD.
	if err := writeSysctl(h.HostLink, "net/ipv6/conf/"+h.HostLink+"/disable_ipv6", "1"); err != nil {
		return nil, err
	}
	if _, err := l.run(ctx, h.HostLink, "link", "set", h.HostLink, "master", l.Bridge, "up"); err != nil {
		return nil, err
	}
	if err := h.setIPv6Conf(h.Interface); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"addr", "add", prefixOf(v4, l.LANv4), "dev", h.Interface},
		{"addr", "add", prefixOf(v6, l.LANv6), "dev", h.Interface, "nodad"},
		{"link", "set", "lo", "up"},
		{"link", "set", h.Interface, "up"},
	} {
		if _, err := l.run(ctx, name, append([]string{"-n", h.Namespace}, args...)...); err != nil {
			return nil, err
		}
	}
	if err := h.waitNotTentative(ctx); err != nil {
		return nil, err
	}
	l.byID[id] = h
	return h, nil
}

// Addr returns the IPv4 and IPv6 addresses of host ID id (0 to 255) on the
// lab's LAN, for hosts that do not exist yet and for pool addresses:
// l.Addr(PoolFirst).
func (l *Lab) Addr(id int) (v4, v6 netip.Addr) {
	return hostAddrs(l.LANv4, l.LANv6, id)
}

// Destroy stops every process Start started (SIGTERM, then SIGKILL after two
// seconds), kills whatever else still runs in the lab's namespaces and
// removes the namespaces, links and bridge: everything named with the lab's
// prefix, including namespaces later code created with it (pods). It is
// idempotent, and safe to call on a half-built lab.
func (l *Lab) Destroy() error {
	l.mu.Lock()
	l.done = true
	procs := l.proc
	l.proc = nil
	l.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.Stop(2 * time.Second) })
	}
	wg.Wait()
	l.spawn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := removeLab(ctx, l.ip, l.Prefix); err != nil {
		return err // the lock stays: Cleanup("") retries once we are gone
	}
	l.mu.Lock()
	lock := l.lock
	l.lock = nil
	l.mu.Unlock()
	if lock != nil {
		return dropLock(lock)
	}
	return nil
}

// run runs the ip command and returns its stdout. what names the host or
// link the command is about, for the error.
func (l *Lab) run(ctx context.Context, what string, args ...string) ([]byte, error) {
	return runIP(ctx, l.ip, what, args...)
}

func runIP(ctx context.Context, ip, what string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, ip, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("netlab: %s: ip %s: %w: %s", what, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// writeSysctl writes value to /proc/sys/<key> in the calling thread's
// network namespace; what names the host or link, for the error.
func writeSysctl(what, key, value string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0); err != nil {
		return fmt.Errorf("netlab: %s: sysctl %s=%s: %w", what, key, value, err)
	}
	return nil
}

// IPCommand finds the ip command (internal/roottier.IPCommand), with
// netlab's prefix on the error.
func IPCommand() (string, error) {
	p, err := roottier.IPCommand()
	if err != nil {
		return "", fmt.Errorf("netlab: %w", err)
	}
	return p, nil
}

// macFor gives a host a locally administered MAC that carries its IPv4
// address (02:00:0a:d5:39:0b for 10.213.57.11), so tcpdump and ip neigh
// read at a glance.
func macFor(v4 netip.Addr) net.HardwareAddr {
	a := v4.As4()
	return net.HardwareAddr{0x02, 0x00, a[0], a[1], a[2], a[3]}
}

func prefixOf(a netip.Addr, lan netip.Prefix) string {
	return netip.PrefixFrom(a, lan.Bits()).String()
}
