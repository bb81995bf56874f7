package realserver

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DNS is a running dnsmasq serving the names of its hosts file,
// authoritative for the "test." domain (unknown names are NXDOMAIN) and with
// no upstream.
type DNS struct {
	Addr     netip.AddrPort
	hosts    string
	bin, dir string
	p        *process
}

// StartDNS starts dnsmasq on 127.0.0.1 and a free UDP and TCP port,
// answering records (name → addresses, names under "test.") with the given
// TTL. It is killed when the test ends.
func StartDNS(t testing.TB, ttl time.Duration, records map[string][]netip.Addr) *DNS {
	t.Helper()
	bins := Need(t, "dnsmasq")
	dir := t.TempDir()
	d := &DNS{hosts: filepath.Join(dir, "hosts")}
	d.writeHosts(t, records)
	d.Addr = loopback(freePort(t))
	d.bin, d.dir = bins[0], dir
	d.start(t, ttl)
	return d
}

func (d *DNS) start(t testing.TB, ttl time.Duration) {
	t.Helper()
	d.p = start(t, "dnsmasq", d.bin, "--keep-in-foreground", "--conf-file=/dev/null",
		"--pid-file="+filepath.Join(d.dir, "pid"), "--user=root", "--log-facility=-",
		"--port="+itoa(d.Addr.Port()), "--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--addn-hosts="+d.hosts, "--local=/test/",
		fmt.Sprintf("--local-ttl=%d", int(ttl.Seconds())), "--cache-size=0")
	waitFor(t, d.p, 10*time.Second, func(ctx context.Context) error {
		var dl net.Dialer
		c, err := dl.DialContext(ctx, "tcp", d.Addr.String())
		if err == nil {
			c.Close()
		}
		return err
	})
}

// SetTTL restarts dnsmasq on the same port with another TTL (dnsmasq
// reads it only at start).
func (d *DNS) SetTTL(t testing.TB, ttl time.Duration) {
	t.Helper()
	d.p.kill()
	d.start(t, ttl)
}

func (d *DNS) writeHosts(t testing.TB, records map[string][]netip.Addr) {
	t.Helper()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(records)) {
		for _, a := range records[name] {
			fmt.Fprintf(&b, "%s %s\n", a, strings.TrimSuffix(name, "."))
		}
	}
	if err := os.WriteFile(d.hosts, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// SetRecords replaces the records and makes dnsmasq re-read them (SIGHUP).
// The TTL stays what StartDNS set.
func (d *DNS) SetRecords(t testing.TB, records map[string][]netip.Addr) {
	t.Helper()
	d.writeHosts(t, records)
	if err := d.p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// ResolvConf writes a resolv.conf naming the server (its port is not
// expressible there; pass Addr.Port() to the resolver) and returns its path.
func (d *DNS) ResolvConf(t testing.TB, extra ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "resolv.conf")
	body := "nameserver " + d.Addr.Addr().String() + "\n" + strings.Join(extra, "\n") + "\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Kill stops the server at once (SIGKILL).
func (d *DNS) Kill() { d.p.kill() }
