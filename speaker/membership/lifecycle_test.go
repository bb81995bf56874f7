package membership

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"
)

// newTestLifecycle creates a lifecycle for node name with a real
// memberlist on loopback address 127.0.0.<host>, gossiping every gossip
// (0: the default).
func newTestLifecycle(t *testing.T, name string, host byte, gossip time.Duration) *lifecycle {
	t.Helper()
	addr := netip.AddrFrom4([4]byte{127, 0, 9, host})
	cfg := setConfigDefaults(Config{NodeName: name, BindAddr: addr, BindPort: freePort(t, addr), GossipInterval: gossip})
	mlc, err := memberlistConfig(cfg, newView(name, 0, newMetrics(func() float64 { return 0 }), logr.Discard()), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	l := &lifecycle{}
	if err := l.begin(); err != nil {
		t.Fatal(err)
	}
	if err := l.create(mlc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.shutdown() })
	return l
}

// TestLifecycleOrder: memberlist panics on a Leave after Shutdown, and a
// speaker that left or shut memberlist down must join no one. The
// lifecycle keeps both rules whatever order its callers use.
func TestLifecycleOrder(t *testing.T) {
	lent := func(l *lifecycle) bool {
		ok := false
		l.use(func(*memberlist.Memberlist) { ok = true })
		return ok
	}

	if err := (&lifecycle{}).leave(time.Second); err != nil {
		t.Errorf("leave before memberlist exists: %v", err)
	}
	if lent(&lifecycle{}) {
		t.Error("lent out a memberlist that does not exist")
	}

	l := newTestLifecycle(t, "a", 1, 0)
	if !lent(l) {
		t.Fatal("running memberlist not lent out")
	}
	if err := l.begin(); !errors.Is(err, errRunTwice) {
		t.Errorf("second begin = %v, want %v", err, errRunTwice)
	}
	if err := l.shutdown(); err != nil {
		t.Fatal(err)
	}
	if lent(l) {
		t.Error("lent out memberlist after shutdown")
	}
	if err := l.shutdown(); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
	if err := l.leave(time.Second); err != nil { // would panic in memberlist
		t.Errorf("leave after shutdown: %v", err)
	}

	l = newTestLifecycle(t, "a", 1, 0)
	if !l.markLeft() || l.markLeft() {
		t.Error("markLeft did not report the first call alone")
	}
	if lent(l) {
		t.Error("lent out memberlist after this speaker left")
	}
	if err := l.leave(time.Second); err != nil {
		t.Fatal(err)
	}
	if running, noML := l.status(); !running || noML != nil {
		t.Errorf("status after leave = %v, %v; want running with memberlist", running, noML)
	}
	l.end()
	if running, _ := l.status(); running {
		t.Error("status after end says running")
	}
}

// TestLifecycleShutdownDuringLeave: Run's context ends while a Leave
// (on SIGTERM) waits for memberlist to broadcast it. shutdown waits for the
// Leave, so the broadcast goes out; a Shutdown in the middle would stop the
// gossip, and the peers would have to detect a failure instead.
func TestLifecycleShutdownDuringLeave(t *testing.T) {
	// A slow gossip tick keeps the leave broadcast waiting long enough
	// for shutdown to come in the middle of it.
	const gossip = 500 * time.Millisecond
	a := newTestLifecycle(t, "a", 1, gossip)
	b := newTestLifecycle(t, "b", 2, gossip)
	var joinErr error
	b.use(func(ml *memberlist.Memberlist) {
		_, joinErr = ml.Join([]string{a.list.LocalNode().FullAddress().Addr})
	})
	if joinErr != nil {
		t.Fatal(joinErr)
	}
	leaveErr := make(chan error, 1)
	go func() { leaveErr <- b.leave(5 * gossip) }()
	time.Sleep(gossip / 10) // the leave is under way
	if err := b.shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := <-leaveErr; err != nil {
		t.Errorf("leave with a shutdown in the middle: %v", err)
	}
}

// recordingSource is a peer source whose publish blocks until its context
// ends, and which records the calls in order.
type recordingSource struct {
	staticPeers
	mu    sync.Mutex
	calls []string
}

func (s *recordingSource) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *recordingSource) publish(ctx context.Context, _ peer) error {
	s.record("publish")
	<-ctx.Done()
	s.record("publish returns")
	return ctx.Err()
}

func (s *recordingSource) withdraw(context.Context, string) error {
	s.record("withdraw")
	return nil
}

// TestRegistryWithdrawAfterPublish: a renewal under way when the speaker
// leaves is aborted at once, and the record is withdrawn only after it
// returned, so the renewal cannot bring the record back; no renewal starts
// afterwards.
func TestRegistryWithdrawAfterPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const renew = time.Minute
		src := &recordingSource{}
		r := newRegistry(src, "a", logr.Discard())
		go r.publish(context.Background(), peer{Name: "a"}, renew)
		synctest.Wait() // publish is blocked in the source

		start := time.Now()
		if err := r.withdraw(context.Background()); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took >= renew {
			t.Errorf("withdraw took %v: it waited for the renewal to time out instead of aborting it", took)
		}
		r.publish(context.Background(), peer{Name: "a"}, renew)
		if err := r.withdraw(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		src.mu.Lock()
		defer src.mu.Unlock()
		if want := []string{"publish", "publish returns", "withdraw"}; !slices.Equal(src.calls, want) {
			t.Errorf("calls = %v, want %v", src.calls, want)
		}
	})
}
