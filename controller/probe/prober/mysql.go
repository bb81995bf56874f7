package prober

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
)

// MySQL probes a MySQL or MariaDB server. Without credentials it logs in as
// a user that does not exist: a server that answers the handshake and then
// refuses the login is up (the role stays unknown). With credentials it
// also reads @@read_only and @@super_read_only: writable only when both are
// 0. MariaDB has no super_read_only; the unknown-variable error makes the
// probe read @@read_only alone.
type MySQL struct {
	Credentials *Credentials
	// Reuse keeps a working connection (with credentials only: without,
	// the refused login is the check) for the next probe of the same
	// address for at most this long (DefaultReuse explains why); 0 logs in
	// afresh every probe.
	Reuse time.Duration

	sessions sessions[*mysqlConn]
}

var _ Prober = (*MySQL)(nil)

// probeUser is the login tried without credentials; no account should
// carry this name, so the server refuses it after a full handshake.
const probeUser = "portico-handshake-probe"

// MySQL error numbers the probe branches on.
const (
	erDBAccessDenied   = 1044 // ER_DBACCESS_DENIED_ERROR
	erAccessDenied     = 1045 // ER_ACCESS_DENIED_ERROR
	erHostNotAllowed   = 1130 // ER_HOST_NOT_PRIVILEGED
	erUnknownVariable  = 1193 // ER_UNKNOWN_SYSTEM_VARIABLE
	erNoPasswordDenied = 1698 // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
)

// mysqlConn is a logged-in connection and what the probe learnt of it.
type mysqlConn struct {
	driver.Conn
	// noSuperReadOnly: the server (MariaDB) has no super_read_only, so
	// later probes on this connection ask for read_only alone.
	noSuperReadOnly bool
}

// Probe implements Prober.
func (m *MySQL) Probe(ctx context.Context, addr netip.AddrPort) probe.Result {
	start := time.Now()
	if c, opened, ok := m.sessions.take(addr, m.Reuse); ok {
		res := m.check(ctx, start, c)
		if res.Outcome == probe.Success {
			m.sessions.put(addr, c, opened)
			return res
		}
		_ = c.Close()
		if ctx.Err() != nil {
			return res
		}
		// The server may have closed the kept connection (wait_timeout,
		// KILL); a fresh login decides.
	}
	opened := time.Now()
	c, res := m.open(ctx, start, addr)
	if c == nil || m.Credentials == nil {
		return res
	}
	res = m.check(ctx, start, c)
	if res.Outcome == probe.Success && m.Reuse > 0 {
		m.sessions.put(addr, c, opened)
	} else {
		_ = c.Close()
	}
	return res
}

// Forget closes the connection kept for addr, if any.
func (m *MySQL) Forget(addr netip.AddrPort) { m.sessions.forget(addr) }

// Close closes every kept connection.
func (m *MySQL) Close() error { m.sessions.closeAll(); return nil }

// open logs in to addr. Without credentials it returns no connection and
// the Result of the handshake; with credentials, the connection, or the
// failed Result.
func (m *MySQL) open(ctx context.Context, start time.Time, addr netip.AddrPort) (*mysqlConn, probe.Result) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", addr.String()
	cfg.User = probeUser
	if m.Credentials != nil {
		cfg.User, cfg.Passwd = m.Credentials.Username, m.Credentials.Password
	}
	t := timeouts(ctx, 5*time.Second)
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = t, t, t
	// The driver would print connection errors to stderr; the probe
	// reports them in its Result.
	cfg.Logger = &mysql.NopLogger{}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, failed(start, fmt.Errorf("mysql: %w", err))
	}
	// The connector itself, not database/sql: a sql.DB starts a pool and
	// its opener goroutine, which a single connection does not need and
	// which costs more CPU than the probe.
	c, err := conn.Connect(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// The driver says "invalid connection"; the cause is the deadline.
			return nil, failed(start, fmt.Errorf("mysql: no handshake before the probe timeout: %w", ctx.Err()))
		}
		return nil, m.loginFailed(start, err)
	}
	if m.Credentials == nil {
		_ = c.Close()
		return nil, done(start, probe.Success, v1beta1.RoleUnknown, "")
	}
	return &mysqlConn{Conn: c}, probe.Result{}
}

// check reads read_only and super_read_only on c.
func (m *MySQL) check(ctx context.Context, start time.Time, c *mysqlConn) probe.Result {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return failed(start, errors.New("mysql: the driver's connection cannot query"))
	}
	readOnly := func() ([]sql.NullString, error) {
		v, err := queryRow(ctx, q, "SELECT @@read_only", 1)
		return append(v, sql.NullString{}), err
	}
	var vals []sql.NullString
	var err error
	if c.noSuperReadOnly {
		vals, err = readOnly()
	} else {
		vals, err = queryRow(ctx, q, "SELECT @@read_only, @@super_read_only", 2)
		if num, ok := mysqlErr(err); ok && num == erUnknownVariable {
			c.noSuperReadOnly = true
			vals, err = readOnly()
		}
	}
	if err != nil {
		return failed(start, fmt.Errorf("mysql: reading read_only: %w", err))
	}
	role, err := roleFromReadOnly(vals[0], vals[1])
	if err != nil {
		return failed(start, err)
	}
	return done(start, probe.Success, role, "")
}

// loginFailed sorts out a failed connect: refused credentials, a handshake
// that proves the server up (no credentials), or a failure.
func (m *MySQL) loginFailed(start time.Time, err error) probe.Result {
	num, ok := mysqlErr(err)
	denied := ok && (num == erAccessDenied || num == erDBAccessDenied || num == erNoPasswordDenied)
	switch {
	case denied && m.Credentials != nil:
		return done(start, probe.AuthFailure, v1beta1.RoleUnknown, "mysql: credentials refused: "+err.Error())
	case denied, ok && num == erHostNotAllowed:
		// The server completed a handshake with us; that is the check.
		return done(start, probe.Success, v1beta1.RoleUnknown, "")
	}
	return failed(start, fmt.Errorf("mysql: %w", err))
}

// queryRow runs a query that returns one row of n columns and returns them
// as strings (NULL as invalid).
func queryRow(ctx context.Context, q driver.QueryerContext, query string, n int) ([]sql.NullString, error) {
	rows, err := q.QueryContext(ctx, query, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if got := len(rows.Columns()); got != n {
		return nil, fmt.Errorf("%d columns, want %d", got, n)
	}
	dest := make([]driver.Value, n)
	if err := rows.Next(dest); err != nil {
		if err == io.EOF {
			return nil, errors.New("no row")
		}
		return nil, err
	}
	out := make([]sql.NullString, n)
	for i, v := range dest {
		switch v := v.(type) {
		case nil:
		case []byte:
			out[i] = sql.NullString{String: string(v), Valid: true}
		case string:
			out[i] = sql.NullString{String: v, Valid: true}
		case int64:
			out[i] = sql.NullString{String: strconv.FormatInt(v, 10), Valid: true}
		default:
			return nil, fmt.Errorf("column %d is a %T", i, v)
		}
	}
	return out, nil
}

func mysqlErr(err error) (uint16, bool) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number, true
	}
	return 0, false
}

// roleFromReadOnly: writable when read_only is off and super_read_only is
// off or unknown (NULL: not read, MariaDB).
func roleFromReadOnly(ro, sro sql.NullString) (v1beta1.TargetRole, error) {
	r, err := parseSwitch(ro)
	if err != nil {
		return "", fmt.Errorf("mysql: @@read_only: %w", err)
	}
	s := false
	if sro.Valid {
		if s, err = parseSwitch(sro); err != nil {
			return "", fmt.Errorf("mysql: @@super_read_only: %w", err)
		}
	}
	if r || s {
		return v1beta1.RoleReplica, nil
	}
	return v1beta1.RolePrimary, nil
}

// parseSwitch reads a boolean system variable as servers print it: 0 or 1,
// OFF or ON in any case. Anything else is an error, never a guess.
func parseSwitch(v sql.NullString) (bool, error) {
	if !v.Valid {
		return false, errors.New("NULL")
	}
	switch v.String {
	case "0", "OFF", "off", "Off":
		return false, nil
	case "1", "ON", "on", "On":
		return true, nil
	}
	if len(v.String) > 32 {
		return false, fmt.Errorf("unexpected value %q…", v.String[:32])
	}
	return false, fmt.Errorf("unexpected value %q", v.String)
}
