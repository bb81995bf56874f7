package netlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-lb/portico/internal/roottier"
)

// newLab creates a lab for one test and destroys it when the test ends,
// passed or failed.
func newLab(t *testing.T, o Options) *Lab {
	t.Helper()
	roottier.Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	l, err := Create(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lab %s: %s %s, bridge %s, created in %v", l.Prefix, l.LANv4, l.LANv6, l.Bridge, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := l.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	return l
}

// serve listens on port in h's namespace on every address (IPv4 and IPv6)
// and answers each connection with the host's name.
func serve(t *testing.T, h *Host, port int) {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(h.Name))
			c.Close()
		}
	}()
}

// ask connects from h to addr and returns what the other end says.
func ask(h *Host, addr netip.AddrPort, timeout time.Duration) (string, error) {
	var got []byte
	err := h.Do(func() error {
		c, err := net.DialTimeout("tcp", addr.String(), timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		got, err = io.ReadAll(c)
		return err
	})
	return string(got), err
}

// addrInfo is one address of `ip -j addr show`.
type addrInfo struct {
	Local     string `json:"local"`
	Tentative bool   `json:"tentative"`
}

func addrsOf(t *testing.T, h *Host) (mac string, addrs []addrInfo) {
	t.Helper()
	out, err := h.lab.run(t.Context(), h.Name, "-n", h.Namespace, "-j", "addr", "show", "dev", h.Interface)
	if err != nil {
		t.Fatal(err)
	}
	var links []struct {
		Address  string     `json:"address"`
		AddrInfo []addrInfo `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("%s: ip -j addr show: %v: %s", h.Name, err, out)
	}
	return links[0].Address, links[0].AddrInfo
}

func TestLab(t *testing.T) {
	l := newLab(t, Options{})
	if len(l.Nodes) != 3 || l.Client == nil {
		t.Fatalf("lab has %d nodes and client %v, want 3 and a client", len(l.Nodes), l.Client)
	}
	const port = 7001
	for _, n := range l.Nodes {
		serve(t, n, port)
	}

	t.Run("addresses", func(t *testing.T) {
		seen := map[string]string{}
		for _, h := range append([]*Host{l.Client}, l.Nodes...) {
			mac, addrs := addrsOf(t, h)
			if mac != h.MAC.String() {
				t.Errorf("%s: eth0 has MAC %s, Host.MAC is %s", h.Name, mac, h.MAC)
			}
			if other, dup := seen[mac]; dup {
				t.Errorf("%s and %s share MAC %s", h.Name, other, mac)
			}
			seen[mac] = h.Name
			want := map[string]bool{h.IPv4.String(): false, h.IPv6.String(): false}
			for _, a := range addrs {
				if _, ok := want[a.Local]; ok {
					want[a.Local] = true
				}
				if a.Tentative {
					t.Errorf("%s: %s is tentative (DAD should be off)", h.Name, a.Local)
				}
			}
			for a, ok := range want {
				if !ok {
					t.Errorf("%s: eth0 lacks %s; has %+v", h.Name, a, addrs)
				}
			}
		}
	})

	t.Run("client reaches every node", func(t *testing.T) {
		for _, n := range l.Nodes {
			for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
				got, err := ask(l.Client, netip.AddrPortFrom(a, port), 2*time.Second)
				if err != nil || got != n.Name {
					t.Errorf("client → %s (%s): %q, %v; want %q", a, n.Name, got, err, n.Name)
				}
			}
		}
	})

	t.Run("nodes reach the gateway", func(t *testing.T) {
		// The API server will listen on the bridge address in the root
		// namespace; this test process stands in for it.
		for _, gw := range []netip.Addr{l.GatewayV4, l.GatewayV6} {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(gw, 0).String())
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				if c, err := ln.Accept(); err == nil {
					c.Write([]byte("gateway"))
					c.Close()
				}
			}()
			ap := netip.MustParseAddrPort(ln.Addr().String())
			if got, err := ask(l.Nodes[0], ap, 2*time.Second); err != nil || got != "gateway" {
				t.Errorf("node-1 → %s: %q, %v", ap, got, err)
			}
		}
	})

	t.Run("forwarding on nodes only", func(t *testing.T) {
		for _, h := range append([]*Host{l.Client}, l.Nodes...) {
			var v4, v6 []byte
			h.Do(func() (err error) {
				v4, _ = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
				v6, _ = os.ReadFile("/proc/sys/net/ipv6/conf/all/forwarding")
				return nil
			})
			want := "1\n"
			if h == l.Client {
				want = "0\n"
			}
			if string(v4) != want || string(v6) != want {
				t.Errorf("%s: ip_forward=%q, ipv6 forwarding=%q; want %q", h.Name, v4, v6, want)
			}
		}
	})

	t.Run("link flap", func(t *testing.T) {
		n2 := l.Nodes[1]
		if err := n2.SetLink(false); err != nil {
			t.Fatal(err)
		}
		for _, a := range []netip.Addr{n2.IPv4, n2.IPv6} {
			if got, err := ask(l.Client, netip.AddrPortFrom(a, port), 300*time.Millisecond); err == nil {
				t.Errorf("client → %s with node-2's link down: answered %q", a, got)
			}
		}
		if err := n2.SetLink(true); err != nil {
			t.Fatal(err)
		}
		// keep_addr_on_down: the addresses are still there, and SetLink has
		// waited until none is tentative.
		_, addrs := addrsOf(t, n2)
		kept := false
		for _, a := range addrs {
			kept = kept || a.Local == n2.IPv6.String()
			if a.Tentative {
				t.Errorf("node-2 after the flap: %s is tentative", a.Local)
			}
		}
		if !kept {
			t.Errorf("node-2 after the flap: addresses %+v lack %s", addrs, n2.IPv6)
		}
		for _, a := range []netip.Addr{n2.IPv4, n2.IPv6} {
			var got string
			var err error
			// The port needs a moment to forward again; bounded.
			for range 50 {
				if got, err = ask(l.Client, netip.AddrPortFrom(a, port), 300*time.Millisecond); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil || got != n2.Name {
				t.Errorf("client → %s after the flap: %q, %v", a, got, err)
			}
		}
	})

	t.Run("start", func(t *testing.T) {
		log := filepath.Join(t.TempDir(), "log")
		p, err := l.Nodes[2].Start(t.Context(), log, "sh", "-c", "ip -o addr show dev eth0; echo done >&2")
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(log)
		if !strings.Contains(string(b), " "+l.Nodes[2].IPv4.String()+"/") || !strings.Contains(string(b), "done") {
			t.Errorf("log of a command in node-3: %q, want node-3's address and stderr", b)
		}

		// A long-running process is in the namespace and stops with its ctx.
		ctx, cancel := context.WithCancel(t.Context())
		p, err = l.Nodes[2].Start(ctx, log, "sleep", "60")
		if err != nil {
			t.Fatal(err)
		}
		// Until it has exec'd sleep, the process is ip netns exec, still in
		// the root namespace.
		for i := 0; i < 100 && !isSleep(p.Pid); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		got, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p.Pid))
		var want string
		err2 := l.Nodes[2].Do(func() (err error) { want, err = os.Readlink("/proc/thread-self/ns/net"); return err })
		if err1 != nil || err2 != nil || got != want {
			t.Errorf("sleep runs in %q (%v), node-3 is %q (%v)", got, err1, want, err2)
		}
		cancel()
		select {
		case <-p.Done():
		case <-time.After(5 * time.Second):
			t.Error("sleep still runs 5s after its context ended")
		}
	})
}

// labLeftovers lists the namespaces and root-side links named with prefix.
func labLeftovers(t *testing.T, prefix string) []string {
	t.Helper()
	var left []string
	nss, err := listNamespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss {
		if strings.HasPrefix(ns, prefix) {
			left = append(left, "namespace "+ns)
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, prefix) {
			left = append(left, "link "+i.Name)
		}
	}
	if _, err := os.Stat(lockPath(prefix)); err == nil {
		left = append(left, "lock file")
	}
	return left
}

func TestDestroy(t *testing.T) {
	l := newLab(t, Options{Nodes: 2})
	if left := labLeftovers(t, l.Prefix); len(left) != 3*2+2 { // namespace and link of 2 nodes and the client; bridge; lock file
		t.Fatalf("a live lab has %v", left)
	}
	p, err := l.Nodes[0].Start(context.Background(), os.DevNull, "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	// A process the caller started and forgot is killed too.
	stray := l.Client.Command(context.Background(), "sleep", "60")
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	strayDone := make(chan struct{})
	go func() { stray.Wait(); close(strayDone) }()

	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	for what, done := range map[string]<-chan struct{}{"Start's sleep": p.Done(), "Command's sleep": strayDone} {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("%s still runs after Destroy", what)
		}
	}
	if left := labLeftovers(t, l.Prefix); len(left) > 0 {
		t.Errorf("after Destroy: %v", left)
	}
	if err := l.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if _, err := l.Nodes[0].Start(context.Background(), os.DevNull, "true"); err == nil {
		t.Error("Start on a destroyed lab succeeded")
	}
}

func TestCleanup(t *testing.T) {
	a := newLab(t, Options{Nodes: 1, NoClient: true})
	b := newLab(t, Options{Nodes: 1, NoClient: true})

	// A live lab survives Cleanup(""), even one of this very process.
	if err := Cleanup(""); err != nil {
		t.Fatal(err)
	}
	if left := labLeftovers(t, a.Prefix); len(left) == 0 {
		t.Fatalf("Cleanup(\"\") removed live lab %s", a.Prefix)
	}

	// Lab a's owner "crashes": its lock is released, Destroy never runs.
	a.mu.Lock()
	a.lock.Close()
	a.lock = nil
	a.mu.Unlock()
	if err := Cleanup(""); err != nil {
		t.Fatal(err)
	}
	if left := labLeftovers(t, a.Prefix); len(left) > 0 {
		t.Errorf("after Cleanup(\"\") of crashed lab %s: %v", a.Prefix, left)
	}
	if left := labLeftovers(t, b.Prefix); len(left) == 0 {
		t.Fatalf("Cleanup(\"\") removed live lab %s too", b.Prefix)
	}

	// Naming a lab removes it, owner or not.
	if err := Cleanup(b.Prefix); err != nil {
		t.Fatal(err)
	}
	if left := labLeftovers(t, b.Prefix); len(left) > 0 {
		t.Errorf("after Cleanup(%q): %v", b.Prefix, left)
	}
	if err := Cleanup("eth0"); err == nil {
		t.Error(`Cleanup("eth0") succeeded; want an error for a name that is no lab prefix`)
	}
}

func TestCreateRefusesClashes(t *testing.T) {
	l := newLab(t, Options{Nodes: 1, NoClient: true})
	ctx := t.Context()
	for name, o := range map[string]Options{
		"same prefix": {Prefix: l.Prefix, Nodes: 1, NoClient: true},
		"same LANv4":  {LANv4: l.LANv4, Nodes: 1, NoClient: true},
		"same LANv6":  {LANv6: l.LANv6, Nodes: 1, NoClient: true},
	} {
		if l2, err := Create(ctx, o); err == nil {
			l2.Destroy()
			t.Errorf("%s: Create succeeded", name)
		} else if !strings.Contains(err.Error(), "in use") && !strings.Contains(err.Error(), "overlaps") {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, add := range map[string]func() (*Host, error){
		"host name taken": func() (*Host, error) { return l.AddHost(ctx, "node-1", 50) },
		"ID taken":        func() (*Host, error) { return l.AddHost(ctx, "db-1", idFirstNode) },
		"pool ID":         func() (*Host, error) { return l.AddHost(ctx, "db-1", PoolFirst) },
	} {
		if _, err := add(); !errors.Is(err, errBadHost) {
			t.Errorf("%s: AddHost: %v, want errBadHost", name, err)
		}
	}
	// A host added after Create works like the others and goes with Destroy.
	db, err := l.AddHost(ctx, "db-1", 101)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, db, 3306)
	if got, err := ask(l.Nodes[0], netip.AddrPortFrom(db.IPv6, 3306), 2*time.Second); err != nil || got != "db-1" {
		t.Errorf("node-1 → db-1: %q, %v", got, err)
	}
}

func TestAddHostFailureLeavesNothing(t *testing.T) {
	l := newLab(t, Options{Nodes: 1, NoClient: true})
	// Someone else's namespace under the would-be name: AddHost fails and
	// must not delete it.
	ns := l.Prefix + "-db-9"
	if _, err := l.run(t.Context(), ns, "netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddHost(t.Context(), "db-9", 109); err == nil || !strings.Contains(err.Error(), "netns add") {
		t.Fatalf("AddHost over an existing namespace: %v, want an ip netns add error", err)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
		t.Errorf("failed AddHost removed a namespace it did not create: %v", err)
	}
	if _, err := net.InterfaceByName(l.Prefix + "d9"); err == nil {
		t.Errorf("failed AddHost left link %sd9", l.Prefix)
	}
	// Destroy still takes everything with the lab's prefix.
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	if left := labLeftovers(t, l.Prefix); len(left) > 0 {
		t.Errorf("after Destroy: %v", left)
	}
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	roottier.Require(t)
	prefix := fmt.Sprintf("ptx%03x", rand.IntN(1<<12)) // tests may run in parallel processes
	// An ifb link (this kernel may lack dummy) where node-2's veth must go: Create fails half-way, after
	// the bridge and node-1 exist. Only veths and bridges are lab links, so
	// it does not make the prefix look taken, and it must survive.
	blocker := prefix + "n2"
	if _, err := runIP(t.Context(), ipPath(t), blocker, "link", "add", blocker, "type", "ifb"); err != nil {
		t.Fatal(err)
	}
	defer runIP(context.Background(), ipPath(t), blocker, "link", "del", blocker)
	l, err := Create(t.Context(), Options{Prefix: prefix})
	if err == nil {
		l.Destroy()
		t.Fatal("Create succeeded over an existing link")
	}
	if !strings.Contains(err.Error(), "node-2") || !strings.Contains(err.Error(), "link add "+blocker) {
		t.Errorf("error %q should name node-2 and the failing command", err)
	}
	left := labLeftovers(t, prefix)
	if len(left) != 1 || left[0] != "link "+blocker {
		t.Errorf("failed Create left %v, want only the ifb link %s", left, blocker)
	}
}

func ipPath(t *testing.T) string {
	ip, err := IPCommand()
	if err != nil {
		t.Fatal(err)
	}
	return ip
}

func isSleep(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return string(b) == "sleep\n"
}
