package membership

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestLeaseSourceFake covers the Lease calls against controller-runtime's
// fake client, so the unit tier checks them without an API server; the
// Lease tests in lease_integration_test.go repeat the story for real.
func TestLeaseSourceFake(t *testing.T) {
	ctx := context.Background()
	other := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "unrelated"}}
	n1 := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(other, n1).Build()
	s := &leaseSource{c: c, namespace: "ns", duration: 15 * time.Second, log: testLogger(t)}

	self := peer{Name: "n1", Addr: netip.MustParseAddrPort("192.0.2.1:7946"), Subnets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	if err := s.publish(ctx, self); err != nil {
		t.Fatalf("create: %v", err)
	}
	first, err := s.peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // MicroTime: let the renewal time move
	self.Addr = netip.MustParseAddrPort("192.0.2.1:7947")
	if err := s.publish(ctx, self); err != nil {
		t.Fatalf("renew: %v", err)
	}
	got, err := s.peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]peer{self}, got, netipCmp, cmpopts.IgnoreFields(peer{}, "Renewed")); diff != "" {
		t.Errorf("peers (-want +got):\n%s", diff)
	}
	if len(first) != 1 || !got[0].Renewed.After(first[0].Renewed) {
		t.Errorf("renewal did not move the renew time: %v then %v", first, got)
	}

	// A Lease of a name that is no Node is listed, marked: it admits
	// nobody (see admission.go).
	ghost := peer{Name: "ghost", Addr: netip.MustParseAddrPort("192.0.2.9:7946")}
	if err := s.publish(ctx, ghost); err != nil {
		t.Fatal(err)
	}
	got, err = s.peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ghost.NotNode = true
	if diff := cmp.Diff([]peer{ghost, self}, got, netipCmp, cmpopts.IgnoreFields(peer{}, "Renewed")); diff != "" {
		t.Errorf("peers with a Lease of no Node (-want +got):\n%s", diff)
	}
	if err := s.withdraw(ctx, "ghost"); err != nil {
		t.Fatal(err)
	}

	if err := s.withdraw(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := s.withdraw(ctx, "n1"); err != nil {
		t.Errorf("withdrawing twice: %v", err)
	}
	if got, err := s.peers(ctx); err != nil || len(got) != 0 {
		t.Errorf("after withdraw: %v, %v", got, err)
	}
}

// TestNewRejects covers what New checks beyond Config.validate.
func TestNewRejects(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	ok := Config{NodeName: "n", BindAddr: netip.MustParseAddr("192.0.2.1"), Namespace: "ns"}
	if _, err := New(ok, c, testLogger(t)); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	noNS := ok
	noNS.Namespace = ""
	if _, err := New(noNS, c, testLogger(t)); err == nil {
		t.Error("no error without a namespace")
	}
	if _, err := New(ok, nil, testLogger(t)); err == nil {
		t.Error("no error without a client")
	}
}

// flakySource serves records renewed "just now" until it is told to fail,
// as an API server that goes away would.
type flakySource struct {
	mu   sync.Mutex
	recs []peer
	down atomic.Bool
}

var _ peerSource = (*flakySource)(nil)

func (s *flakySource) publish(context.Context, peer) error    { return s.err() }
func (s *flakySource) withdraw(context.Context, string) error { return s.err() }
func (s *flakySource) peers(context.Context) ([]peer, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]peer, len(s.recs))
	for i, p := range s.recs {
		p.Renewed = time.Now()
		out[i] = p
	}
	return out, nil
}

func (s *flakySource) err() error {
	if s.down.Load() {
		return errors.New("connection refused")
	}
	return nil
}

// TestAPIServerOutageMovesNothing: on Leases alone (memberlist cannot
// bind), losing the API server freezes the view instead of letting every
// record go stale.
func TestAPIServerOutageMovesNothing(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	port := freePort(t, addr)
	defer listenBoth(t, netip.AddrPortFrom(addr, uint16(port)))()
	src := &flakySource{recs: []peer{{Name: "x"}, {Name: "y"}}}
	n := startNode(t, Config{NodeName: "x", BindAddr: addr, BindPort: port, HoldDown: -1,
		LeaseDuration: time.Second, RenewInterval: 100 * time.Millisecond}, src)
	await(t, n.m, waitLimit, "x and y", hasExactly("x", "y"))

	src.down.Store(true)
	time.Sleep(3 * time.Second) // three lease durations without a listing
	if got := names(n.m.Alive()); !cmp.Equal(got, []string{"x", "y"}) {
		t.Errorf("alive during the outage: %v", got)
	}
	if err := n.m.Healthy(); err == nil || !errors.Is(err, ErrDegraded) {
		t.Errorf("Healthy = %v", err)
	}
	src.mu.Lock()
	src.recs = src.recs[:1] // y went away during the outage
	src.mu.Unlock()
	src.down.Store(false)
	await(t, n.m, waitLimit, "y gone after the outage", hasExactly("x"))
}
