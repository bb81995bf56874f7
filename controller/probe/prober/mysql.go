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

// Probe implements Prober.
func (m *MySQL) Probe(ctx context.Context, addr netip.AddrPort) probe.Result {
	start := time.Now()
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
		return failed(start, fmt.Errorf("mysql: %w", err))
	}
	// The connector itself, not database/sql: a sql.DB starts a pool and
	// its opener goroutine, which a single-use connection does not need
	// and which costs more CPU than the probe.
	c, err := conn.Connect(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// The driver says "invalid connection"; the cause is the deadline.
			return failed(start, fmt.Errorf("mysql: no handshake before the probe timeout: %w", ctx.Err()))
		}
		return m.loginFailed(start, err)
	}
	defer c.Close()
	if m.Credentials == nil {
		return done(start, probe.Success, v1beta1.RoleUnknown, "")
	}
	q, ok := c.(driver.QueryerContext)
	if !ok {
		return failed(start, errors.New("mysql: the driver's connection cannot query"))
	}
	vals, err := queryRow(ctx, q, "SELECT @@read_only, @@super_read_only", 2)
	if num, ok := mysqlErr(err); ok && num == erUnknownVariable {
		vals, err = queryRow(ctx, q, "SELECT @@read_only", 1)
		vals = append(vals, sql.NullString{})
	}
	if err != nil {
		return failed(start, fmt.Errorf("mysql: reading read_only: %w", err))
	}
	ro, sro := vals[0], vals[1]
	role, err := roleFromReadOnly(ro, sro)
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
