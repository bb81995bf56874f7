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

	"github.com/miekg/dns"

	"github.com/portico-lb/portico/internal/netns"
)

// DNSOptions configure a dnsmasq server.
type DNSOptions struct {
	Place
	// TTL is the TTL of every answer (--local-ttl), whole seconds.
	TTL time.Duration
	// Records map names under "test." to their addresses, IPv4 and IPv6
	// alike; a name with two addresses of a family gets two records.
	Records map[string][]netip.Addr
}

// DNS is a running dnsmasq serving the names of its hosts file over UDP
// and TCP, authoritative for the "test." domain (unknown names are
// NXDOMAIN) and with no upstream.
type DNS struct {
	Addr    netip.AddrPort   // the first of Addrs
	Addrs   []netip.AddrPort // one per listening address
	srv     *server
	netns   string // where the checks dial from
	hosts   string
	ttl     time.Duration
	records map[string][]netip.Addr
}

// StartDNS starts dnsmasq at o.Place and returns once it answers o.Records.
// It is killed when t ends.
func StartDNS(t testing.TB, o DNSOptions) *DNS {
	t.Helper()
	bins := Need(t, "dnsmasq")
	pl, err := placeDefaults(o.Place, 53, freePort)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d := &DNS{Addrs: pl.addrPorts(), netns: pl.NetNS, hosts: filepath.Join(dir, "hosts"), ttl: o.TTL}
	d.Addr = d.Addrs[0]
	d.writeHosts(t, o.Records)
	d.srv = newServer(t, pl, "dnsmasq "+d.Addr.String(), filepath.Join(dir, "dnsmasq.log"))
	d.srv.argv = func() []string {
		return []string{bins[0], "--keep-in-foreground", "--conf-file=/dev/null",
			"--pid-file=" + filepath.Join(dir, "pid"), "--user=root", "--log-facility=-",
			"--port=" + itoa(pl.Port), "--listen-address=" + pl.join(","), "--bind-interfaces",
			"--no-resolv", "--no-hosts", "--addn-hosts=" + d.hosts, "--local=/test/",
			fmt.Sprintf("--local-ttl=%d", int(d.ttl.Seconds())), "--cache-size=0"}
	}
	d.srv.ready = d.serves
	d.srv.start(t)
	return d
}

// SetTTL restarts dnsmasq on the same addresses and port with another
// TTL (dnsmasq reads it only at start, SIGHUP leaves it) and returns once
// it answers.
func (d *DNS) SetTTL(t testing.TB, ttl time.Duration) {
	t.Helper()
	d.srv.stop(0)
	d.ttl = ttl
	d.srv.start(t)
}

// SetRecords replaces the records, makes dnsmasq re-read them (SIGHUP)
// and returns once it answers the new ones. The TTL stays.
func (d *DNS) SetRecords(t testing.TB, records map[string][]netip.Addr) {
	t.Helper()
	old := d.records
	d.writeHosts(t, records)
	d.srv.signal(t, syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := d.serves(ctx)
		if err == nil {
			// Names that went away must be gone too.
			for name := range old {
				if _, ok := records[name]; ok {
					continue
				}
				if got, lerr := d.lookup(ctx, name); lerr != nil || len(got) > 0 {
					err = fmt.Errorf("%s: still %v (%v)", name, got, lerr)
					break
				}
			}
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("realserver: %s: new records not served 5s after SIGHUP: %v\n%s", d.srv.name, err, d.srv.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	d.records = maps.Clone(records)
}

// serves checks that dnsmasq answers every record with the set TTL (and
// answers at all when there are none).
func (d *DNS) serves(ctx context.Context) error {
	if len(d.records) == 0 {
		_, err := d.lookup(ctx, "realserver-ready.test")
		return err
	}
	for name, want := range d.records {
		got, err := d.lookup(ctx, name)
		if err != nil {
			return err
		}
		want = slices.Clone(want)
		slices.SortFunc(want, netip.Addr.Compare)
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	return nil
}

// lookup returns name's A and AAAA addresses, sorted, from the server.
// Answers with another TTL than the set one are an error: they come from
// a run with the old TTL.
func (d *DNS) lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r, err := d.query(ctx, name, qt)
		if err != nil {
			return nil, err
		}
		for _, rr := range r.Answer {
			if rr.Header().Ttl != uint32(d.ttl.Seconds()) {
				return nil, fmt.Errorf("%s: TTL %d, want %v", name, rr.Header().Ttl, d.ttl)
			}
			var ip net.IP
			switch rr := rr.(type) {
			case *dns.A:
				ip = rr.A
			case *dns.AAAA:
				ip = rr.AAAA
			default:
				continue
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// query asks the server once over UDP, from a socket opened in its
// namespace.
func (d *DNS) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	var c net.Conn
	err := netns.Run(d.netns, func() (err error) {
		var dl net.Dialer
		c, err = dl.DialContext(ctx, "udp", d.Addr.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := new(dns.Client).ExchangeWithConnContext(ctx, m, &dns.Conn{Conn: c})
	return r, err
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
func (d *DNS) Kill() { d.srv.stop(0) }

// Start starts a killed server again with the same records, TTL,
// addresses and port, and returns once it answers them.
func (d *DNS) Start(t testing.TB) {
	t.Helper()
	d.srv.start(t)
}
