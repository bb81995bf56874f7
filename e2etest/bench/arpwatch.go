package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// arpAnswer is one node answering one of the watcher's ARP requests.
type arpAnswer struct {
	round time.Time // when the request went out
	node  string
}

// arpWatcher asks "who has the VIP?" every interval from a lab host of its
// own (not the client, whose neighbour cache it would disturb) and records
// every node that answers: two answers to one request is the split the
// election must never cause.
type arpWatcher struct {
	interval time.Duration
	cancel   context.CancelFunc
	done     chan error

	mu      sync.Mutex
	rounds  []time.Time
	answers []arpAnswer
}

// startARPWatcher starts asking from h (cluster.Asker); nodeOf names the
// node of a MAC.
func startARPWatcher(h *netlab.Host, vip netip.Addr, interval time.Duration, nodeOf func(net.HardwareAddr) string) *arpWatcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &arpWatcher{interval: interval, cancel: cancel, done: make(chan error, 1)}
	go func() {
		a := cluster.NewAsker(h)
		defer a.Close()
		w.done <- w.loop(ctx, a, vip, nodeOf)
	}()
	return w
}

func (w *arpWatcher) loop(ctx context.Context, a *cluster.Asker, vip netip.Addr, nodeOf func(net.HardwareAddr) string) error {
	for ctx.Err() == nil {
		round := time.Now()
		w.mu.Lock()
		w.rounds = append(w.rounds, round)
		w.mu.Unlock()
		err := a.Ask(vip, round.Add(w.interval), func(f cluster.Frame) bool {
			w.mu.Lock()
			w.answers = append(w.answers, arpAnswer{round: round, node: nodeOf(f.MAC)})
			w.mu.Unlock()
			return true
		})
		if err != nil {
			return fmt.Errorf("arp watcher: %w", err)
		}
	}
	return nil
}

func (w *arpWatcher) stop() error {
	w.cancel()
	return <-w.done
}

// between returns the rounds and answers of [from, to).
func (w *arpWatcher) between(from, to time.Time) ([]time.Time, []arpAnswer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
	var rs []time.Time
	for _, r := range w.rounds {
		if in(r) {
			rs = append(rs, r)
		}
	}
	var as []arpAnswer
	for _, a := range w.answers {
		if in(a.round) {
			as = append(as, a)
		}
	}
	return rs, as
}

// arpWindow is what the watcher saw in a stretch of time.
type arpWindow struct {
	rounds int // requests sent
	silent int // requests nobody answered
	split  int // requests two or more nodes answered
	// splitFor runs from the first to the last split request (0 with at
	// most one); splitNodes are the nodes that answered them.
	splitFor   time.Duration
	splitNodes []string
}

// analyseARP condenses rounds and their answers.
func analyseARP(rounds []time.Time, answers []arpAnswer) arpWindow {
	by := map[time.Time][]string{}
	for _, a := range answers {
		if !slices.Contains(by[a.round], a.node) {
			by[a.round] = append(by[a.round], a.node)
		}
	}
	w := arpWindow{rounds: len(rounds)}
	var first, last time.Time
	for _, r := range rounds {
		switch n := by[r]; {
		case len(n) == 0:
			w.silent++
		case len(n) > 1:
			w.split++
			if first.IsZero() || r.Before(first) {
				first = r
			}
			if r.After(last) {
				last = r
			}
			for _, node := range n {
				if !slices.Contains(w.splitNodes, node) {
					w.splitNodes = append(w.splitNodes, node)
				}
			}
		}
	}
	slices.Sort(w.splitNodes)
	if w.split > 0 {
		w.splitFor = last.Sub(first)
	}
	return w
}

func (a arpWindow) String() string {
	s := fmt.Sprintf("%d ARP requests, %d unanswered", a.rounds, a.silent)
	if a.split > 0 {
		s += fmt.Sprintf(", %d answered by %v over %s", a.split, a.splitNodes, msStr(a.splitFor))
	}
	return s
}

// macNode maps the MACs of hosts to their names.
func macNode(hosts []*netlab.Host) func(net.HardwareAddr) string {
	return func(mac net.HardwareAddr) string {
		for _, h := range hosts {
			if slices.Equal(h.MAC, mac) {
				return h.Name
			}
		}
		return mac.String()
	}
}
