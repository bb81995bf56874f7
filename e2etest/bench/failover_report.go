package bench

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

func newTargetResult(name string) *targetResult {
	return &targetResult{name: name, faults: map[fault][]repResult{}, errors: map[fault][]string{}}
}

func printFailoverHeader(r report, c failoverConfig) {
	r.section("Failover benchmark")
	fs := []string{"none"}
	for i, f := range c.faults {
		if i == 0 {
			fs = nil
		}
		fs = append(fs, string(f))
	}
	r.line("faults × repetitions", "%s × %d", strings.Join(fs, ", "), c.Reps)
	if c.Stress > 0 {
		r.line("stress", "a busy loop per CPU on the announcer for %v, after the faults", c.Stress)
	}
	r.line("client", "fresh TCP connection every %v; failed unless connected within %v and the line read %v later", c.Interval, c.ConnectTimeout, c.ReadTimeout)
	r.line("outage", "%s", "last success before the first failure → first success after the last (probe starts)")
	r.line("moved", "%s", "fault → first success through another node")
	if c.Sticky {
		r.line("mode", "%s", "sticky (speakers run with --sticky): a restored node takes nothing back")
		r.line("after restore", "watched until steady 2 s through one node from 1 s after the hold-down on, or through the old node again, or %v", c.Observe)
	} else {
		r.line("after restore", "watched until steady 2 s through the old node again, or %v", c.Observe)
	}
	r.line("ARP", "%s", "a host of its own asks who has the VIP every 50 ms; two answers to one request is a split")
	r.line("machine", "%d CPUs, %s %s/%s", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.line("load average (1/5/15 min) at start", "%s", strings.Join(strings.Fields(string(la))[:3], " "))
	}
}

func printTargetHeader(r report, res *targetResult) {
	r.section(res.name)
	for _, s := range res.setting {
		r.note("%s", s)
	}
}

// faultStats condenses one fault's repetitions.
type faultStats struct {
	n, errs                 int
	outage, moved, injected []time.Duration
	failed, failedReps      int
	failedMax               int
	back                    []time.Duration // restore → moved back, for those that did
	restoreFailed           int
	restoreFailedReps       int
	restoreOutage           []time.Duration
	changes                 float64 // entry-node changes per failure, mean
	// Repetitions in which some ARP request was answered by two nodes,
	// after the fault and after the restore, and the longest such stretch.
	splitFault, splitRestore int
	splitFor                 time.Duration
}

func statsOf(res *targetResult, f fault) faultStats {
	reps := res.faults[f]
	s := faultStats{n: len(reps), errs: len(res.errors[f])}
	changes := 0
	for _, rep := range reps {
		s.outage = append(s.outage, rep.fault.outage)
		s.injected = append(s.injected, rep.injected)
		if rep.fault.moved >= 0 {
			s.moved = append(s.moved, rep.fault.moved)
		}
		s.failed += rep.fault.failed
		s.failedMax = max(s.failedMax, rep.fault.failed)
		if rep.fault.failed > 0 {
			s.failedReps++
		}
		if rep.restore.moved >= 0 {
			s.back = append(s.back, rep.restore.moved)
		}
		s.restoreFailed += rep.restore.failed
		if rep.restore.failed > 0 {
			s.restoreFailedReps++
		}
		s.restoreOutage = append(s.restoreOutage, rep.restore.outage)
		changes += rep.fault.changes + rep.restore.changes
		if rep.faultARP.split > 0 {
			s.splitFault++
		}
		if rep.restoreARP.split > 0 {
			s.splitRestore++
		}
		s.splitFor = max(s.splitFor, rep.faultARP.splitFor, rep.restoreARP.splitFor)
	}
	if s.n > 0 {
		s.changes = float64(changes) / float64(s.n)
	}
	return s
}

func printFault(r report, res *targetResult, f fault, c failoverConfig) {
	s := statsOf(res, f)
	r.section(fmt.Sprintf("%s: %s, %d repetitions", res.name, f.describe(), s.n))
	if s.errs > 0 {
		r.line("repetitions that could not be measured", "%d: %s", s.errs, strings.Join(res.errors[f], "; "))
	}
	if s.n == 0 {
		return
	}
	r.line("client outage (min/median/p90/p99/max)", "%s", dist(s.outage))
	r.line("failed connects", "%d in %d of %d repetitions (at most %d in one)", s.failed, s.failedReps, s.n, s.failedMax)
	r.line("moved to another node after", "%s (%d of %d)", dist(s.moved), len(s.moved), s.n)
	r.line("injecting the fault took (median)", "%s", msStr(percentile(s.injected, 50)))
	r.line("after restore: moved back within "+c.Observe.String(), "%d of %d, after %s", len(s.back), s.n, dist(s.back))
	r.line("after restore: failed connects", "%d in %d of %d repetitions (outage max %s)", s.restoreFailed, s.restoreFailedReps, s.n, msStr(maxOf(s.restoreOutage)))
	r.line("entry-node changes per failure (mean)", "%.1f (each breaks established connections)", s.changes)
	r.line("two nodes answering ARP for the VIP", "after the fault in %d, after the restore in %d of %d repetitions (longest %s)",
		s.splitFault, s.splitRestore, s.n, msStr(s.splitFor))
}

func printStress(r report, s *stressResult) {
	r.section(fmt.Sprintf("Portico: %v with a busy loop on each of %d CPUs, in %s (the announcer)", s.d, s.cpus, s.node))
	r.line("announcer changes (Service condition)", "%d (%s)", s.changes(), strings.Join(s.seen, " → "))
	r.line("client: entry-node changes", "%d", s.client.changes)
	r.line("client: failed connects", "%d of %d in %d bursts (longest %s) %v", s.client.failed, s.client.probes, s.client.bursts, msStr(s.client.longest), s.errs)
	r.line("ARP answers/GARPs for the VIP from other nodes", "%d %v", s.foreign, s.senders)
	r.line("ARP watcher", "%s", s.arp)
	r.line("CPU the busy loops got", "%.1f s of %.1f s", s.loopCPU.Seconds(), (s.d * time.Duration(s.cpus)).Seconds())
	if s.readErrs > 0 {
		r.line("condition reads that failed", "%d", s.readErrs)
	}
}

// printComparison prints Portico's medians next to keepalived's and the
// issue's goals.
func printComparison(r report, c failoverConfig, res []*targetResult) {
	for _, t := range res {
		if t.late > 0 {
			r.note("note: %s's prober started %d ticks more than %v late (at most %s): the client was starved for CPU at times", t.name, t.late, c.Interval, msStr(t.maxLate))
		}
	}
	if len(res) == 0 {
		return
	}
	p := res[0]
	var k *targetResult
	if len(res) > 1 {
		k = res[1]
		printRatios(r, c, p, k)
	}
	r.section("Goals")
	for _, f := range c.faults {
		ps := statsOf(p, f)
		if ps.n == 0 {
			continue
		}
		var ks faultStats
		if k != nil {
			ks = statsOf(k, f)
		}
		switch {
		case f == faultSIGTERM:
			kf := "–"
			if ks.n > 0 {
				kf = fmt.Sprint(ks.failed)
			}
			r.line("sigterm: 0 failed connects", "%s: %d in %d repetitions (keepalived %s)", verdict(ps.failed == 0), ps.failed, ps.n, kf)
		case ks.n > 0:
			// The client outage is the measure; when keepalived's is 0
			// (kill -9 leaves its VIP on the old node, which still serves),
			// the time until the client moved is.
			measure, a, b := "client outage", ps.outage, ks.outage
			if percentile(b, 50) == 0 {
				measure, a, b = "moved after", ps.moved, ks.moved
			}
			pa, kb := percentile(a, 50), percentile(b, 50)
			r.line(fmt.Sprintf("%s: median ≤ 1.0× keepalived", f), "%s: %s vs %s (%s×) by %s", verdict(pa <= kb), msStr(pa), msStr(kb), ratio(pa, kb, true), measure)
		}
		if c.Sticky {
			r.line(fmt.Sprintf("%s: sticky: no move back, 1 entry-node change per failure", f), "%s: %d of %d moved back; %.1f changes per failure",
				verdict(len(ps.back) == 0 && ps.changes <= 1), len(ps.back), ps.n, ps.changes)
		}
		if p.holdDown > 0 && len(ps.back) > 0 {
			first := slices.Min(ps.back)
			r.line(fmt.Sprintf("%s: no move back before the hold-down (%v)", f, p.holdDown), "%s: earliest move back %s after the restore",
				verdict(first >= p.holdDown), msStr(first))
		}
	}
	if p.stress != nil {
		s := p.stress
		r.line(fmt.Sprintf("stress %v: 0 announcer changes", s.d), "%s: %d in the condition, %d seen by the client, %d foreign ARP answers, %d split ARP requests",
			verdict(s.changes() == 0 && s.client.changes == 0 && s.foreign == 0 && s.arp.split == 0), s.changes(), s.client.changes, s.foreign, s.arp.split)
	}
}

// printRatios prints Portico's medians next to keepalived's.
func printRatios(r report, c failoverConfig, p, k *targetResult) {
	r.section(fmt.Sprintf("%s vs %s (medians; ratio = %s / %s; windows: after the fault and after the restore, 2 per repetition)", p.name, k.name, p.name, k.name))
	r.note("%-9s %-36s %12s %12s %8s", "fault", "measure", p.name, k.name, "ratio")
	for _, f := range c.faults {
		ps, ks := statsOf(p, f), statsOf(k, f)
		if ps.n == 0 || ks.n == 0 {
			continue
		}
		row := func(label string, a, b []time.Duration) {
			med := func(ds []time.Duration) string {
				if len(ds) == 0 {
					return "–"
				}
				return msStr(percentile(ds, 50))
			}
			r.note("%-9s %-36s %12s %12s %8s", f, label, med(a), med(b), ratio(percentile(a, 50), percentile(b, 50), len(a) > 0 && len(b) > 0))
		}
		row("client outage", ps.outage, ks.outage)
		row("moved to another node after", ps.moved, ks.moved)
		row("after restore: moved back after", ps.back, ks.back)
		r.note("%-9s %-36s %12d %12d", f, "failed connects (all repetitions)", ps.failed, ks.failed)
		r.note("%-9s %-36s %12d %12d", f, "failed connects during move-backs", ps.restoreFailed, ks.restoreFailed)
		r.note("%-9s %-36s %12.1f %12.1f", f, "entry-node changes per failure", ps.changes, ks.changes)
		r.note("%-9s %-36s %12d %12d", f, "windows with 2 nodes answering ARP", ps.splitFault+ps.splitRestore, ks.splitFault+ks.splitRestore)
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func ratio(a, b time.Duration, ok bool) string {
	if !ok || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

// dist formats min / median / p90 / p99 / max in milliseconds.
func dist(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	var parts []string
	for _, p := range []float64{0, 50, 90, 99, 100} {
		parts = append(parts, fmt.Sprintf("%.0f", ms(percentile(ds, max(p, 1e-9)))))
	}
	return strings.Join(parts, " / ") + " ms"
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// msStr formats d in whole milliseconds; a negative d means never.
func msStr(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.0f ms", ms(d))
}
