package realserver

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// MariaDBOptions configure a MariaDB server.
type MariaDBOptions struct {
	Place
	// User, when set, is an account 'User'@'%' identified by Password: it
	// logs in from any client address (the server skips name resolution),
	// as a monitoring or application account on the LAN does. It has every
	// privilege on Database and none beyond it, so read_only stops its
	// writes.
	User, Password string
	// Database, when set, is created with the table items (id INT PRIMARY
	// KEY, name VARCHAR(32)) holding the rows (1, 'alpha'), (2, 'beta'),
	// (3, 'gamma').
	Database string
}

// MariaDB is a running mariadbd with its own datadir and grants enforced;
// root has no password and logs in over the Unix socket only.
type MariaDB struct {
	Addr  netip.AddrPort   // the first of Addrs
	Addrs []netip.AddrPort // one per listening address
	srv   *server
	bin   string // mariadbd
	cli   string // the mariadb client
	sock  string
}

// StartMariaDB installs a fresh datadir under t.TempDir() with
// mariadb-install-db, starts mariadbd at o.Place (bind-address every
// address of it), creates o's account and database and returns once they
// exist. The server is killed when t ends.
func StartMariaDB(t testing.TB, o MariaDBOptions) *MariaDB {
	t.Helper()
	bins := Need(t, "mariadbd", "mariadb-install-db", "mariadb")
	pl, err := placeDefaults(o.Place, 3306, freePort)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// A tmpdir of its own: mariadbd removes the #sql* files it finds in
	// its tmpdir at start, so servers sharing /tmp and starting together
	// delete each other's temporary tables (install-db then fails with
	// "Error on delete of '/tmp/#sql-temptable-…'").
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	install := exec.Command(bins[1], "--no-defaults", "--datadir="+data, "--tmpdir="+tmp, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("realserver: mariadb-install-db: %v\n%s", err, out)
	}
	m := &MariaDB{Addrs: pl.addrPorts(), bin: bins[0], cli: bins[2], sock: filepath.Join(dir, "sock")}
	m.Addr = m.Addrs[0]
	m.srv = newServer(t, pl, "mariadbd "+m.Addr.String(), filepath.Join(dir, "mariadbd.log"))
	args := []string{m.bin, "--no-defaults", "--datadir=" + data, "--tmpdir=" + tmp,
		"--socket=" + m.sock, "--pid-file=" + filepath.Join(dir, "pid"),
		"--port=" + itoa(pl.Port), "--bind-address=" + pl.join(","), "--user=root",
		"--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
		"--performance-schema=OFF"}
	m.srv.argv = func() []string { return args }
	m.srv.ready = func(ctx context.Context) error {
		_, err := m.exec(ctx, "SELECT 1")
		return err
	}
	m.srv.start(t)
	if sql := setupSQL(o); sql != "" {
		m.Exec(t, sql)
	}
	return m
}

// setupSQL creates o's account and database.
func setupSQL(o MariaDBOptions) string {
	var b strings.Builder
	if o.Database != "" {
		fmt.Fprintf(&b, "CREATE DATABASE %s; CREATE TABLE %s.items (id INT PRIMARY KEY, name VARCHAR(32));"+
			" INSERT INTO %s.items VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma');", o.Database, o.Database, o.Database)
	}
	if o.User != "" {
		fmt.Fprintf(&b, " CREATE USER '%s'@'%%' IDENTIFIED BY '%s';", o.User, o.Password)
		if o.Database != "" {
			fmt.Fprintf(&b, " GRANT ALL ON %s.* TO '%s'@'%%';", o.Database, o.User)
		}
	}
	return strings.TrimSpace(b.String())
}

func (m *MariaDB) exec(ctx context.Context, query string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, m.cli, "--no-defaults", "--socket="+m.sock,
		"-uroot", "--batch", "--skip-column-names", "-e", query)
	return cmd.CombinedOutput()
}

// Exec runs SQL as root over the Unix socket, with the mariadb client, and
// returns its output (tab-separated rows, no column names).
func (m *MariaDB) Exec(t testing.TB, query string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := m.exec(ctx, query)
	if err != nil {
		t.Fatalf("realserver: mariadb -e %q: %v\n%s", query, err, out)
	}
	return string(out)
}

// SetReadOnly sets the global read_only, and super_read_only too where
// the server has it (MySQL; MariaDB 10.11 has not).
func (m *MariaDB) SetReadOnly(t testing.TB, on bool) {
	t.Helper()
	v := "0"
	if on {
		v = "1"
	}
	q := "SET GLOBAL read_only = " + v
	has := m.Exec(t, "SELECT COUNT(*) FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = 'SUPER_READ_ONLY'")
	if strings.TrimSpace(has) == "1" {
		q += "; SET GLOBAL super_read_only = " + v
	}
	m.Exec(t, q)
}

// Stop shuts the server down (SIGTERM, SIGKILL after 20 seconds) and
// returns once it has exited, as an administrator's stop would.
func (m *MariaDB) Stop() { m.srv.stop(20 * time.Second) }

// Kill stops the server at once (SIGKILL), as a crash would.
func (m *MariaDB) Kill() { m.srv.stop(0) }

// Start starts a stopped server again on the same datadir, addresses and
// port (after Kill, with InnoDB's crash recovery) and returns once it
// answers.
func (m *MariaDB) Start(t testing.TB) {
	t.Helper()
	m.srv.start(t)
}
