package bench

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

func (b *bgpBench) printHeader(setup time.Duration) {
	r := b.r
	r.section("BGP benchmark")
	r.line("lab", "%s, LAN %s, 3 nodes, router %s (FRR zebra+bgpd, AS 64512); up in %s",
		b.cl.Lab.Prefix, b.cl.Lab.LANv4, b.router.Host.IPv4, seconds(setup))
	r.line("Portico", "a speaker per node, BGPPeer hold %v, pool %s", b.o.HoldTime, bgpPool)
	r.line("reference (floor)", "bare gobgpd %s %s on host %s (%s), driven over gRPC, same AS and hold", gobgpModule, gobgpVersion, b.ref.h.Name, b.ref.h.IPv4)
	r.line("route in the FIB", "%s", "zebra installed it in the router's kernel table (ip monitor route)")
	r.line("machine", "%d CPUs, %s %s/%s", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.line("load average (1/5/15 min) at start", "%s", strings.Join(strings.Fields(string(la))[:3], " "))
	}
}

// ratioOf formats a/b, and reports whether it is within goal.
func ratioOf(a, b time.Duration, goal float64) (string, bool) {
	if b <= 0 {
		return "–", false
	}
	x := float64(a) / float64(b)
	return fmt.Sprintf("%.2f×", x), x <= goal
}

func (b *bgpBench) printResult() {
	r, res := b.r, b.res
	if len(res.latPortico) > 0 {
		r.section(fmt.Sprintf("(a) Service address → route in the FIB, %d Services one at a time (min / p50 / p90 / p99 / max)", len(res.latPortico)))
		r.line("Portico: status has the IP → route", "%s", dist(res.latPortico))
		r.line("gobgpd: AddPath → route (floor)", "%s", dist(res.latRef))
		p50, p99 := percentile(res.latPortico, 50), percentile(res.latPortico, 99)
		x, ok := ratioOf(p50, percentile(res.latRef, 50), 1.2)
		r.line("p50 ratio to the floor", "%s  (goal ≤ 1.2×: %s)", x, verdict(ok))
		r.line("p99", "%s  (goal < 1 s: %s; floor p99 %s)", msStr(p99), verdict(p99 < time.Second), msStr(percentile(res.latRef, 99)))
	}
	if res.scalePortico > 0 {
		n := res.scaleN
		r.section(fmt.Sprintf("(b) %d Services at once (%d creators)", n, b.o.Creators))
		r.line("Portico: first address → all routes", "%s (first create → all routes %s)", seconds(res.scalePortico), seconds(res.scaleCreate))
		r.line("  of which the controller addressing them", "%s (first → last Service with an address)", seconds(res.scaleAddressed))
		r.line("  last address → all routes (the speakers' tail)", "%s", seconds(res.scaleTail))
		r.line("  the bench's creates", "%s (first create → last create returned)", seconds(res.scaleCreated))
		fx, _ := ratioOf(res.scaleAddressed, res.scaleFloor, 0)
		r.line("API server alone: the same creates, unserved class", "%s (the floor of the addressing; addressing / floor %s)", seconds(res.scaleFloor), fx)
		r.line("gobgpd: one AddPathStream → all routes", "%s", seconds(res.scaleRef))
		x, ok := ratioOf(res.scalePortico, res.scaleRef, 1.5)
		r.line("ratio", "%s  (goal ≤ 1.5×: %s)", x, verdict(ok))
		if !ok && res.scaleAddressed > res.scalePortico*9/10 {
			r.note("%s", "  the routes follow the addresses: the controller's address writes set the pace, not BGP")
		}
		if fx, _ := ratioOf(res.scalePortico, res.scaleFloor, 0); res.scaleFloor > 0 {
			r.note("  all routes / the API server's floor for the creates alone: %s", fx)
		}
		r.line("speakers' CPU (3 nodes, the whole run)", "%s, %.1f ms per Service per node", seconds(res.speakerCPU), ms(res.speakerCPU)/float64(n)/3)
		r.line("speaker peak RSS (largest)", "%s", mib(res.speakerRSS))
		r.line("gobgpd CPU / peak RSS", "%s / %s", seconds(res.refCPU), mib(res.refRSS))
	}
	if res.writes != nil {
		n := float64(res.scaleN)
		r.section(fmt.Sprintf("(f) API writes while %d Services were created and routed (the bench's own %d creates removed)", res.scaleN, res.scaleN))
		d := res.writes.minus(writeCounts{})
		k := writeKey{resource: "services", verb: "POST"}
		if c, ok := d[k]; ok {
			c.n -= n
			if c.n == 0 && c.failed == 0 {
				delete(d, k)
			} else {
				d[k] = c
			}
		}
		r.writes("writes", d)
		all, status := porticoWrites(d), serviceStatusWrites(d)
		// The controller writes each Service's status once (the address);
		// every other Portico write comes from the speakers.
		speakers := all - n
		r.line("Portico writes per Service", "%.2f (controller + speakers)", all/n)
		r.line("speakers' writes per Service", "%.2f, assuming one status write per Service by the controller (%0.f Service status writes in all)", speakers/n, status)
	}
	if len(res.sigterm) > 0 {
		hold := b.o.HoldTime
		r.section(fmt.Sprintf("(c–e) fault → the node's next hop gone from the FIB, %d repetitions (min / p50 / p90 / p99 / max)", len(res.sigterm)))
		r.line("(c) Portico SIGTERM", "%s", dist(res.sigterm))
		r.line("    gobgpd SIGTERM (Cease)", "%s", dist(res.sigtermRef))
		x, ok := ratioOf(percentile(res.sigterm, 50), percentile(res.sigtermRef, 50), 1.0)
		r.line("    p50 ratio", "%s  (goal ≤ 1.0×: %s)", x, verdict(ok))
		if len(res.kill) > 0 {
			r.line("(d) Portico kill -9", "%s", dist(res.kill))
			r.line("    gobgpd kill -9", "%s", dist(res.killRef))
			x, _ := ratioOf(percentile(res.kill, 50), percentile(res.killRef, 50), 0)
			r.line("    p50 ratio", "%s  (no goal)", x)
		}
		if len(res.linkDown) > 0 {
			worst := maxOf(res.linkDown)
			r.line(fmt.Sprintf("(e) link down, hold time %v", hold), "%s", dist(res.linkDown))
			r.line("    worst", "%s  (goal ≤ hold time + 0.5 s = %s: %s)", msStr(worst), msStr(hold+500*time.Millisecond), verdict(worst <= hold+500*time.Millisecond))
		}
	}
}
