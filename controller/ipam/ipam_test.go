package ipam

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/controller/allocator"
)

func pool(name string, addrs ...string) v1beta1.IPAddressPool {
	return v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1beta1.IPAddressPoolSpec{Addresses: addrs}}
}

func newIPAM(t testing.TB, pools ...v1beta1.IPAddressPool) *IPAM {
	t.Helper()
	m := New(allocator.New(allocator.Options{Rand: rand.New(rand.NewPCG(1, 2))}))
	cfg, problems := config.For(config.ClusterResources{Pools: pools})
	for _, p := range problems {
		if !p.Warning {
			t.Fatalf("config problem: %v", p)
		}
	}
	m.SetConfig(cfg, problems)
	return m
}

func req(key string, opts ...func(*Request)) Request {
	r := Request{Owner: allocator.Owner{Key: key, Ports: []allocator.Port{{Protocol: "TCP", Port: 80}}},
		Info: config.ServiceInfo{Namespace: "ns"}, Families: []bool{false}, RequireAll: true}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func requesting(ips ...string) func(*Request) {
	return func(r *Request) {
		for _, s := range ips {
			r.Requested = append(r.Requested, netip.MustParseAddr(s))
		}
	}
}

func families(requireAll bool, fams ...bool) func(*Request) {
	return func(r *Request) { r.Families, r.RequireAll = fams, requireAll }
}

func TestDecide(t *testing.T) {
	v4 := pool("v4", "192.0.2.0/30")
	v6 := pool("v6", "2001:db8::/126")
	off := pool("off", "198.51.100.0/30")
	off.Spec.AutoAssign = ptr.To(false)
	tests := []struct {
		name       string
		pools      []v1beta1.IPAddressPool
		before     []Request // decided first, must succeed
		req        Request
		wantReason string
		wantAddrs  []string // empty: only check count of families
		wantCount  int
	}{
		{name: "auto v4", pools: []v1beta1.IPAddressPool{v4}, req: req("ns/a"), wantReason: v1beta1.ReasonAssigned, wantCount: 1},
		{name: "auto v6", pools: []v1beta1.IPAddressPool{v4, v6}, req: req("ns/a", families(true, true)), wantReason: v1beta1.ReasonAssigned, wantCount: 1},
		{name: "dual stack", pools: []v1beta1.IPAddressPool{v4, v6}, req: req("ns/a", families(true, false, true)), wantReason: v1beta1.ReasonAssigned, wantCount: 2},
		{name: "require dual stack without v6", pools: []v1beta1.IPAddressPool{v4}, req: req("ns/a", families(true, false, true)), wantReason: v1beta1.ReasonNoPoolMatches},
		{name: "prefer dual stack without v6", pools: []v1beta1.IPAddressPool{v4}, req: req("ns/a", families(false, false, true)), wantReason: v1beta1.ReasonAssigned, wantCount: 1},
		{name: "no pools", req: req("ns/a"), wantReason: v1beta1.ReasonNoPoolMatches},
		{name: "autoAssign false skipped", pools: []v1beta1.IPAddressPool{off}, req: req("ns/a"), wantReason: v1beta1.ReasonNoPoolMatches},
		{name: "autoAssign false by name", pools: []v1beta1.IPAddressPool{off}, req: req("ns/a", func(r *Request) { r.Pool = "off" }), wantReason: v1beta1.ReasonAssigned, wantCount: 1},
		{name: "named pool missing", pools: []v1beta1.IPAddressPool{v4}, req: req("ns/a", func(r *Request) { r.Pool = "nope" }), wantReason: v1beta1.ReasonNoPoolMatches},
		{name: "requested free", pools: []v1beta1.IPAddressPool{v4}, req: req("ns/a", requesting("192.0.2.2")), wantReason: v1beta1.ReasonAssigned, wantAddrs: []string{"192.0.2.2"}},
		{name: "requested taken", pools: []v1beta1.IPAddressPool{v4}, before: []Request{req("ns/b", requesting("192.0.2.2"))}, req: req("ns/a", requesting("192.0.2.2")), wantReason: v1beta1.ReasonRequestedIPTaken},
		{name: "requested outside pools", pools: []v1beta1.IPAddressPool{v4}, req: req("ns/a", requesting("203.0.113.9")), wantReason: v1beta1.ReasonRequestedIPNotInAnyPool},
		{name: "requested wrong family", pools: []v1beta1.IPAddressPool{v4, v6}, req: req("ns/a", requesting("2001:db8::1")), wantReason: v1beta1.ReasonWrongFamily},
		{name: "requested two of one family", pools: []v1beta1.IPAddressPool{v4}, req: req("ns/a", requesting("192.0.2.1", "192.0.2.2")), wantReason: v1beta1.ReasonInvalidRequest},
		{name: "requested one of two required", pools: []v1beta1.IPAddressPool{v4, v6}, req: req("ns/a", families(true, false, true), requesting("192.0.2.1")), wantReason: v1beta1.ReasonInvalidRequest},
		{name: "requested dual", pools: []v1beta1.IPAddressPool{v4, v6}, req: req("ns/a", families(true, false, true), requesting("192.0.2.1", "2001:db8::2")), wantReason: v1beta1.ReasonAssigned, wantAddrs: []string{"192.0.2.1", "2001:db8::2"}},
		{name: "requested in other pool than named", pools: []v1beta1.IPAddressPool{v4, off}, req: req("ns/a", requesting("192.0.2.1"), func(r *Request) { r.Pool = "off" }), wantReason: v1beta1.ReasonRequestedIPNotAllowed},
		{
			name:  "exhausted",
			pools: []v1beta1.IPAddressPool{pool("one", "192.0.2.7/32")}, before: []Request{req("ns/b")},
			req: req("ns/a"), wantReason: v1beta1.ReasonPoolExhausted,
		},
		{
			name:   "shared with same key, other port",
			pools:  []v1beta1.IPAddressPool{v4},
			before: []Request{req("ns/b", requesting("192.0.2.1"), func(r *Request) { r.Owner.SharingKey = "k" })},
			req: req("ns/a", requesting("192.0.2.1"), func(r *Request) {
				r.Owner.SharingKey = "k"
				r.Owner.Ports = []allocator.Port{{Protocol: "UDP", Port: 80}}
			}),
			wantReason: v1beta1.ReasonAssigned, wantAddrs: []string{"192.0.2.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newIPAM(t, tt.pools...)
			for _, b := range tt.before {
				if d, _ := m.Decide(b); !d.Assigned {
					t.Fatalf("setup %s: %s: %s", b.Owner.Key, d.Reason, d.Message)
				}
			}
			d, _ := m.Decide(tt.req)
			if d.Reason != tt.wantReason {
				t.Fatalf("reason = %s (%s), want %s", d.Reason, d.Message, tt.wantReason)
			}
			if d.Message == "" {
				t.Error("empty message")
			}
			if tt.wantAddrs != nil {
				var got []string
				for _, a := range d.Addrs {
					got = append(got, a.String())
				}
				if diff := cmp.Diff(tt.wantAddrs, got); diff != "" {
					t.Errorf("addresses (-want +got):\n%s", diff)
				}
			} else if len(d.Addrs) != tt.wantCount {
				t.Errorf("got %v, want %d addresses", d.Addrs, tt.wantCount)
			}
			if !d.Assigned {
				if len(m.alloc.Addresses(tt.req.Owner.Key)) != 0 {
					t.Errorf("pending Service still holds %v", m.alloc.Addresses(tt.req.Owner.Key))
				}
				if pending := m.Pending(); len(pending) != 1 || pending[0] != tt.req.Owner.Key {
					t.Errorf("Pending() = %v, want [%s]", pending, tt.req.Owner.Key)
				}
			}
		})
	}
}

func TestDecideKeepsAndMovesHeldAddresses(t *testing.T) {
	a, b := pool("a", "192.0.2.0/29"), pool("b", "198.51.100.0/29")
	m := newIPAM(t, a, b)
	r := req("ns/web", func(r *Request) { r.Pool = "a" })
	first, _ := m.Decide(r)
	if !first.Assigned {
		t.Fatal(first.Message)
	}
	// Deciding again keeps the address.
	again, eff := m.Decide(r)
	if !cmp.Equal(first.Addrs, again.Addrs, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })) || eff.Freed {
		t.Fatalf("second decision %v (freed %v), want %v kept", again.Addrs, eff.Freed, first.Addrs)
	}
	// Naming another pool moves it and frees the old one.
	r.Pool = "b"
	moved, eff := m.Decide(r)
	if !moved.Assigned || moved.Pools[0] != "b" || !eff.Freed {
		t.Fatalf("after naming pool b: %+v freed=%v", moved, eff.Freed)
	}
	// Deleting pool b from the configuration moves the Service back to a.
	cfg, _ := config.For(config.ClusterResources{Pools: []v1beta1.IPAddressPool{a}})
	m.SetConfig(cfg, nil)
	r.Pool = ""
	back, _ := m.Decide(r)
	if !back.Assigned || back.Pools[0] != "a" {
		t.Fatalf("after pool b deleted: %+v", back)
	}
	if got := m.Usage("a").AssignedV4; got != 1 {
		t.Errorf("pool a assigned = %d, want 1", got)
	}
}

func TestRestoreDuplicateKeepsStatus(t *testing.T) {
	m := newIPAM(t, pool("a", "192.0.2.0/29"))
	ip := netip.MustParseAddr("192.0.2.3")
	if err := m.Restore(req("ns/first"), []netip.Addr{ip}); err != nil {
		t.Fatal(err)
	}
	if err := m.Restore(req("ns/second"), []netip.Addr{ip}); err == nil {
		t.Fatal("second Restore of one address succeeded")
	}
	d, _ := m.Decide(req("ns/second"))
	if !d.LeaveStatus || d.Reason != v1beta1.ReasonDuplicateIP {
		t.Fatalf("duplicate decision %+v, want LeaveStatus with DuplicateIP", d)
	}
	// Once the first holder lets go, the duplicate resolves to that address.
	m.Forget("ns/first")
	d, _ = m.Decide(req("ns/second"))
	if !d.Assigned || d.Addrs[0] != ip {
		t.Fatalf("after the other holder left: %+v", d)
	}
}

func TestForgetRetriesPending(t *testing.T) {
	m := newIPAM(t, pool("one", "192.0.2.7/32"))
	if d, _ := m.Decide(req("ns/a")); !d.Assigned {
		t.Fatal(d.Message)
	}
	if d, _ := m.Decide(req("ns/b")); d.Assigned {
		t.Fatal("b assigned from a full pool")
	}
	if !m.Forget("ns/a") {
		t.Fatal("Forget reported nothing freed")
	}
	if diff := cmp.Diff([]string{"ns/b"}, m.Pending()); diff != "" {
		t.Fatalf("Pending (-want +got):\n%s", diff)
	}
	if d, _ := m.Decide(req("ns/b")); !d.Assigned {
		t.Fatalf("b after a released: %s", d.Message)
	}
	if len(m.Pending()) != 0 {
		t.Errorf("Pending() = %v after b assigned", m.Pending())
	}
}
