package suites

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-lb/portico/e2etest/netlab"
	"github.com/portico-lb/portico/internal/realserver"
	"github.com/portico-lb/portico/internal/roottier"
)

// The database hosts of the ExternalService tests: real MariaDB, Redis and
// dnsmasq, each in a lab host of its own (IDs 101–199) on that host's
// IPv4 and IPv6 address and standard port, reached from a node namespace
// by the real clients. These tests need no cluster, so each builds a
// small lab of its own (dbLab); the ExternalService suites add the same
// hosts to theCluster(t).Lab with dbHost.

// dbLab is a lab with one node and no client, destroyed when t ends,
// after the servers on it (clean-ups run newest first).
func dbLab(t *testing.T) *netlab.Lab {
	t.Helper()
	roottier.Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	l, err := netlab.Create(ctx, netlab.Options{Nodes: 1, NoClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Destroy(); err != nil {
			t.Errorf("destroying lab %s: %v", l.Prefix, err)
		}
	})
	return l
}

// dbHost adds host name with ID id to l and returns it with the Place for
// a real server on it: its namespace, both its addresses, the server's
// standard port.
func dbHost(t *testing.T, l *netlab.Lab, name string, id int) (*netlab.Host, realserver.Place) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	h, err := l.AddHost(ctx, name, id)
	if err != nil {
		t.Fatal(err)
	}
	return h, realserver.Place{NetNS: h.NetNSPath(), Addrs: []netip.Addr{h.IPv4, h.IPv6}}
}

// run runs a client in host h, bounded by 10 seconds, and returns its
// output with the error.
func run(h *netlab.Host, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), h.Name, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// poll waits up to within for check, failing t with what it said last.
func poll(t *testing.T, within time.Duration, what string, check func(context.Context) error) {
	t.Helper()
	if err := netlab.Poll(t.Context(), 50*time.Millisecond, within, what, check); err != nil {
		t.Fatal(err)
	}
}

// TestDatabaseMariaDB: the mysql client in a node reaches MariaDB on its
// lab host over IPv4 and IPv6 with the application account, sees the
// seeded rows, is refused writes under read_only, and loses and regains
// the server as it stops and starts.
func TestDatabaseMariaDB(t *testing.T) {
	l := dbLab(t)
	mysql := realserver.Need(t, "mysql")[0]
	_, pl := dbHost(t, l, "db-1", 101)
	db := realserver.StartMariaDB(t, realserver.MariaDBOptions{Place: pl, User: "app", Password: "s3cret", Database: "shop"})
	node := l.Nodes[0]
	sql := func(at netip.AddrPort, query string) (string, error) {
		return run(node, mysql, "--no-defaults", "--protocol=tcp", "-h", at.Addr().String(), "-P", fmt.Sprint(at.Port()),
			"-uapp", "-ps3cret", "--connect-timeout=2", "--batch", "--skip-column-names", "shop", "-e", query)
	}

	for _, at := range db.Addrs {
		got, err := sql(at, "SELECT id, name FROM items ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		if want := "1\talpha\n2\tbeta\n3\tgamma\n"; got != want {
			t.Errorf("SELECT at %s = %q, want %q", at, got, want)
		}
	}
	if at := db.Addr; at.Port() != 3306 || at.Addr() != pl.Addrs[0] {
		t.Errorf("Addr %s, want the host's IPv4 address and 3306", at)
	}

	db.SetReadOnly(t, true)
	if out, err := sql(db.Addr, "INSERT INTO items VALUES (4, 'delta')"); err == nil || !strings.Contains(out, "read-only") {
		t.Errorf("INSERT under read_only: %q, %v; want ERROR 1290 (read-only)", out, err)
	}
	db.SetReadOnly(t, false)
	if _, err := sql(db.Addr, "INSERT INTO items VALUES (4, 'delta')"); err != nil {
		t.Errorf("INSERT after read_only=0: %v", err)
	}

	db.Stop()
	if out, err := sql(db.Addr, "SELECT 1"); err == nil || !strings.Contains(out, "Can't connect") {
		t.Errorf("with the server stopped: %q, %v; want Can't connect", out, err)
	}
	db.Start(t)
	poll(t, 10*time.Second, "MariaDB back at "+db.Addr.String(), func(context.Context) error {
		got, err := sql(db.Addr, "SELECT COUNT(*) FROM items")
		if err == nil && got != "4\n" {
			return netlab.Permanent(fmt.Errorf("%q rows after the restart, want 4", got))
		}
		return err
	})
}

// TestDatabaseRedis: redis-cli in a node SETs and GETs on Redis on its lab
// host over both families, with the password and with an ACL user, and
// sees ROLE flip on both servers as the primary switches over.
func TestDatabaseRedis(t *testing.T) {
	l := dbLab(t)
	cli := realserver.Need(t, "redis-cli")[0]
	_, pla := dbHost(t, l, "redis-1", 111)
	_, plb := dbHost(t, l, "redis-2", 112)
	opts := func(pl realserver.Place) realserver.RedisOptions {
		return realserver.RedisOptions{Place: pl, Password: "pw", Users: []string{"monitor on >monpw +ping +role"}}
	}
	a := realserver.StartRedis(t, opts(pla))
	b := realserver.StartRedis(t, opts(plb))
	node := l.Nodes[0]
	redis := func(at netip.AddrPort, auth []string, args ...string) (string, error) {
		argv := append([]string{"-h", at.Addr().String(), "-p", fmt.Sprint(at.Port()), "--no-auth-warning"}, auth...)
		out, err := run(node, cli, append(argv, args...)...)
		out = strings.TrimSpace(out)
		// redis-cli exits 0 after an error reply; its first word says so.
		first, _, _ := strings.Cut(out, " ")
		if err == nil && slices.Contains([]string{"ERR", "NOAUTH", "NOPERM", "WRONGPASS", "READONLY", "Could"}, first) {
			err = errors.New(out)
		}
		return out, err
	}
	pw := []string{"-a", "pw"}
	monitor := []string{"--user", "monitor", "--pass", "monpw"}
	role := func(r *realserver.Redis) string {
		t.Helper()
		out, err := redis(r.Addr, monitor, "ROLE")
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(out, "\n")
		return first
	}

	for i, at := range a.Addrs {
		v := fmt.Sprintf("v%d", i)
		if out, err := redis(at, pw, "SET", "k", v); err != nil || out != "OK" {
			t.Fatalf("SET at %s: %q, %v", at, out, err)
		}
		if out, err := redis(at, pw, "GET", "k"); err != nil || out != v {
			t.Errorf("GET at %s: %q, %v; want %q", at, out, err, v)
		}
	}
	if out, err := redis(a.Addr, nil, "GET", "k"); err == nil || !strings.Contains(out, "NOAUTH") {
		t.Errorf("GET without credentials: %q, %v; want NOAUTH", out, err)
	}
	if out, err := redis(a.Addr, monitor, "GET", "k"); err == nil || !strings.Contains(out, "NOPERM") {
		t.Errorf("GET as monitor: %q, %v; want NOPERM", out, err)
	}

	realserver.SetPrimary(t, a, b)
	if ra, rb := role(a), role(b); ra != "master" || rb != "slave" {
		t.Fatalf("a made primary: ROLE %s on a, %s on b", ra, rb)
	}
	if out, err := redis(b.Addr, pw, "GET", "k"); err != nil || out != "v1" {
		t.Errorf("GET on the replica: %q, %v; want a's v1", out, err)
	}
	realserver.SetPrimary(t, b, a)
	if ra, rb := role(a), role(b); ra != "slave" || rb != "master" {
		t.Fatalf("switched over to b: ROLE %s on a, %s on b", ra, rb)
	}
	if out, err := redis(a.Addr, pw, "SET", "k", "x"); err == nil || !strings.Contains(out, "READONLY") {
		t.Errorf("SET on the old primary: %q, %v; want READONLY", out, err)
	}

	b.Kill()
	if out, err := redis(b.Addr, pw, "PING"); err == nil {
		t.Errorf("PING with b killed: %q", out)
	}
	b.Start(t)
	poll(t, 10*time.Second, "Redis back at "+b.Addr.String(), func(context.Context) error {
		_, err := redis(b.Addr, pw, "PING")
		return err
	})
}

// TestDatabaseDNS: dnsmasq on a lab host answers a node's queries (over
// both families) for a name with two A records and the TTL it was given,
// then the new answer after a change (SIGHUP) and the new TTL after
// SetTTL.
func TestDatabaseDNS(t *testing.T) {
	l := dbLab(t)
	_, pl := dbHost(t, l, "dns", 103)
	db1, _ := l.Addr(101)
	db2, db2v6 := l.Addr(102)
	srv := realserver.StartDNS(t, realserver.DNSOptions{Place: pl, TTL: 5 * time.Second,
		Records: map[string][]netip.Addr{"db.test": {db1, db2}}})
	node := l.Nodes[0]
	type answer struct {
		addrs []netip.Addr
		ttls  []uint32
	}
	ask := func(at netip.AddrPort, name string, qtype uint16) (answer, error) {
		var c net.Conn
		if err := node.Do(func() (err error) {
			c, err = net.DialTimeout("udp", at.String(), 2*time.Second)
			return err
		}); err != nil {
			return answer{}, err
		}
		defer c.Close()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, _, err := new(dns.Client).ExchangeWithConnContext(ctx, m, &dns.Conn{Conn: c})
		if err != nil {
			return answer{}, err
		}
		if r.Rcode != dns.RcodeSuccess {
			return answer{}, fmt.Errorf("%s from %s: %s", name, at, dns.RcodeToString[r.Rcode])
		}
		var a answer
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.A:
				ip, _ := netip.AddrFromSlice(rr.A)
				a.addrs = append(a.addrs, ip.Unmap())
			case *dns.AAAA:
				ip, _ := netip.AddrFromSlice(rr.AAAA)
				a.addrs = append(a.addrs, ip)
			default:
				continue
			}
			a.ttls = append(a.ttls, rr.Header().Ttl)
		}
		slices.SortFunc(a.addrs, netip.Addr.Compare)
		return a, nil
	}
	// expect polls until every server address gives want with ttl: the
	// server has the new answer once SetRecords returns, but the node's
	// view is what counts.
	expect := func(name string, qtype uint16, ttl uint32, want ...netip.Addr) {
		t.Helper()
		slices.SortFunc(want, netip.Addr.Compare)
		for _, at := range srv.Addrs {
			poll(t, 5*time.Second, fmt.Sprintf("%s %s from %s", name, dns.TypeToString[qtype], at), func(context.Context) error {
				a, err := ask(at, name, qtype)
				if err != nil {
					return err
				}
				if !slices.Equal(a.addrs, want) {
					return fmt.Errorf("answer %v, want %v", a.addrs, want)
				}
				for _, got := range a.ttls {
					if got != ttl {
						return fmt.Errorf("TTL %d, want %d", got, ttl)
					}
				}
				return nil
			})
		}
	}

	expect("db.test.", dns.TypeA, 5, db1, db2)
	if a, err := ask(srv.Addr, "nothere.test.", dns.TypeA); err == nil {
		t.Errorf("nothere.test.: %v, want NXDOMAIN", a.addrs)
	}

	srv.SetRecords(t, map[string][]netip.Addr{"db.test": {db2, db2v6}})
	expect("db.test.", dns.TypeA, 5, db2)
	expect("db.test.", dns.TypeAAAA, 5, db2v6)

	srv.SetTTL(t, 2*time.Second)
	expect("db.test.", dns.TypeA, 2, db2)
}
