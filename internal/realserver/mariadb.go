package realserver

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// MariaDB is a running mariadbd with its own datadir, root without a
// password on TCP, and no test database.
type MariaDB struct {
	Addr   netip.AddrPort
	client string
	p      *process
}

// StartMariaDB installs a fresh datadir under t.TempDir() with
// mariadb-install-db and starts mariadbd on 127.0.0.1 and a free port, with
// grants enforced. It is killed when the test ends.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	bins := Need(t, "mariadbd", "mariadb-install-db", "mariadb")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	install := exec.Command(bins[1], "--no-defaults", "--datadir="+data, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	port := freePort(t)
	m := &MariaDB{Addr: loopback(port), client: bins[2]}
	m.p = start(t, "mariadbd", bins[0], "--no-defaults", "--datadir="+data,
		"--socket="+filepath.Join(dir, "sock"), "--pid-file="+filepath.Join(dir, "pid"),
		"--port="+itoa(port), "--bind-address=127.0.0.1", "--user=root",
		"--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
		"--performance-schema=OFF")
	waitFor(t, m.p, 20*time.Second, func(ctx context.Context) error {
		_, err := m.exec(ctx, "SELECT 1")
		return err
	})
	return m
}

func (m *MariaDB) exec(ctx context.Context, query string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, m.client, "--no-defaults", "--protocol=tcp", "-h127.0.0.1", "-P"+itoa(m.Addr.Port()),
		"-uroot", "--batch", "--skip-column-names", "-e", query)
	return cmd.CombinedOutput()
}

// Exec runs SQL as root with the mariadb client and returns its output.
func (m *MariaDB) Exec(t testing.TB, query string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := m.exec(ctx, query)
	if err != nil {
		t.Fatalf("mariadb -e %q: %v\n%s", query, err, out)
	}
	return string(out)
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (m *MariaDB) Kill() { m.p.kill() }
