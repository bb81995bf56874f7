package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// fibMonitor follows the BGP routes of a namespace's kernel table with
// "ip -o monitor route" and keeps, per prefix, when it last appeared and
// last went. A route that gains or loses an ECMP next hop is replaced, not
// deleted, so its appearance stays the first one. Only routes zebra
// installed ("proto bgp") count.
type fibMonitor struct {
	cmd *exec.Cmd

	mu      sync.Mutex
	added   map[netip.Prefix]time.Time // since it was last absent
	deleted map[netip.Prefix]time.Time
	present map[netip.Prefix]bool
}

// startFIBMonitor runs ip monitor in namespace ns until stop.
func startFIBMonitor(ns string) (*fibMonitor, error) {
	ip, err := netlab.IPCommand()
	if err != nil {
		return nil, err
	}
	m := &fibMonitor{added: map[netip.Prefix]time.Time{}, deleted: map[netip.Prefix]time.Time{}, present: map[netip.Prefix]bool{}}
	m.cmd = exec.Command(ip, "-n", ns, "-o", "-4", "monitor", "route")
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: ip monitor: %w", err)
	}
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: ip monitor: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for sc.Scan() {
			m.observe(sc.Text(), time.Now())
		}
	}()
	// ip subscribes before it reads; give it a moment before the first change.
	time.Sleep(200 * time.Millisecond)
	return m, nil
}

// observe records one line of "ip -o monitor route".
func (m *fibMonitor) observe(line string, at time.Time) {
	if !strings.Contains(line, "proto bgp") {
		return
	}
	f := strings.Fields(line)
	del := len(f) > 0 && f[0] == "Deleted"
	if del {
		f = f[1:]
	}
	if len(f) == 0 {
		return
	}
	p, err := fibPrefix(f[0])
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case del:
		m.present[p] = false
		m.deleted[p] = at
	case !m.present[p]:
		m.present[p] = true
		m.added[p] = at
	}
}

func fibPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// addedAfter returns when p appeared, if it is in the table now and
// appeared after t.
func (m *fibMonitor) addedAfter(p netip.Prefix, t time.Time) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at := m.added[p]
	return at, m.present[p] && at.After(t)
}

// count returns how many of ps are in the table (want true) or not, and the
// latest time one of them appeared (or went).
func (m *fibMonitor) count(ps []netip.Prefix, want bool) (int, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, last := 0, time.Time{}
	for _, p := range ps {
		if m.present[p] != want {
			continue
		}
		n++
		at := m.deleted[p]
		if want {
			at = m.added[p]
		}
		if at.After(last) {
			last = at
		}
	}
	return n, last
}

// waitAdded waits until p appeared after t and returns when it did.
func (m *fibMonitor) waitAdded(ctx context.Context, p netip.Prefix, t time.Time, within time.Duration) (time.Time, error) {
	var at time.Time
	err := netlab.Poll(ctx, 2*time.Millisecond, within, fmt.Sprintf("%s in the router's FIB", p), func(context.Context) error {
		var ok bool
		if at, ok = m.addedAfter(p, t); !ok {
			return fmt.Errorf("not there")
		}
		return nil
	})
	return at, err
}

// waitAll waits until every prefix of ps is in the table (want) or none is,
// and returns when the last one appeared (or went).
func (m *fibMonitor) waitAll(ctx context.Context, ps []netip.Prefix, want bool, within time.Duration) (time.Time, error) {
	var last time.Time
	what := fmt.Sprintf("all %d routes in the router's FIB", len(ps))
	if !want {
		what = fmt.Sprintf("all %d routes gone from the router's FIB", len(ps))
	}
	err := netlab.Poll(ctx, 5*time.Millisecond, within, what, func(context.Context) error {
		var n int
		if n, last = m.count(ps, want); n < len(ps) {
			return fmt.Errorf("%d of %d", n, len(ps))
		}
		return nil
	})
	return last, err
}

func (m *fibMonitor) stop() {
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
}
