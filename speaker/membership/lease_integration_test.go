package membership

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// startLeaseNode runs a Membership built by New, the production path.
func startLeaseNode(t *testing.T, c client.Client, cfg Config) *node {
	t.Helper()
	m, err := New(cfg, c, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return runNode(t, m)
}

func getLease(t *testing.T, c client.Client, ns, node string) (*coordinationv1.Lease, error) {
	t.Helper()
	var l coordinationv1.Lease
	err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: leaseName(node)}, &l)
	return &l, err
}

// TestLeaseDiscovery: three speakers that know nothing but the namespace
// find each other through their Leases, and the Leases say where they are.
func TestLeaseDiscovery(t *testing.T) {
	c, ns := needAPIServer(t)
	createNodes(t, c, "n1", "n2", "n3")
	var nodes []*node
	var want []peer
	for i, name := range []string{"n1", "n2", "n3"} {
		addr := netip.AddrFrom4([4]byte{127, 0, 3, byte(i + 1)})
		cfg := Config{
			NodeName:  name,
			BindAddr:  addr,
			BindPort:  freePort(t, addr),
			Namespace: ns,
			Subnets: []netip.Prefix{
				netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 30, byte(i), 0}), 24),
				netip.MustParsePrefix("fd00:30::/64"),
			},
		}
		nodes = append(nodes, startLeaseNode(t, c, cfg))
		want = append(want, peer{Name: name, Addr: netip.AddrPortFrom(addr, uint16(cfg.BindPort)), Subnets: cfg.Subnets})
	}
	firstHeld(t, nodes, 15*time.Second, "n1, n2 and n3 alive", hasExactly("n1", "n2", "n3"))
	for _, n := range nodes {
		got, _ := find(n.m.Alive(), "n2")
		if diff := cmp.Diff(Member{Name: "n2", Addr: want[1].Addr, Subnets: want[1].Subnets}, got, netipCmp, cmpopts.IgnoreFields(Member{}, "Stable")); diff != "" {
			t.Errorf("%s's view of n2 (-want +got):\n%s", n.cfg.NodeName, diff)
		}
	}

	var list coordinationv1.LeaseList
	if err := c.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/component": "speaker"}); err != nil {
		t.Fatal(err)
	}
	var got []peer
	for i := range list.Items {
		p, err := decodeLease(&list.Items[i])
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(p.Renewed) > 15*time.Second {
			t.Errorf("lease of %s renewed at %v", p.Name, p.Renewed)
		}
		got = append(got, p)
	}
	if diff := cmp.Diff(want, got, netipCmp, cmpopts.IgnoreFields(peer{}, "Renewed")); diff != "" {
		t.Errorf("leases (-want +got):\n%s", diff)
	}

	// A graceful stop deletes the Lease, and the others drop the node.
	nodes[2].stop(t)
	if _, err := getLease(t, c, ns, "n3"); !apierrors.IsNotFound(err) {
		t.Errorf("n3's lease after it stopped: %v, want NotFound", err)
	}
	firstHeld(t, nodes[:2], waitLimit, "n3 gone", lacks("n3"))
}

// TestLeaseFallback: a speaker whose memberlist port is taken runs on
// Leases. It and a normal speaker see each other, Lease-only members come
// and go with their Leases, and a stale Lease counts for nothing.
func TestLeaseFallback(t *testing.T) {
	c, ns := needAPIServer(t)
	createNodes(t, c, "f", "g", "ghost", "stale")
	addrF, addrG := netip.MustParseAddr("127.0.4.1"), netip.MustParseAddr("127.0.4.2")
	portF := freePort(t, addrF)
	release := listenBoth(t, netip.AddrPortFrom(addrF, uint16(portF)))
	defer release()
	subnetsF := []netip.Prefix{netip.MustParsePrefix("10.40.1.0/24")}
	timers := Config{Namespace: ns, HoldDown: -1, LeaseDuration: 2 * time.Second, RenewInterval: 300 * time.Millisecond}

	cfgF := timers
	cfgF.NodeName, cfgF.BindAddr, cfgF.BindPort, cfgF.Subnets = "f", addrF, portF, subnetsF
	f := startLeaseNode(t, c, cfgF)
	cfgG := timers
	cfgG.NodeName, cfgG.BindAddr, cfgG.BindPort = "g", addrG, freePort(t, addrG)
	g := startLeaseNode(t, c, cfgG)

	if err := f.m.Healthy(); !errors.Is(err, ErrDegraded) {
		t.Errorf("f: Healthy = %v, want ErrDegraded", err)
	}
	if err := g.m.Healthy(); err != nil {
		t.Errorf("g: Healthy = %v", err)
	}
	firstHeld(t, []*node{f, g}, waitLimit, "f and g", hasExactly("f", "g"))
	if l, err := getLease(t, c, ns, "f"); err != nil || l.Annotations[annotationAddr] != "" {
		t.Errorf("f's lease advertises a memberlist address without memberlist: %v %v", l.Annotations, err)
	}
	// g judges f by its Lease: no memberlist address, subnets from the Lease.
	if got, _ := find(g.m.Alive(), "f"); got.Addr.IsValid() || !cmp.Equal(got.Subnets, subnetsF, netipCmp) {
		t.Errorf("g's view of f: %+v", got)
	}

	// A Lease that nobody renews: alive while fresh, then gone. A Lease
	// that was stale from the start never counts.
	ghost := &coordinationv1.Lease{}
	ghost.Namespace = ns
	encodeLease(ghost, peer{Name: "ghost"}, 2*time.Second, time.Now())
	stale := &coordinationv1.Lease{}
	stale.Namespace = ns
	encodeLease(stale, peer{Name: "stale"}, 2*time.Second, time.Now().Add(-time.Minute))
	// A fresh Lease of a name that is no Node never counts either.
	nonode := &coordinationv1.Lease{}
	nonode.Namespace = ns
	encodeLease(nonode, peer{Name: "nonode"}, time.Minute, time.Now())
	for _, l := range []*coordinationv1.Lease{ghost, stale, nonode} {
		if err := c.Create(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	firstHeld(t, []*node{f, g}, waitLimit, "ghost alive", hasExactly("f", "g", "ghost"))
	firstHeld(t, []*node{f, g}, waitLimit, "ghost expired", hasExactly("f", "g"))

	// g stops: its Lease goes and f drops it at the next listing.
	g.stop(t)
	firstHeld(t, []*node{f}, waitLimit, "g gone", hasExactly("f"))

	// A Lease with garbage does not hide the others.
	bad := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: leaseName("h"), Labels: leaseLabels()}}
	if err := c.Create(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * timers.RenewInterval)
	if got := names(f.m.Alive()); !cmp.Equal(got, []string{"f"}) {
		t.Errorf("f sees %v after a bad Lease appeared", got)
	}
}
