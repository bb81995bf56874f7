package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
)

// Prober checks one address. MySQL and Redis also have Forget(addr), which
// closes the connection kept for addr, and Close.
type Prober interface {
	// Probe checks addr within ctx's deadline and reports the outcome; it
	// returns only when its connection is closed.
	Probe(ctx context.Context, addr netip.AddrPort) probe.Result
}

// Credentials are a database login, read from the ExternalService's Secret.
// They print as a placeholder so that a log line or %v cannot leak them.
type Credentials struct {
	Username, Password string
}

func (c Credentials) String() string   { return "<credentials redacted>" }
func (c Credentials) GoString() string { return "prober.Credentials{<redacted>}" }

// ErrNoProbe is returned by New for the check type None, which probes nothing.
var ErrNoProbe = errors.New("prober: health check type None runs no probe")

// New returns the prober for a health check type. Credentials, which may be
// nil, are used by MySQL and Redis only, which keep connections for
// DefaultReuse; call Forget when an address is no longer probed.
func New(t v1beta1.HealthCheckType, creds *Credentials) (Prober, error) {
	switch t {
	case v1beta1.HealthCheckTCP, "":
		return TCP{}, nil
	case v1beta1.HealthCheckMySQL:
		return &MySQL{Credentials: creds, Reuse: DefaultReuse}, nil
	case v1beta1.HealthCheckRedis:
		return &Redis{Credentials: creds, Reuse: DefaultReuse}, nil
	case v1beta1.HealthCheckNone:
		return nil, ErrNoProbe
	}
	return nil, fmt.Errorf("prober: unknown health check type %q", t)
}

// TCP succeeds when a TCP connection to the address opens.
type TCP struct{}

var _ Prober = TCP{}

// Probe implements Prober.
func (TCP) Probe(ctx context.Context, addr netip.AddrPort) probe.Result {
	start := time.Now()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return failed(start, err)
	}
	_ = c.Close()
	return done(start, probe.Success, v1beta1.RoleUnknown, "")
}

func done(start time.Time, o probe.Outcome, role v1beta1.TargetRole, msg string) probe.Result {
	now := time.Now()
	return probe.Result{Outcome: o, Role: role, At: now, Latency: now.Sub(start), Err: msg}
}

func failed(start time.Time, err error) probe.Result {
	return done(start, probe.Failure, v1beta1.RoleUnknown, err.Error())
}

// timeouts returns the I/O timeout a driver should use: a little more than
// what is left of the context's deadline, or fallback without one. The
// context bounds the probe (both drivers watch it) and so expires first,
// and the error says it was the probe's timeout; the driver's own timeout
// is only a backstop in case it does not watch some step.
func timeouts(ctx context.Context, fallback time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), 0) + 250*time.Millisecond
	}
	return fallback
}
