package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// stressResult is what the client and the API saw while a busy loop per
// core ran on the announcing node.
type stressResult struct {
	node     string
	d        time.Duration
	cpus     int
	loopCPU  time.Duration  // CPU time the busy loops got
	client   window         // the prober's view
	arp      arpWindow      // the ARP watcher's
	errs     map[string]int // failed probes by error
	seen     []string       // announcers the Service condition named, in order
	foreign  int            // ARP answers or GARPs for the VIP from other nodes
	senders  []string       // nodes that sent them
	readErrs int            // condition reads that failed
}

// stress runs one busy loop per CPU, each pinned to its CPU with taskset, in
// the announcing node's namespace for c.Stress, and counts announcer
// changes: in the Service condition (read every 250 ms), in the client's
// entry node, and in the ARP traffic. The lab's nodes share this machine's
// CPUs, so the loops starve every node; the announcer is the one they run
// on.
func (pt *porticoTarget) stress(ctx context.Context, c failoverConfig, o observers, dir string) (*stressResult, error) {
	p := o.p
	node, err := waitSteady(ctx, pt, p, time.Second, time.Minute, func(n string) bool { return n != "" })
	if err != nil {
		return nil, fmt.Errorf("bench: before the stress run: %w", err)
	}
	h, err := pt.host(node)
	if err != nil {
		return nil, err
	}
	res := &stressResult{node: node, d: c.Stress, cpus: runtime.NumCPU(), seen: []string{node}}
	t0 := time.Now()
	var loops []*netlab.Process
	defer func() {
		for _, l := range loops {
			l.Stop(time.Second)
		}
	}()
	for cpu := range res.cpus {
		l, err := h.Start(ctx, filepath.Join(dir, "stress.log"), "taskset", "-c", strconv.Itoa(cpu), "sh", "-c", "while :; do :; done")
		if err != nil {
			return nil, fmt.Errorf("bench: busy loop: %w", err)
		}
		loops = append(loops, l)
	}
	end := t0.Add(c.Stress)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		n, err := pt.announcer(ctx)
		switch {
		case err != nil:
			res.readErrs++
		case n != res.seen[len(res.seen)-1]:
			res.seen = append(res.seen, n)
		}
	}
	for _, l := range loops {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", l.Pid)); err == nil {
			if d, err := parseStatCPU(b); err == nil {
				res.loopCPU += d
			}
		}
		l.Stop(time.Second)
	}
	loops = nil
	ps := p.since(t0.Add(-2 * time.Second))
	res.client = analyse(ps, t0, end)
	res.errs = map[string]int{}
	for _, pr := range ps {
		if !pr.ok && !pr.start.Before(t0) && pr.start.Before(end) {
			res.errs[pr.err]++
		}
	}
	res.arp = analyseARP(o.arp.between(t0, end))
	for _, f := range pt.capture.For(pt.vip, t0) {
		if f.Node != node && f.Time.Before(end) {
			res.foreign++
			if !slices.Contains(res.senders, f.Node) {
				res.senders = append(res.senders, f.Node)
			}
		}
	}
	return res, nil
}

// changes is the number of announcer changes the condition showed.
func (s *stressResult) changes() int { return len(s.seen) - 1 }
