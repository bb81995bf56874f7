package layer2

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/go-logr/logr/testr"
)

// TestRunReportsMissingInterface runs the real Announcer in the test's own
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
