package prober

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
)

// fakeRedis answers RESP2 commands with reply(conn, n, cmd), where conn
// counts the connections accepted (from 1) and n the ROLE commands on this
// one (from 1); an empty reply sends nothing, the way a hung server does.
type fakeRedis struct {
	addr  netip.AddrPort
	mu    sync.Mutex
	conns int
}

func startFakeRedis(t *testing.T, reply func(conn, n int, cmd string) string) *fakeRedis {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fakeRedis{addr: netip.MustParseAddrPort(l.Addr().String())}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			f.mu.Lock()
			f.conns++
			id := f.conns
			f.mu.Unlock()
			go serveFake(c, id, reply)
		}
	}()
	return f
}

func (f *fakeRedis) accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

// serveFake reads commands (arrays of bulk strings) and answers each.
func serveFake(c net.Conn, id int, reply func(conn, n int, cmd string) string) {
	r := bufio.NewReader(c)
	roles := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "*") {
			return
		}
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		var args []string
		for range n {
			if _, err := r.ReadString('\n'); err != nil { // $len
				return
			}
			a, err := r.ReadString('\n')
			if err != nil {
				return
			}
			args = append(args, strings.TrimSpace(a))
		}
		cmd := strings.ToUpper(args[0])
		var out string
		switch cmd {
		case "HELLO":
			out = "-ERR unknown command 'HELLO'\r\n" // RESP2 only, like Redis 5
		case "PING":
			out = "+PONG\r\n"
		case "ROLE":
			roles++
			out = reply(id, roles, cmd)
		default:
			out = "-ERR unknown command\r\n"
		}
		if out != "" {
			if _, err := c.Write([]byte(out)); err != nil {
				return
			}
		}
	}
}

// TestKeptConnectionDropped: a kept connection is closed on any error or
// timeout; after an error a fresh connection decides the probe, after a
// timeout the probe fails at its deadline.
func TestKeptConnectionDropped(t *testing.T) {
	tests := []struct {
		name string
		// kept is the reply to the second ROLE on the first connection
		// (the first kept probe); every other ROLE is a master's.
		kept       string
		want       probe.Outcome
		err        string
		conns      int
		maxLatency time.Duration
	}{
		{"good reply keeps it", roleMasterAlone, probe.Success, "", 1, time.Second},
		{"malformed reply", "*1\r\n:1\r\n", probe.Success, "", 2, time.Second},
		{"error reply", "-NOPERM no ROLE for you\r\n", probe.Success, "", 2, time.Second},
		{"trailing bytes", roleMasterAlone + "+OK\r\n", probe.Success, "", 2, time.Second},
		{"no reply", "", probe.Failure, "no reply before the probe timeout", 1, 900 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startFakeRedis(t, func(conn, n int, _ string) string {
				if conn == 1 && n == 2 {
					return tt.kept
				}
				return roleMasterAlone
			})
			p := &Redis{Reuse: time.Minute}
			defer p.Close()
			expect(t, probeOnce(t, p, srv.addr), probe.Success, v1beta1.RolePrimary, "")
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			r := p.Probe(ctx, srv.addr)
			role := v1beta1.RoleUnknown
			if tt.want == probe.Success {
				role = v1beta1.RolePrimary
			}
			expect(t, r, tt.want, role, tt.err)
			if r.Latency > tt.maxLatency {
				t.Errorf("probe took %v", r.Latency)
			}
			if got := srv.accepted(); got != tt.conns {
				t.Errorf("%d connections opened, want %d", got, tt.conns)
			}
			// Whatever happened, the next probe works (on a kept or a
			// fresh connection).
			expect(t, probeOnce(t, p, srv.addr), probe.Success, v1beta1.RolePrimary, "")
		})
	}
}
