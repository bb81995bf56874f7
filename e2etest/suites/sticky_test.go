package suites

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/portico-lb/portico/e2etest/cluster"
)

// startStickyCluster starts a cluster of its own whose speakers run with
// --sticky, stopped at the end of the test. The shared cluster's speakers
// run without it, and every speaker of a cluster must agree on the mode.
func startStickyCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	requireLab(t)
	dir, err := os.MkdirTemp("", "portico-e2e-sticky-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, SpeakerArgs: []string{"--sticky"}})
	if err != nil {
		t.Fatalf("starting the sticky cluster: %v (logs in %s)", err, dir)
	}
	t.Logf("sticky cluster up in %v: lab %s, LAN %s, logs in %s", time.Since(start).Round(time.Millisecond), c.Lab.Prefix, c.Lab.LANv4, dir)
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the sticky cluster: %v", err)
		}
		if t.Failed() || *keepLogs {
			t.Logf("sticky cluster logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return c
}

// TestStickyNoMoveBack: with --sticky, kill -9 of the announcing speaker
// moves the VIP once, and the node that comes back takes nothing back:
// after its hold-down, ARP, TCP and the Service's condition all still name
// the node the VIP moved to. When that node dies in turn, the VIP moves
// again, to one of the others.
func TestStickyNoMoveBack(t *testing.T) {
	c := startStickyCluster(t)
	f := setupOn(t, c, 0, nil)
	var pods []*cluster.Pod
	for _, h := range c.Lab.Nodes {
		pods = append(pods, f.pod(h.Name, "sticky-"+h.Name))
	}
	svc := f.service("web")
	f.expose(svc, pods...)
	vip := f.vip(svc)
	first := f.waitAnnouncer(svc, vip, 10*time.Second, nil)
	f.waitResolves(vip, first, 5*time.Second)

	// Who the condition names, as it changes, for the failure message.
	var history []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := first
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if n, err := f.announcedBy(svc, vip); err == nil && n != last {
				history = append(history, fmt.Sprintf("%s %q", time.Now().Format("15:04:05.000"), n))
				last = n
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
		if t.Failed() {
			t.Logf("the condition named, from %s on: %v", first, history)
		}
	}()

	// The first failure: the VIP moves to another node.
	if err := c.KillSpeaker(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := f.waitAnnouncer(svc, vip, failoverWithin, func(n string) bool { return n != first })
	f.waitResolves(vip, second, 5*time.Second)
	t.Logf("kill -9 of %s's speaker: %s moved to %s", first, vip, second)

	// The first node comes back; everyone counts it stable again, which
	// is when a rendezvous election would give the VIP back to it.
	cp := f.capture()
	if err := c.StartSpeaker(first); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	if err := c.WaitSettled(f.ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s's speaker back and settled after %v", first, time.Since(restarted).Round(time.Millisecond))
	asked, answered := f.probeFor(vip, 2*time.Second, 50*time.Millisecond)
	if answered == 0 {
		t.Fatalf("after the restore: none of %d ARP requests for %s answered", asked, vip)
	}
	f.onlyAnswerer(cp.For(vip, restarted), vip, second)
	if n, err := f.announcedBy(svc, vip); err != nil || n != second {
		t.Errorf("after the restore the condition names %q (%v); want %s, which still lives", n, err, second)
	}
	if via := f.ingressNode(f.dial(vip, 80)); via != second {
		t.Errorf("after the restore TCP to %s enters at %s; want %s", vip, via, second)
	}

	// The second failure: the VIP moves on, to a live node.
	if err := c.KillSpeaker(second, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	third := f.waitAnnouncer(svc, vip, failoverWithin, func(n string) bool { return n != second })
	f.waitResolves(vip, third, 5*time.Second)
	t.Logf("kill -9 of %s's speaker: %s moved to %s", second, vip, third)
}
