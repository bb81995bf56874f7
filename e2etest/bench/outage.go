package bench

import (
	"fmt"
	"slices"
	"time"
)

// probe is one TCP connection the prober opened to the VIP.
type probe struct {
	start time.Time     // when the connect began; probes start on a fixed tick
	dur   time.Duration // until the line arrived or the attempt failed
	ok    bool          // connected and read the server's line
	via   string        // the node the connection entered at; "" when it failed
	line  string        // the server's line
	err   string        // why it failed
}

// window is what the client saw in one stretch of a probe timeline: a fault
// and the failover, or a restore and the move back.
type window struct {
	probes int // probes that started in the window
	failed int // of which failed
	// bursts counts runs of consecutive failures (in start order).
	bursts int
	// outage runs from the start of the last successful probe before the
	// window's first failure to the start of the first successful probe after
	// its last failure: the time the client could not get through, to the
	// probe interval. Without an earlier success it starts at the window's
	// start; 0 when nothing failed.
	outage time.Duration
	// longest is the longest single burst, measured like outage; with one
	// burst the two are equal.
	longest time.Duration
	// open says failures ran to the end of the window (outage then ends at
	// the window's end).
	open bool
	// before is the node of the last successful probe before the window.
	before string
	// moved is the time from the window's start to the first successful
	// probe entering at another node than before; -1 when none did.
	moved time.Duration
	// changes counts how often the entry node changed between consecutive
	// successful probes, from before on: every change breaks the
	// connections established through the old node.
	changes int
}

// analyse reads the probes that started in [from, to) out of ps, using the
// successful probes before from as the baseline. ps need not be sorted and
// is not modified.
func analyse(ps []probe, from, to time.Time) window {
	s := slices.Clone(ps)
	slices.SortStableFunc(s, func(a, b probe) int { return a.start.Compare(b.start) })
	w := window{moved: -1}
	var lastOK time.Time // start of the latest success seen so far
	for _, p := range s {
		if p.start.Before(from) && p.ok {
			lastOK, w.before = p.start, p.via
		}
	}
	cur := w.before
	var outStart, outEnd time.Time // the outage, once something failed
	var burstStart time.Time       // the current burst's last success before it
	inFailure := false
	for _, p := range s {
		if p.start.Before(from) || !p.start.Before(to) {
			continue
		}
		w.probes++
		if !p.ok {
			w.failed++
			if !inFailure {
				w.bursts++
				inFailure = true
				burstStart = lastOK
				if burstStart.IsZero() {
					burstStart = from
				}
			}
			if outStart.IsZero() {
				outStart = lastOK
				if outStart.IsZero() {
					outStart = from
				}
			}
			continue
		}
		if inFailure {
			inFailure = false
			outEnd = p.start
			w.longest = max(w.longest, p.start.Sub(burstStart))
		}
		lastOK = p.start
		if p.via != cur {
			if cur != "" { // without a baseline the first node seen is the start
				w.changes++
			}
			cur = p.via
		}
		if w.moved < 0 && w.before != "" && p.via != w.before {
			w.moved = p.start.Sub(from)
		}
	}
	if !outStart.IsZero() {
		if inFailure {
			w.open, outEnd = true, to
			w.longest = max(w.longest, to.Sub(burstStart))
		}
		w.outage = outEnd.Sub(outStart)
	}
	return w
}

// transitions lists, for the probes that started in [from, to), each change
// of entry node between consecutive successful probes as "+<ms> <node>",
// at most limit of them (the rest are counted).
func transitions(ps []probe, from, to time.Time, limit int) []string {
	s := slices.Clone(ps)
	slices.SortStableFunc(s, func(a, b probe) int { return a.start.Compare(b.start) })
	var out []string
	cur, n := "", 0
	for _, p := range s {
		if !p.ok || !p.start.Before(to) {
			continue
		}
		if p.via != cur && !p.start.Before(from) && cur != "" {
			if n++; n <= limit {
				out = append(out, fmt.Sprintf("+%d %s (%s)", p.start.Sub(from).Milliseconds(), p.via, p.line))
			}
		}
		cur = p.via
	}
	if n > limit {
		out = append(out, fmt.Sprintf("(%d more)", n-limit))
	}
	return out
}
