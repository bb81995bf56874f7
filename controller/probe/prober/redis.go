package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
)

// Redis probes a Redis server: PING must answer PONG and ROLE tells master
// (RolePrimary) from slave (RoleReplica). With credentials the client
// authenticates first: AUTH password, or AUTH username password for an ACL
// user. A fresh connection is checked with go-redis; a kept one (see
// Reuse) is asked ROLE alone with the package's own RESP reader (resp.go
// says why).
type Redis struct {
	Credentials *Credentials
	// Reuse keeps a working connection for the next probe of the same
	// address for at most this long (DefaultReuse explains why); 0 opens
	// a fresh one every probe.
	Reuse time.Duration

	sessions sessions[*keptRedis]
}

var _ Prober = (*Redis)(nil)

// Probe implements Prober.
func (r *Redis) Probe(ctx context.Context, addr netip.AddrPort) probe.Result {
	start := time.Now()
	if k, opened, ok := r.sessions.take(addr, r.Reuse); ok {
		role, err := k.role(ctx)
		if err == nil {
			r.sessions.put(addr, k, opened)
			return done(start, probe.Success, role, "")
		}
		_ = k.Close()
		if expired(ctx) {
			return failed(start, err)
		}
		// The kept connection may have been closed by the server (an idle
		// timeout, CLIENT KILL) or refused ROLE (a changed ACL); a fresh
		// one decides, and tells refused credentials from a dead server.
	}
	c, res := r.open(ctx, start, addr)
	if c == nil {
		return res
	}
	opened := time.Now()
	res = r.check(ctx, start, c)
	if res.Outcome == probe.Success && r.Reuse > 0 {
		r.sessions.put(addr, c.keep(), opened)
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
	lent := &lentConn{Conn: conn}
	var once sync.Once
	o.Dialer = func(context.Context, string, string) (net.Conn, error) {
		var c net.Conn
		once.Do(func() { c = lent })
		if c == nil {
			return nil, errors.New("redis: the probe's connection was closed")
		}
		return c, nil
	}
	return &redisConn{redis.NewClient(o), lent}, probe.Result{}
}

// redisConn is a client over one connection; closing it closes both, the
// connection also when the client never took it.
type redisConn struct {
	*redis.Client
	conn *lentConn
}

func (c *redisConn) Close() error {
	err := c.Client.Close()
	_ = c.conn.Conn.Close()
	return err
}

// keep releases the client but not the connection, which it returns for
// the kept path. go-redis has read each reply whole (RESP2 sends nothing
// unasked), so no byte of the connection is left in the client's buffer.
func (c *redisConn) keep() *keptRedis {
	c.conn.kept.Store(true)
	_ = c.Client.Close()
	return &keptRedis{conn: c.conn.Conn, buf: make([]byte, 512)}
}

// lentConn is the probe's connection as go-redis holds it: go-redis closes
// it when its client closes, unless the probe kept it.
type lentConn struct {
	net.Conn
	kept atomic.Bool
}

func (c *lentConn) Close() error {
	if c.kept.Load() {
		return nil
	}
	return c.Conn.Close()
}

// keptRedis is a connection that passed a full check (AUTH, PING, ROLE)
// and is now asked ROLE alone. buf holds the request, then the reply; it
// is reused, so a steady probe allocates nothing for the protocol.
type keptRedis struct {
	conn net.Conn
	buf  []byte
}

func (k *keptRedis) Close() error { return k.conn.Close() }

// role sends ROLE and reads the reply within ctx's deadline. Any error
// leaves the connection out of step with the server; the caller closes it.
func (k *keptRedis) role(ctx context.Context) (v1beta1.TargetRole, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(5 * time.Second)
	}
	if err := k.conn.SetDeadline(dl); err != nil {
		return "", fmt.Errorf("redis: ROLE: %w", err)
	}
	// A cancelled probe (its job stopped) ends now, not at its deadline.
	stop := context.AfterFunc(ctx, func() { _ = k.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	n := copy(k.buf, roleRequest)
	if _, err := k.conn.Write(k.buf[:n]); err != nil {
		return "", k.ioFailed(ctx, err)
	}
	n = 0
	for {
		if n == len(k.buf) {
			if n >= maxReply {
				return "", fmt.Errorf("redis: ROLE: reply longer than %d bytes", maxReply)
			}
			k.buf = append(k.buf, make([]byte, min(n, maxReply-n))...)
		}
		m, err := k.conn.Read(k.buf[n:])
		n += m
		if m > 0 {
			first, used, perr := parseRoleReply(k.buf[:n])
			switch {
			case perr == errIncomplete:
			case perr != nil:
				var re replyError
				if errors.As(perr, &re) {
					return "", fmt.Errorf("redis: ROLE: %w", perr)
				}
				return "", perr
			case used != n:
				return "", fmt.Errorf("redis: ROLE: %d bytes after the reply", n-used)
			default:
				return roleNamed(first)
			}
		}
		if err != nil {
			return "", k.ioFailed(ctx, err)
		}
	}
}

func (k *keptRedis) ioFailed(ctx context.Context, err error) error {
	if expired(ctx) {
		return fmt.Errorf("redis: ROLE: no reply before the probe timeout: %w", err)
	}
	return fmt.Errorf("redis: ROLE: %w", err)
}

// expired reports whether ctx has ended or its deadline has passed: the
// connection's deadline (set to ctx's) may fire before ctx's own timer.
func expired(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ctx.Err() != nil || (ok && !time.Now().Before(dl))
}

// check runs PING and ROLE on a fresh connection.
func (r *Redis) check(ctx context.Context, start time.Time, c *redisConn) probe.Result {
	if err := c.Ping(ctx).Err(); err != nil {
		return r.failed(start, "PING", err)
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
	return roleNamed([]byte(s))
}

// roleNamed maps the role's name in a ROLE reply to a TargetRole.
func roleNamed(name []byte) (v1beta1.TargetRole, error) {
	switch string(name) {
	case "master":
		return v1beta1.RolePrimary, nil
	case "slave", "replica":
		return v1beta1.RoleReplica, nil
	}
	return "", fmt.Errorf("redis: ROLE: %q is not a master or replica", truncate(string(name), 32))
}
