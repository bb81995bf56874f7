package realserver

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMissingVerdict(t *testing.T) {
	tests := []struct {
		missing []string
		e2e     string
		fail    bool
		msg     string
	}{
		{nil, "1", false, ""},
		{[]string{"mariadbd"}, "", false, "realserver: mariadbd not installed (run e2etest/setup/deps.sh as root); set PORTICO_E2E=1 to fail instead"},
		{[]string{"redis-server", "redis-cli"}, "0", false, "realserver: redis-server, redis-cli not installed (run e2etest/setup/deps.sh as root); set PORTICO_E2E=1 to fail instead"},
		{[]string{"dnsmasq"}, "1", true, "PORTICO_E2E=1, but realserver: dnsmasq not installed (run e2etest/setup/deps.sh as root)"},
	}
	for _, tt := range tests {
		fail, msg := missingVerdict(tt.missing, tt.e2e)
		if fail != tt.fail || msg != tt.msg {
			t.Errorf("missingVerdict(%v, %q) = %v, %q\nwant %v, %q", tt.missing, tt.e2e, fail, msg, tt.fail, tt.msg)
		}
	}
}

func TestPlaceDefaults(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	v4, v6 := netip.MustParseAddr("10.213.7.101"), netip.MustParseAddr("fd00:213:7::101")
	free := func(a netip.Addr) (uint16, error) {
		if a == v6 {
			return 0, errors.New("no port")
		}
		return 40000, nil
	}
	tests := []struct {
		name string
		in   Place
		want Place
		err  string
	}{
		{name: "zero: loopback, free port", want: Place{Addrs: []netip.Addr{lo}, Port: 40000}},
		{name: "caller's namespace keeps a given port", in: Place{Port: 3307}, want: Place{Addrs: []netip.Addr{lo}, Port: 3307}},
		{name: "caller's namespace, other address: free port there",
			in: Place{Addrs: []netip.Addr{v4}}, want: Place{Addrs: []netip.Addr{v4}, Port: 40000}},
		{name: "own namespace: standard port",
			in:   Place{NetNS: "/run/netns/pt1234-db-1", Addrs: []netip.Addr{v4, v6}},
			want: Place{NetNS: "/run/netns/pt1234-db-1", Addrs: []netip.Addr{v4, v6}, Port: 6379}},
		{name: "own namespace, no address: its loopback",
			in: Place{NetNS: "/run/netns/x"}, want: Place{NetNS: "/run/netns/x", Addrs: []netip.Addr{lo}, Port: 6379}},
		{name: "own namespace, given port", in: Place{NetNS: "/run/netns/x", Addrs: []netip.Addr{v6}, Port: 7000},
			want: Place{NetNS: "/run/netns/x", Addrs: []netip.Addr{v6}, Port: 7000}},
		{name: "free port fails", in: Place{Addrs: []netip.Addr{v6}}, err: "no port"},
		{name: "zero address", in: Place{Addrs: []netip.Addr{{}}}, err: `realserver: address "invalid IP": want a valid address without a zone`},
		{name: "zone", in: Place{NetNS: "/x", Addrs: []netip.Addr{netip.MustParseAddr("fe80::1%eth0")}},
			err: `realserver: address "fe80::1%eth0": want a valid address without a zone`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := placeDefaults(tt.in, 6379, free)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetupSQL(t *testing.T) {
	for _, tt := range []struct {
		o    MariaDBOptions
		want string
	}{
		{MariaDBOptions{}, ""},
		{MariaDBOptions{User: "monitor", Password: "pw"}, "CREATE USER 'monitor'@'%' IDENTIFIED BY 'pw';"},
		{MariaDBOptions{User: "app", Password: "pw", Database: "shop"},
			"CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(32)); INSERT INTO shop.items VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma'); CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; GRANT ALL ON shop.* TO 'app'@'%';"},
	} {
		if got := setupSQL(tt.o); got != tt.want {
			t.Errorf("setupSQL(%+v) =\n%q\nwant\n%q", tt.o, got, tt.want)
		}
	}
}

// TestServers starts one of each and checks they answer; the packages that
// use them test what they say.
func TestServers(t *testing.T) {
	t.Parallel()
	db := StartMariaDB(t, MariaDBOptions{User: "app", Password: "pw", Database: "shop"})
	if got := db.Exec(t, "SELECT id, name FROM shop.items ORDER BY id"); got != "1\talpha\n2\tbeta\n3\tgamma\n" {
		t.Errorf("mariadb SELECT = %q", got)
	}
	r := StartRedis(t, RedisOptions{Password: "pw"})
	if got := r.Do(t, "PING"); got != "PONG" {
		t.Errorf("redis PING = %q", got)
	}
}

// TestMariaDBsTogether starts MariaDB servers at the same time, as the
// ExternalService suite does: each keeps its temporary tables in a tmpdir
// of its own, which the others' start-up clean-up cannot reach.
func TestMariaDBsTogether(t *testing.T) {
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			db := StartMariaDB(t, MariaDBOptions{Database: "shop"})
			if got := db.Exec(t, "SELECT COUNT(*) FROM shop.items"); got != "3\n" {
				t.Errorf("%q rows", got)
			}
		})
	}
}

// TestRestart stops and starts each server again: the same address, and
// for MariaDB the same data.
func TestRestart(t *testing.T) {
	db := StartMariaDB(t, MariaDBOptions{Database: "shop"})
	db.Stop()
	db.Start(t)
	db.Kill()
	db.Start(t)
	if got := db.Exec(t, "SELECT COUNT(*) FROM shop.items"); got != "3\n" {
		t.Errorf("after a restart: %q rows", got)
	}

	r := StartRedis(t, RedisOptions{})
	r.Stop()
	r.Start(t)
	if got := r.Do(t, "PING"); got != "PONG" {
		t.Errorf("redis PING after restart = %q", got)
	}

	d := StartDNS(t, DNSOptions{TTL: 3 * time.Second, Records: map[string][]netip.Addr{"a.test": {netip.MustParseAddr("10.0.0.1")}}})
	d.Kill()
	d.Start(t)
}

// TestReplication switches the primary between two servers and back.
func TestReplication(t *testing.T) {
	a := StartRedis(t, RedisOptions{Password: "pw"})
	b := StartRedis(t, RedisOptions{Password: "pw"})
	SetPrimary(t, a, b)
	if ra, rb := a.Role(t), b.Role(t); ra != "master" || rb != "slave" {
		t.Fatalf("a primary: roles %s, %s", ra, rb)
	}
	a.Do(t, "SET", "k", "v1")
	SetPrimary(t, b, a)
	if ra, rb := a.Role(t), b.Role(t); ra != "slave" || rb != "master" {
		t.Fatalf("b primary: roles %s, %s", ra, rb)
	}
	if got := b.Do(t, "GET", "k"); got != "v1" {
		t.Errorf("b GET k = %q, want what a had", got)
	}
}

// TestCleanup checks that a test's end leaves no server process and no
// directory behind.
func TestCleanup(t *testing.T) {
	var pids []int
	var dirs []string
	t.Run("servers", func(t *testing.T) {
		db := StartMariaDB(t, MariaDBOptions{})
		r := StartRedis(t, RedisOptions{})
		d := StartDNS(t, DNSOptions{})
		for _, s := range []*server{db.srv, r.srv, d.srv} {
			pids = append(pids, s.cur.pid)
			dirs = append(dirs, s.log[:strings.LastIndex(s.log, "/")])
		}
	})
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d: kill -0: %v, want ESRCH", pid, err)
		}
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it removed", dir, err)
		}
	}
}
