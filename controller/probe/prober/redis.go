package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
)

// Redis probes a Redis server: PING must answer PONG and ROLE tells master
// (RolePrimary) from slave (RoleReplica). With credentials the client
// authenticates first: AUTH password, or AUTH username password for an ACL
// user.
type Redis struct {
	Credentials *Credentials
	// Reuse keeps a working connection for the next probe of the same
	// address for at most this long (DefaultReuse explains why); 0 opens
	// a fresh one every probe.
	Reuse time.Duration

	sessions sessions[*redisConn]
}

var _ Prober = (*Redis)(nil)

// Probe implements Prober.
func (r *Redis) Probe(ctx context.Context, addr netip.AddrPort) probe.Result {
	start := time.Now()
	if c, opened, ok := r.sessions.take(addr, r.Reuse); ok {
		res := r.check(ctx, start, c, false)
		if res.Outcome == probe.Success {
			r.sessions.put(addr, c, opened)
			return res
		}
		_ = c.Close()
		if ctx.Err() != nil {
			return res
		}
		// The kept connection may have been closed by the server (an idle
		// timeout, CLIENT KILL); a fresh one decides.
	}
	c, res := r.open(ctx, start, addr)
	if c == nil {
		return res
	}
	opened := time.Now()
	res = r.check(ctx, start, c, true)
	if res.Outcome == probe.Success && r.Reuse > 0 {
		r.sessions.put(addr, c, opened)
	} else {
		_ = c.Close()
	}
	return res
}

// Forget closes the connection kept for addr, if any.
func (r *Redis) Forget(addr netip.AddrPort) { r.sessions.forget(addr) }

// Close closes every kept connection.
func (r *Redis) Close() error { r.sessions.closeAll(); return nil }

// open dials addr and wraps the connection in a single-connection client;
// on failure it returns the failed Result instead.
func (r *Redis) open(ctx context.Context, start time.Time, addr netip.AddrPort) (*redisConn, probe.Result) {
	t := timeouts(ctx, 5*time.Second)
	o := &redis.Options{
		Addr: addr.String(),
		// RESP2 and no CLIENT SETINFO: the probe works against any server
		// version and sends nothing a server could refuse before AUTH.
		Protocol:        2,
		DisableIdentity: true,
		DialTimeout:     t,
		ReadTimeout:     t,
		WriteTimeout:    t,
		MaxRetries:      -1,
		PoolSize:        1,
		// A probe that waited for the pool would measure the pool.
		PoolTimeout: t,
		// PING and ROLE fit in a few hundred bytes; the 32 KiB defaults
		// were most of a probe's garbage.
		ReadBufferSize:        4096,
		WriteBufferSize:       512,
		ContextTimeoutEnabled: true,
		DialerRetries:         1,
	}
	if r.Credentials != nil {
		o.Username, o.Password = r.Credentials.Username, r.Credentials.Password
	}
	// Dial here, not in go-redis: its pool retries a failed dial five
	// times and logs each failure on a global logger; the probe wants one
	// attempt within its deadline and the error in its Result. The client
	// gets this one connection; once it drops it, it cannot dial another.
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, failed(start, fmt.Errorf("redis: %w", err))
	}
	var once sync.Once
	o.Dialer = func(context.Context, string, string) (net.Conn, error) {
		var c net.Conn
		once.Do(func() { c = conn })
		if c == nil {
			return nil, errors.New("redis: the probe's connection was closed")
		}
		return c, nil
	}
	return &redisConn{redis.NewClient(o), conn}, probe.Result{}
}

// redisConn is a client over one connection; closing it closes both, the
// connection also when the client never took it.
type redisConn struct {
	*redis.Client
	conn net.Conn
}

func (c *redisConn) Close() error {
	err := c.Client.Close()
	_ = c.conn.Close()
	return err
}

// check runs PING (on a fresh connection) and ROLE on c. On a kept
// connection ROLE alone decides: its reply proves the server answers
// commands as well as a PONG would, and one round trip instead of two
// halves the system calls, most of a probe's CPU at 1000 probes/s.
func (r *Redis) check(ctx context.Context, start time.Time, c *redisConn, fresh bool) probe.Result {
	if fresh {
		if err := c.Ping(ctx).Err(); err != nil {
			return r.failed(start, "PING", err)
		}
	}
	reply, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return r.failed(start, "ROLE", err)
	}
	role, err := parseRole(reply)
	if err != nil {
		return failed(start, err)
	}
	return done(start, probe.Success, role, "")
}
func (r *Redis) failed(start time.Time, cmd string, err error) probe.Result {
	if authError(err) {
		msg := "redis: credentials refused: " + err.Error()
		if r.Credentials == nil {
			msg = "redis: the server requires credentials (set spec.healthCheck.credentialsSecret): " + err.Error()
		}
		return done(start, probe.AuthFailure, v1beta1.RoleUnknown, msg)
	}
	return failed(start, fmt.Errorf("redis: %s: %w", cmd, err))
}

// authError reports whether err is the server refusing the credentials (or
// their permissions), as opposed to a server that does not work.
func authError(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	for _, p := range []string{"WRONGPASS", "NOAUTH", "NOPERM", "ERR invalid password", "ERR AUTH ", "ERR Client sent AUTH, but no password is set"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// parseRole reads the first element of a ROLE reply: "master", "slave"
// (replica) or "sentinel", which is no database and an error.
func parseRole(reply []any) (v1beta1.TargetRole, error) {
	if len(reply) == 0 {
		return "", errors.New("redis: ROLE: empty reply")
	}
	s, ok := reply[0].(string)
	if !ok {
		return "", fmt.Errorf("redis: ROLE: first element is a %T, want a string", reply[0])
	}
	switch s {
	case "master":
		return v1beta1.RolePrimary, nil
	case "slave", "replica":
		return v1beta1.RoleReplica, nil
	}
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return "", fmt.Errorf("redis: ROLE: %q is not a master or replica", s)
}
