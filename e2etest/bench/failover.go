package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// FailoverOptions configures the failover benchmark.
type FailoverOptions struct {
	// Reps is the number of repetitions of each fault. Default 20.
	Reps int
	// Faults are the faults to inject, in order: "kill" (kill -9 of the
	// announcer's speaker), "linkdown" (the announcer's eth0 down) and
	// "sigterm" (graceful stop). Default all three; "none" alone runs none
	// (for a stress run only).
	Faults []string
	// NoKeepalived skips the keepalived reference run.
	NoKeepalived bool
	// Stress is how long to run a CPU busy loop per core on the announcing
	// node after the repetitions, counting announcer changes. 0 skips it.
	Stress time.Duration
	// Interval, ConnectTimeout and ReadTimeout shape the client's probes:
	// a fresh TCP connection every Interval (default 10 ms), failed unless
	// connected within ConnectTimeout (default 100 ms) and the server's
	// line read within ReadTimeout after that (default 100 ms).
	Interval       time.Duration
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	// Observe bounds how long the bench watches for a move back after a
	// restore. Default 10 s.
	Observe time.Duration
	// SpeakerArgs are added to every speaker's command line.
	SpeakerArgs []string
	// Sticky runs Portico's speakers with --sticky: an address stays with
	// its announcer while that lives, so a restored node takes nothing
	// back, and the bench expects no move back after a restore.
	Sticky bool
	// Verbose prints one line per repetition.
	Verbose bool
	// Keep leaves the logs (speakers, kube-proxy, keepalived) in place.
	Keep bool
}

// fault is one way the announcing node fails.
type fault string

const (
	faultKill     fault = "kill"
	faultLinkDown fault = "linkdown"
	faultSIGTERM  fault = "sigterm"
)

// allFaults returns every fault, in the default order.
func allFaults() []fault { return []fault{faultKill, faultLinkDown, faultSIGTERM} }

func (f fault) describe() string {
	switch f {
	case faultKill:
		return "kill -9 of the announcer"
	case faultLinkDown:
		return "link down of the announcer's eth0"
	case faultSIGTERM:
		return "SIGTERM (graceful handover)"
	}
	return string(f)
}

// failoverConfig is FailoverOptions with the defaults filled and the faults
// parsed.
type failoverConfig struct {
	FailoverOptions
	faults []fault
	probe  proberOptions
	// holdDown is the target's hold-down, when it has one: in sticky mode
	// the bench waits past it for a move back that must not come.
	holdDown time.Duration
}

// setFailoverDefaults fills the unset fields of o and checks the rest.
func setFailoverDefaults(o FailoverOptions) (failoverConfig, error) {
	c := failoverConfig{FailoverOptions: o}
	if c.Reps == 0 {
		c.Reps = 20
	}
	if c.Interval == 0 {
		c.Interval = 10 * time.Millisecond
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 100 * time.Millisecond
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 100 * time.Millisecond
	}
	if c.Observe == 0 {
		c.Observe = 10 * time.Second
	}
	switch {
	case c.Reps < 1:
		return c, fmt.Errorf("failover: %d repetitions: want at least 1", c.Reps)
	case c.Interval < time.Millisecond || c.ConnectTimeout < time.Millisecond || c.ReadTimeout < time.Millisecond:
		return c, errors.New("failover: interval and timeouts must be at least 1ms")
	case c.Observe < time.Second:
		return c, fmt.Errorf("failover: observe %v: want at least 1s", c.Observe)
	case c.Stress < 0:
		return c, fmt.Errorf("failover: stress %v: want 0 (skip) or more", c.Stress)
	}
	switch {
	case len(o.Faults) == 0:
		c.faults = allFaults()
	case len(o.Faults) == 1 && strings.TrimSpace(o.Faults[0]) == "none":
		o.Faults = nil
	}
	seen := map[fault]bool{}
	for _, s := range o.Faults {
		f := fault(strings.TrimSpace(s))
		known := false
		for _, k := range allFaults() {
			known = known || f == k
		}
		if !known {
			return c, fmt.Errorf("failover: unknown fault %q: want kill, linkdown or sigterm (or none alone)", s)
		}
		if !seen[f] {
			seen[f] = true
			c.faults = append(c.faults, f)
		}
	}
	c.probe = proberOptions{interval: c.Interval, connect: c.ConnectTimeout, read: c.ReadTimeout}
	return c, nil
}

// Failover measures the client-observed outage when the node announcing a
// VIP fails, for Portico (a three-node lab cluster) and for keepalived
// (VRRPv3 between two lab nodes) under the same faults, and prints the
// report to w. It fails only when the run itself fails.
func Failover(ctx context.Context, o FailoverOptions, w io.Writer) (err error) {
	c, err := setFailoverDefaults(o)
	if err != nil {
		return err
	}
	dir, tidy, err := logDir("portico-failover-", c.Keep, w)
	if err != nil {
		return err
	}
	defer func() { tidy(err) }()
	r := report{w: w}
	printFailoverHeader(r, c)
	var res []*targetResult
	pt, err := runPortico(ctx, c, dir, r)
	if pt != nil {
		res = append(res, pt)
	}
	if err != nil {
		return err
	}
	if !c.NoKeepalived {
		kt, err := runKeepalived(ctx, c, dir, r)
		if kt != nil {
			res = append(res, kt)
		}
		if err != nil {
			return err
		}
	}
	printComparison(r, c, res)
	return nil
}

// target is a system under test: Portico or keepalived, each in its own lab.
type target interface {
	// announcer returns the node announcing the VIP by the target's own
	// account, or "" when it names none (or several).
	announcer(ctx context.Context) (string, error)
	// inject makes node fail; restore brings it back.
	inject(ctx context.Context, f fault, node string) error
	restore(ctx context.Context, f fault, node string) error
	// settled reports whether the target is back to its resting state: every
	// member running and agreed. It returns at once.
	settled(ctx context.Context) bool
}

// annotator is a target that can say which nodes announced the VIP in a
// stretch of time (Portico: from a capture on the bridge), for the
// per-repetition lines.
type annotator interface {
	announcements(from, to time.Time) string
}

// preparer is a target that readies itself before a fault hits node (the
// sticky Portico run keeps its pods off the announcer, which moves); it
// reports whether it changed anything.
type preparer interface {
	prepare(ctx context.Context, node string) (bool, error)
}

// targetResult is one target's repetitions, fault by fault.
type targetResult struct {
	name    string
	setting []string // lines for the report's header of this target
	faults  map[fault][]repResult
	errors  map[fault][]string // repetitions that could not be measured
	late    int                // prober ticks started late
	maxLate time.Duration      // by at most
	// holdDown is how long a returning node must be stable before it
	// announces again, when the target has one (Portico's --hold-down).
	holdDown time.Duration
	stress   *stressResult
}

// repResult is one repetition of one fault.
type repResult struct {
	node     string        // the announcer the fault hit
	injected time.Duration // how long inject took (SIGTERM: until the process exited)
	fault    window        // from the fault until traffic was steady again
	restore  window        // from the restore until traffic was steady again
	// Who answered the watcher's ARP requests in each window.
	faultARP, restoreARP arpWindow
	// Who announced the VIP in each window, when the target can tell.
	faultNote, restoreNote string
	// The entry-node changes of a window with more than one.
	faultFlaps, restoreFlaps []string
}

// observers watch a target from outside: the client's connections and the
// ARP answers for the VIP.
type observers struct {
	p   *prober
	arp *arpWatcher
}

// watcherID is the lab host ID of the ARP watcher (.101, see netlab).
const watcherID = 101

// startObservers starts the client's prober against target and an ARP
// watcher on a host of its own added to lab. via names the node a server
// line came through.
func startObservers(ctx context.Context, c failoverConfig, lab *netlab.Lab, target netip.AddrPort, via func(string) string) (observers, error) {
	h, err := lab.AddHost(ctx, "watch", watcherID)
	if err != nil {
		return observers{}, err
	}
	return observers{
		p:   startProber(lab.Client, target, c.probe, via),
		arp: startARPWatcher(h, target.Addr(), 50*time.Millisecond, macNode(lab.Nodes)),
	}, nil
}

func (o observers) stop() error {
	return errors.Join(o.p.stop(), o.arp.stop())
}

// runFaults runs every fault's repetitions and prints each fault's figures.
func runFaults(ctx context.Context, c failoverConfig, t target, o observers, res *targetResult, r report) error {
	for _, f := range c.faults {
		err := runReps(ctx, c, t, o, f, res, r)
		printFault(r, res, f, c)
		if err != nil {
			return err
		}
	}
	res.late, res.maxLate = o.p.lateTicks()
	return nil
}

// runReps runs c.Reps repetitions of fault f against t, with o watching,
// and prints a line per repetition when verbose.
func runReps(ctx context.Context, c failoverConfig, t target, o observers, f fault, res *targetResult, r report) error {
	const maxErrors = 3
	for i := range c.Reps {
		rep, err := runRep(ctx, c, t, o, f)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			res.errors[f] = append(res.errors[f], fmt.Sprintf("#%d: %v", i+1, err))
			r.note("%s %-8s #%-2d FAILED: %v", res.name, f, i+1, err)
			if len(res.errors[f]) >= maxErrors {
				return fmt.Errorf("bench: %s: %s: %d repetitions failed, giving up; last: %w", res.name, f, maxErrors, err)
			}
			continue
		}
		res.faults[f] = append(res.faults[f], rep)
		if c.Verbose {
			r.note("%s", rep.String(res.name, f, i+1))
		}
	}
	return nil
}

// runRep injects f on the current announcer, waits until the client gets
// through steadily again, restores the node and waits until the target has
// settled and the client is steady again (moved back, or not within
// c.Observe).
func runRep(ctx context.Context, c failoverConfig, t target, o observers, f fault) (repResult, error) {
	var rep repResult
	p := o.p
	old, err := waitSteady(ctx, t, p, time.Second, time.Minute, func(n string) bool { return n != "" })
	if err != nil {
		return rep, fmt.Errorf("before the fault: %w", err)
	}
	if pr, ok := t.(preparer); ok {
		// Only a change of endpoints, not of the entry node; the client
		// must be steady through old again before the fault.
		changed, err := pr.prepare(ctx, old)
		if err != nil {
			return rep, err
		}
		if changed {
			if _, err := waitSteady(ctx, t, p, time.Second, time.Minute, func(n string) bool { return n == old }); err != nil {
				return rep, fmt.Errorf("before the fault, after moving the pods: %w", err)
			}
		}
	}
	rep.node = old
	t0 := time.Now()
	if err := t.inject(ctx, f, old); err != nil {
		return rep, err
	}
	rep.injected = time.Since(t0)
	// Steady again through another node. (kill -9 of keepalived leaves the
	// VIP on the old node, which still serves; the VRRP backup's gratuitous
	// ARP moves the client all the same.)
	if _, err := waitSteady(ctx, nil, p, time.Second, 30*time.Second, func(n string) bool { return n != old }); err != nil {
		t.restore(ctx, f, old)
		return rep, fmt.Errorf("after the fault: %w", err)
	}
	r0 := time.Now()
	if err := t.restore(ctx, f, old); err != nil {
		return rep, err
	}
	// Settled, and steady for 2 s through the old node again, or through
	// any node once c.Observe has passed. Sticky: through any node once a
	// second past the hold-down, when a move back would have begun; the
	// 2 s of steady traffic then include that moment.
	back := func(n string) bool {
		since := time.Since(r0)
		rest := n == old || since >= c.Observe || c.Sticky && c.holdDown > 0 && since >= c.holdDown+time.Second
		return n != "" && rest && t.settled(ctx)
	}
	if _, err := waitSteady(ctx, nil, p, 2*time.Second, c.Observe+time.Minute, back); err != nil {
		return rep, fmt.Errorf("after the restore: %w", err)
	}
	r1 := time.Now()
	// Let the probes still in flight finish before reading both windows.
	select {
	case <-ctx.Done():
		return rep, ctx.Err()
	case <-time.After(c.ConnectTimeout + c.ReadTimeout + 50*time.Millisecond):
	}
	ps := p.since(t0.Add(-2 * time.Second))
	rep.fault, rep.restore = analyse(ps, t0, r0), analyse(ps, r0, r1)
	if rep.fault.changes > 1 {
		rep.faultFlaps = transitions(ps, t0, r0, 12)
	}
	if rep.restore.changes > 1 {
		rep.restoreFlaps = transitions(ps, r0, r1, 12)
	}
	rep.faultARP = analyseARP(o.arp.between(t0, r0))
	rep.restoreARP = analyseARP(o.arp.between(r0, r1))
	if a, ok := t.(annotator); ok {
		rep.faultNote, rep.restoreNote = a.announcements(t0, r0), a.announcements(r0, r1)
	}
	return rep, nil
}

// waitSteady waits until every probe of the last span succeeded through one
// node that ok accepts (and, with t, that t names as its announcer), and
// returns that node. It gives up after limit.
func waitSteady(ctx context.Context, t target, p *prober, span, limit time.Duration, ok func(string) bool) (string, error) {
	var node string
	err := netlab.Poll(ctx, 100*time.Millisecond, limit, "a steady entry node", func(ctx context.Context) error {
		// Probes need up to their timeouts to finish: look at those that
		// started at least 250 ms ago.
		to := time.Now().Add(-250 * time.Millisecond)
		ps := p.since(to.Add(-span))
		w := analyse(ps, to.Add(-span), to)
		var steady bool
		node, steady = steadyNode(ps, to.Add(-span), to)
		if !steady || w.probes < int(span/p.o.interval)/2 || !ok(node) {
			return fmt.Errorf("last %v: %d probes, %d failed, %d changes, entering at %q", span, w.probes, w.failed, w.changes, node)
		}
		if t == nil {
			return nil
		}
		if ann, err := t.announcer(ctx); err != nil || ann != node {
			return fmt.Errorf("client enters at %s; announcer %q (%v)", node, ann, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return node, nil
}

// steadyNode returns the node of the probes that started in [from, to) and
// whether they all succeeded through it.
func steadyNode(ps []probe, from, to time.Time) (string, bool) {
	node := ""
	for _, p := range ps {
		if p.start.Before(from) || !p.start.Before(to) {
			continue
		}
		if !p.ok || (node != "" && p.via != node) {
			return p.via, false
		}
		node = p.via
	}
	return node, node != ""
}

func (rep repResult) String(name string, f fault, i int) string {
	back := "not moved back"
	if rep.restore.moved >= 0 {
		back = fmt.Sprintf("back after %s", msStr(rep.restore.moved))
	}
	s := fmt.Sprintf("%s %-8s #%-2d %s: injected in %s; outage %s, failed %d (%d bursts), moved after %s, changes %d | restore: %s, failed %d, outage %s, changes %d",
		name, f, i, rep.node, msStr(rep.injected), msStr(rep.fault.outage), rep.fault.failed, rep.fault.bursts, msStr(rep.fault.moved),
		rep.fault.changes, back, rep.restore.failed, msStr(rep.restore.outage), rep.restore.changes)
	s += fmt.Sprintf("\n      after the fault: %s", rep.faultARP)
	if rep.faultNote != "" {
		s += "; announced: " + rep.faultNote
	}
	if len(rep.faultFlaps) > 0 {
		s += "; client entered at " + strings.Join(rep.faultFlaps, ", ")
	}
	s += fmt.Sprintf("\n      after the restore: %s", rep.restoreARP)
	if rep.restoreNote != "" {
		s += "; announced: " + rep.restoreNote
	}
	if len(rep.restoreFlaps) > 0 {
		s += "; client entered at " + strings.Join(rep.restoreFlaps, ", ")
	}
	return s
}

// lineField returns the value of key=… in a podserver line.
func lineField(line, key string) string {
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}
