package speaker

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/portico-lb/portico/speaker/membership"
)

// TestReady runs a real Membership on loopback (a fake client stands in for
// the API server) and checks that readiness follows whether membership runs,
// with or without memberlist, and whether an election has been applied.
func TestReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		// portTaken keeps memberlist from binding, so membership runs on
		// Leases alone (membership.ErrDegraded).
		portTaken bool
	}{
		{name: "memberlist runs"},
		{name: "Leases only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := l.Addr().(*net.TCPAddr).Port
			if tc.portTaken {
				defer l.Close()
			} else {
				l.Close()
			}
			m, err := membership.New(membership.Config{
				NodeName:  "node-1",
				BindAddr:  netip.MustParseAddr("127.0.0.1"),
				BindPort:  port,
				Namespace: "portico-speaker",
			}, fake.NewClientBuilder().Build(), logr.Discard())
			if err != nil {
				t.Fatal(err)
			}
			s := &Speaker{o: Options{Membership: m}}
			s.elected.Store(true) // Reconcile's part; checked below
			if err := s.Ready(nil); err == nil {
				t.Error("ready before membership runs")
			}

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- m.Run(ctx) }()
			// Run sets itself running at once; the bound only guards a hang.
			deadline := time.Now().Add(10 * time.Second)
			for s.Ready(nil) != nil && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if err := s.Ready(nil); err != nil {
				t.Errorf("not ready while membership runs: %v", err)
			}
			if degraded := errors.Is(m.Healthy(), membership.ErrDegraded); degraded != tc.portTaken {
				t.Errorf("membership degraded = %v, want %v (Healthy: %v)", degraded, tc.portTaken, m.Healthy())
			}
			s.elected.Store(false)
			if err := s.Ready(nil); err == nil {
				t.Error("ready before the first election")
			}
			s.elected.Store(true)

			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if err := s.Ready(nil); err == nil {
				t.Error("ready after membership stopped")
			}
		})
	}
}
