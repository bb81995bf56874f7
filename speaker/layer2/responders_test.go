package layer2

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr/testr"
)

// TestRunReportsMissingInterface runs the real Responders in the test's own
// namespace (listing links needs no privileges) with only a missing
// interface named, so no socket is ever opened.
func TestRunReportsMissingInterface(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(Config{}, testr.New(t))
		a.Set(map[netip.Addr][]string{vip4: {"pl2-missing0"}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		synctest.Wait() // first reconcile done, Run waits for the ticker

		err := a.Healthy()
		if err == nil || !strings.Contains(err.Error(), `interface "pl2-missing0": not found`) {
			t.Errorf("Healthy() = %v, want the missing interface named", err)
		}
		if err := a.Run(ctx); err == nil {
			t.Error("a second concurrent Run succeeded")
		}

		// Dropping the request clears the problem at once (Set kicks Run).
		a.Set(nil)
		synctest.Wait()
		if err := a.Healthy(); err != nil {
			t.Errorf("Healthy() after Set(nil) = %v", err)
		}

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
}

// TestStampRelinked: the quiet period after a flap runs from the scan that
// first saw the link usable again, whether or not anything was opened on it
// then; a responder opened later (say, when a hold-down ends) is not quiet.
func TestStampRelinked(t *testing.T) {
	start := time.Unix(1000, 0)
	up := link{name: "eth0", flags: net.FlagUp | net.FlagRunning, mac: []byte{2, 0, 0, 0, 0, 1}}
	down := up
	down.flags = net.FlagUp // no carrier
	relinked := map[string]time.Time{"eth0": {}}

	stampRelinked(relinked, map[string]link{"eth0": down}, start, 500*time.Millisecond)
	if back := relinked["eth0"]; !back.IsZero() {
		t.Fatalf("stamped %v while the link is down", back)
	}
	stampRelinked(relinked, map[string]link{"eth0": up}, start.Add(time.Second), 500*time.Millisecond)
	if back := relinked["eth0"]; !back.Equal(start.Add(time.Second)) {
		t.Fatalf("stamped %v, want the first scan that saw it up", back)
	}
	stampRelinked(relinked, map[string]link{"eth0": up}, start.Add(1200*time.Millisecond), 500*time.Millisecond)
	if _, ok := relinked["eth0"]; !ok {
		t.Fatal("forgotten before the delay passed")
	}
	stampRelinked(relinked, map[string]link{"eth0": up}, start.Add(2*time.Second), 500*time.Millisecond)
	if _, ok := relinked["eth0"]; ok {
		t.Fatal("still remembered after the delay passed")
	}
}
