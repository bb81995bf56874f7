package realserver

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisOptions configure a Redis server.
type RedisOptions struct {
	Place
	// Password is the default user's password (requirepass); empty for none.
	Password string
	// Users are ACL user rules, each as one redis.conf "user" line's
	// arguments: "monitor on >secret +ping +role".
	Users []string
}

// Redis is a running redis-server without persistence, accepting clients
// from any address (protected mode off) on the addresses of its Place.
type Redis struct {
	Addr     netip.AddrPort   // the first of Addrs
	Addrs    []netip.AddrPort // one per listening address
	srv      *server
	cli      string
	sock     string
	password string
}

// StartRedis starts redis-server at o.Place, its directory under
// t.TempDir(), no RDB or AOF, and returns once it answers. It is killed
// when t ends.
func StartRedis(t testing.TB, o RedisOptions) *Redis {
	t.Helper()
	bins := Need(t, "redis-server", "redis-cli")
	pl, err := placeDefaults(o.Place, 6379, freePort)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &Redis{Addrs: pl.addrPorts(), cli: bins[1], sock: filepath.Join(dir, "sock"), password: o.Password}
	r.Addr = r.Addrs[0]
	args := []string{bins[0], "--port", itoa(pl.Port), "--bind"}
	args = append(args, strings.Fields(pl.join(" "))...)
	args = append(args, "--protected-mode", "no", "--unixsocket", r.sock, "--unixsocketperm", "700",
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
		// A replica's first full sync waits this long for more replicas
		// to share it; the tests have one.
		"--repl-diskless-sync-delay", "0")
	if o.Password != "" {
		args = append(args, "--requirepass", o.Password)
	}
	for _, u := range o.Users {
		args = append(args, append([]string{"--user"}, strings.Fields(u)...)...)
	}
	r.srv = newServer(t, pl, "redis-server "+r.Addr.String(), filepath.Join(dir, "redis.log"))
	r.srv.argv = func() []string { return args }
	r.srv.ready = func(ctx context.Context) error {
		_, err := r.do(ctx, "PING")
		return err
	}
	r.srv.start(t)
	return r
}

// do runs redis-cli over the Unix socket as the default user.
func (r *Redis) do(ctx context.Context, args ...string) (string, error) {
	base := []string{"-s", r.sock, "--no-auth-warning"}
	if r.password != "" {
		base = append(base, "-a", r.password)
	}
	out, err := exec.CommandContext(ctx, r.cli, append(base, args...)...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err == nil && (strings.HasPrefix(s, "ERR") || strings.HasPrefix(s, "NOAUTH") || strings.HasPrefix(s, "WRONGPASS") || strings.HasPrefix(s, "Could not connect")) {
		err = &cliError{s}
	}
	return s, err
}

type cliError struct{ msg string }

func (e *cliError) Error() string { return e.msg }

// Do runs a command with redis-cli as the default user, over the server's
// Unix socket, and returns its output.
func (r *Redis) Do(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := r.do(ctx, args...)
	if err != nil {
		t.Fatalf("realserver: redis-cli %v: %v\n%s", args, err, out)
	}
	return out
}

// Role is the first word of ROLE: "master" or "slave".
func (r *Redis) Role(t testing.TB) string {
	t.Helper()
	role, _, _ := strings.Cut(r.Do(t, "ROLE"), "\n")
	return role
}

// ReplicaOf makes r a replica of primary, at primary's Addr, with
// primary's password as masterauth, and returns once the replication
// link is up.
func (r *Redis) ReplicaOf(t testing.TB, primary *Redis) {
	t.Helper()
	r.Do(t, "CONFIG", "SET", "masterauth", primary.password)
	r.Do(t, "REPLICAOF", primary.Addr.Addr().String(), itoa(primary.Addr.Port()))
	deadline := time.Now().Add(15 * time.Second)
	for {
		info := r.Do(t, "INFO", "replication")
		if strings.Contains(info, "master_link_status:up") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("realserver: %s: no replication link to %s after 15s:\n%s\n%s", r.Addr, primary.Addr, info, r.srv.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Promote makes r a primary (REPLICAOF NO ONE).
func (r *Redis) Promote(t testing.TB) {
	t.Helper()
	r.Do(t, "REPLICAOF", "NO", "ONE")
}

// SetPrimary makes primary the primary and every one of replicas its
// replica, as a switch-over does: when primary replicates one of replicas
// (the old primary), it first waits until primary has every write the old
// one has, then promotes primary, then points the others at it. It returns
// once every link is up.
func SetPrimary(t testing.TB, primary *Redis, replicas ...*Redis) {
	t.Helper()
	lines := strings.Split(primary.Do(t, "ROLE"), "\n")
	for _, old := range replicas {
		if lines[0] == "slave" && len(lines) > 2 && lines[1] == old.Addr.Addr().String() && lines[2] == itoa(old.Addr.Port()) {
			primary.catchUp(t, old)
		}
	}
	primary.Promote(t)
	for _, r := range replicas {
		if r == primary {
			t.Fatalf("realserver: SetPrimary: %s is its own replica", r.Addr)
		}
		r.ReplicaOf(t, primary)
	}
}

// catchUp waits until replica r has received everything primary wrote
// so far.
func (r *Redis) catchUp(t testing.TB, primary *Redis) {
	t.Helper()
	want := primary.offset(t, "master_repl_offset")
	deadline := time.Now().Add(15 * time.Second)
	for r.offset(t, "slave_repl_offset") < want {
		if time.Now().After(deadline) {
			t.Fatalf("realserver: %s has not caught up with %s (offset %d) after 15s", r.Addr, primary.Addr, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// offset reads a replication offset from INFO replication; -1 if absent.
func (r *Redis) offset(t testing.TB, field string) int64 {
	t.Helper()
	for _, l := range strings.Split(r.Do(t, "INFO", "replication"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("realserver: %s: INFO %s: %v", r.Addr, field, err)
			}
			return n
		}
	}
	return -1
}

// Stop shuts the server down (SIGTERM, SIGKILL after 10 seconds) and
// returns once it has exited.
func (r *Redis) Stop() { r.srv.stop(10 * time.Second) }

// Kill stops the server at once (SIGKILL), as a crash would.
func (r *Redis) Kill() { r.srv.stop(0) }

// Start starts a stopped server again on the same addresses and port,
// empty (nothing is persisted), as a primary, and returns once it answers.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	r.srv.start(t)
}
