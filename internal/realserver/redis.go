package realserver

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RedisOptions configure a Redis server.
type RedisOptions struct {
	// Password is the default user's password (requirepass); empty for none.
	Password string
	// Users are ACL user rules, each as one redis.conf "user" line's
	// arguments: "monitor on >secret +ping +role".
	Users []string
}

// Redis is a running redis-server without persistence.
type Redis struct {
	Addr     netip.AddrPort
	cli      string
	password string
	p        *process
}

// StartRedis starts redis-server on 127.0.0.1 and a free port, its
// directory under t.TempDir(), no RDB or AOF. It is killed when the test ends.
func StartRedis(t testing.TB, o RedisOptions) *Redis {
	t.Helper()
	bins := Need(t, "redis-server", "redis-cli")
	port := freePort(t)
	args := []string{"--port", itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}
	if o.Password != "" {
		args = append(args, "--requirepass", o.Password)
	}
	for _, u := range o.Users {
		args = append(args, append([]string{"--user"}, strings.Fields(u)...)...)
	}
	r := &Redis{Addr: loopback(port), cli: bins[1], password: o.Password}
	r.p = start(t, "redis-server", bins[0], args...)
	waitFor(t, r.p, 10*time.Second, func(ctx context.Context) error {
		_, err := r.do(ctx, "PING")
		return err
	})
	return r
}

func (r *Redis) do(ctx context.Context, args ...string) (string, error) {
	base := []string{"-h", "127.0.0.1", "-p", itoa(r.Addr.Port()), "--no-auth-warning"}
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

// Do runs a command with redis-cli as the default user and returns its
// output.
func (r *Redis) Do(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := r.do(ctx, args...)
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return out
}

// Kill stops the server at once (SIGKILL).
func (r *Redis) Kill() { r.p.kill() }
