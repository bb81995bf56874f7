package prober

import (
	"context"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/portico-lb/portico/controller/probe"
	"github.com/portico-lb/portico/internal/realserver"
)

// The load goal is 500 ExternalServices × 2 endpoints probed every
// second, 1000 probes/s in at most 0.1 core: each probe may cost the
// controller 100µs of CPU. These benchmarks probe a local real server and
// report, besides wall time (which includes waiting for the server), the
// CPU time of this process alone per probe (cpu-µs/op, from getrusage), the
// figure to compare with that budget.
func benchProbe(b *testing.B, p Prober, addr netip.AddrPort) {
	b.ReportAllocs()
	before := cpuTime(b)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r := p.Probe(ctx, addr)
		cancel()
		if r.Outcome != probe.Success {
			b.Fatalf("probe failed: %s", r.Err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-µs/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkTCP(b *testing.B) {
	r := realserver.StartRedis(b, realserver.RedisOptions{})
	benchProbe(b, TCP{}, r.Addr)
}

// Fresh connections (Reuse 0).
func BenchmarkRedis(b *testing.B) {
	r := realserver.StartRedis(b, realserver.RedisOptions{Password: "pw"})
	benchProbe(b, &Redis{Credentials: &Credentials{Password: "pw"}}, r.Addr)
}

func BenchmarkMySQL(b *testing.B) {
	db := realserver.StartMariaDB(b, realserver.MariaDBOptions{})
	db.Exec(b, "CREATE USER 'monitor'@'%' IDENTIFIED BY 'pw'")
	benchProbe(b, &MySQL{Credentials: &Credentials{Username: "monitor", Password: "pw"}}, db.Addr)
}

// The same with the connection kept between probes, as New makes them.
func BenchmarkRedisReused(b *testing.B) {
	r := realserver.StartRedis(b, realserver.RedisOptions{Password: "pw"})
	benchProbe(b, &Redis{Credentials: &Credentials{Password: "pw"}, Reuse: DefaultReuse}, r.Addr)
}

func BenchmarkMySQLReused(b *testing.B) {
	db := realserver.StartMariaDB(b, realserver.MariaDBOptions{})
	db.Exec(b, "CREATE USER 'monitor'@'%' IDENTIFIED BY 'pw'")
	benchProbe(b, &MySQL{Credentials: &Credentials{Username: "monitor", Password: "pw"}, Reuse: DefaultReuse}, db.Addr)
}
