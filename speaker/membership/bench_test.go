package membership

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// detectionRig is two long-lived members and a victim that is started,
// joined and killed (memberlist shut down without a leave, as kill -9
// would) over and over, all with the default timers.
type detectionRig struct {
	survivors []*node
	victim    Config
	src       staticPeers
}

func newDetectionRig(tb testing.TB) *detectionRig {
	r := &detectionRig{}
	var cfgs []Config
	for i, name := range []string{"a", "b", "victim"} {
		addr := netip.AddrFrom4([4]byte{127, 0, 2, byte(i + 1)})
		c := Config{NodeName: name, BindAddr: addr, BindPort: freePort(tb, addr)}
		cfgs = append(cfgs, c)
		r.src = append(r.src, peer{Name: name, Addr: netip.AddrPortFrom(addr, uint16(c.BindPort))})
	}
	for _, c := range cfgs[:2] {
		r.survivors = append(r.survivors, startNode(tb, c, r.src))
	}
	r.victim = cfgs[2]
	return r
}

// round starts the victim, waits until everyone sees everyone, kills it
// and returns how long the first and the last survivor took to notice.
// start and stop bracket the measured part (the benchmark timer).
func (r *detectionRig) round(tb testing.TB, start, stop func()) (first, last time.Duration) {
	v := startNode(tb, r.victim, r.src)
	all := hasExactly("a", "b", "victim")
	firstHeld(tb, append(slices.Clone(r.survivors), v), 10*time.Second, "all three alive", all)

	start()
	killed := time.Now()
	v.m.shutdown()
	at, _ := firstHeld(tb, r.survivors, 10*time.Second, "victim gone", lacks("victim"))
	stop()
	v.stop(tb)

	first, last = at[0].Sub(killed), at[0].Sub(killed)
	for _, t := range at[1:] {
		first, last = min(first, t.Sub(killed)), max(last, t.Sub(killed))
	}
	return first, last
}

// BenchmarkFailureDetection measures kill → every survivor has dropped the
// victim, with the default timers, in a three-node loopback cluster. ns/op
// is the mean; the extra metrics give the spread over b.N crashes. Run it
// with a fixed count, for example:
//
//	go test -run '^$' -bench FailureDetection -benchtime 20x ./speaker/membership/
func BenchmarkFailureDetection(b *testing.B) {
	r := newDetectionRig(b)
	var firsts, lasts []time.Duration
	b.StopTimer()
	for range b.N {
		f, l := r.round(b, b.StartTimer, b.StopTimer)
		firsts, lasts = append(firsts, f), append(lasts, l)
	}
	slices.Sort(firsts)
	slices.Sort(lasts)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(firsts[len(firsts)/2]), "first-median-ms")
	b.ReportMetric(ms(lasts[len(lasts)/2]), "all-median-ms")
	b.ReportMetric(ms(lasts[len(lasts)-1]), "all-max-ms")
}

// TestFailureDetectionTimes runs ten crashes and logs the detection times
// (go test -v shows them). It asserts only the bounded wait inside round:
// timing depends on the machine.
func TestFailureDetectionTimes(t *testing.T) {
	if testing.Short() {
		t.Skip("ten crash rounds take about ten seconds; skipped with -short")
	}
	r := newDetectionRig(t)
	var lasts []time.Duration
	for range 10 {
		f, l := r.round(t, func() {}, func() {})
		t.Logf("first survivor %v, last %v", f.Round(time.Millisecond), l.Round(time.Millisecond))
		lasts = append(lasts, l)
	}
	slices.Sort(lasts)
	t.Logf("all survivors noticed: median %v, max %v over %d crashes",
		lasts[len(lasts)/2].Round(time.Millisecond), lasts[len(lasts)-1].Round(time.Millisecond), len(lasts))
}
