package scheduler

import (
	"context"
	"net/netip"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portico-lb/portico/controller/probe"
)

type instant struct{}

func (instant) Probe(context.Context, netip.AddrPort) probe.Result {
	return probe.Result{Outcome: probe.Success, At: time.Now()}
}

// BenchmarkOverhead runs 1000 jobs (the 500 ExternalServices × 2
// endpoints) at a 100ms interval with a prober that does nothing, in real
// time, and reports the scheduler's own CPU per probe and the heap it holds.
// The probes' cost comes on top (see prober's benchmarks).
func BenchmarkOverhead(b *testing.B) {
	var n atomic.Int64
	s := New(Options{OnResult: func(Job, probe.Result) { n.Add(1) }})
	jobs := make([]Job, 1000)
	for i := range jobs {
		jobs[i] = Job{Key: Key{Owner: "bench", Target: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), 3306)},
			Prober: instant{}, Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond}
	}
	s.Set("bench", jobs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	time.Sleep(200 * time.Millisecond) // past the random first probes
	b.ResetTimer()
	before, n0 := cpu(b), n.Load()
	time.Sleep(time.Duration(b.N) * time.Second)
	used, probes := cpu(b)-before, n.Load()-n0
	b.StopTimer()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cancel()
	<-done
	b.ReportMetric(float64(used.Microseconds())/float64(probes), "cpu-µs/probe")
	b.ReportMetric(float64(probes)/float64(b.N), "probes/s")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
}

func cpu(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
