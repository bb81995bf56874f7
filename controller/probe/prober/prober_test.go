package prober

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
)

func probeOnce(t *testing.T, p Prober, addr netip.AddrPort) probe.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := p.Probe(ctx, addr)
	t.Logf("%T %s: outcome %d role %q latency %v err %q", p, addr, r.Outcome, r.Role, r.Latency, r.Err)
	if r.At.IsZero() || r.Latency <= 0 {
		t.Errorf("result has no time or latency: %+v", r)
	}
	return r
}

func expect(t *testing.T, r probe.Result, o probe.Outcome, role v1beta1.TargetRole, errPart string) {
	t.Helper()
	if r.Outcome != o || r.Role != role {
		t.Errorf("got outcome %d role %q (%s), want outcome %d role %q", r.Outcome, r.Role, r.Err, o, role)
	}
	if !strings.Contains(r.Err, errPart) {
		t.Errorf("error %q does not contain %q", r.Err, errPart)
	}
}

// silent accepts connections and never writes, the way a hung server
// behaves; every probe against it must end at its context's deadline.
func silent(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return netip.MustParseAddrPort(l.Addr().String())
}

// closedPort returns a loopback port that refuses connections.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(l.Addr().String())
	l.Close()
	return a
}

func TestTCP(t *testing.T) {
	expect(t, probeOnce(t, TCP{}, silent(t)), probe.Success, v1beta1.RoleUnknown, "")
	expect(t, probeOnce(t, TCP{}, closedPort(t)), probe.Failure, v1beta1.RoleUnknown, "connection refused")
}

// TestTimeout: a server that accepts and then says nothing fails each
// protocol probe at the context's deadline, not later.
func TestTimeout(t *testing.T) {
	addr := silent(t)
	for _, p := range []Prober{&MySQL{}, &MySQL{Credentials: &Credentials{"u", "p"}}, &Redis{}} {
		t.Run(fmt.Sprintf("%T", p), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			r := p.Probe(ctx, addr)
			took := time.Since(start)
			if r.Outcome != probe.Failure || !strings.Contains(r.Err, "timeout") {
				t.Errorf("outcome %d (%s), want a Failure saying timeout", r.Outcome, r.Err)
			}
			if took < 250*time.Millisecond || took > 1500*time.Millisecond {
				t.Errorf("probe took %v with a 300ms deadline", took)
			}
			t.Logf("after %v: %s", took, r.Err)
		})
	}
}

func TestNew(t *testing.T) {
	for typ, want := range map[v1beta1.HealthCheckType]string{
		v1beta1.HealthCheckTCP: "prober.TCP", "": "prober.TCP", v1beta1.HealthCheckMySQL: "*prober.MySQL", v1beta1.HealthCheckRedis: "*prober.Redis",
	} {
		p, err := New(typ, nil)
		if err != nil || fmt.Sprintf("%T", p) != want {
			t.Errorf("New(%q) = %T, %v; want %s", typ, p, err, want)
		}
	}
	if _, err := New(v1beta1.HealthCheckNone, nil); err != ErrNoProbe {
		t.Errorf("New(None) error %v, want ErrNoProbe", err)
	}
	if _, err := New("HTTP", nil); err == nil || !strings.Contains(err.Error(), `"HTTP"`) {
		t.Errorf("New(HTTP) error %v", err)
	}
}

func TestCredentialsNeverPrint(t *testing.T) {
	c := Credentials{Username: "monitor", Password: "hunter2"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{c, &c, &MySQL{Credentials: &c}, struct{ C Credentials }{c}} {
			if s := fmt.Sprintf(f, v); strings.Contains(s, "hunter2") || strings.Contains(s, "monitor") {
				t.Errorf("%s of %T prints %s", f, v, s)
			}
		}
	}
}

func itoa(p uint16) string { return fmt.Sprint(p) }
