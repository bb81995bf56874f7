package allocator_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portico-lb/portico/controller/allocator"
)

func TestSharingRules(t *testing.T) {
	shared := ip("192.0.2.20")
	withBackend := func(o allocator.Owner, b string) allocator.Owner { o.BackendKey = b; return o }
	tests := []struct {
		name   string
		first  allocator.Owner
		second allocator.Owner
		want   *allocator.ConflictError // nil: sharing allowed
	}{
		{
			name:   "same key, different ports",
			first:  sharer("ns/a", "k", "TCP/80", "TCP/443"),
			second: sharer("ns/b", "k", "UDP/53", "TCP/8080"),
		},
		{
			name:   "same port number, different protocol",
			first:  sharer("ns/a", "k", "TCP/53"),
			second: sharer("ns/b", "k", "UDP/53"),
		},
		{
			name:   "same key, no ports",
			first:  sharer("ns/a", "k"),
			second: sharer("ns/b", "k"),
		},
		{
			name:   "same local backends",
			first:  withBackend(sharer("ns/a", "k", "TCP/80"), "local:app=web"),
			second: withBackend(sharer("ns/b", "k", "TCP/81"), "local:app=web"),
		},
		{
			name:   "port clash",
			first:  sharer("ns/a", "k", "TCP/80"),
			second: sharer("ns/b", "k", "UDP/53", "TCP/80"),
			want:   &allocator.ConflictError{IP: shared, Holders: []string{"ns/a"}, Reason: "port TCP/80 already used by ns/a"},
		},
		{
			name:   "different sharing keys",
			first:  sharer("ns/a", "k1", "TCP/80"),
			second: sharer("ns/b", "k2", "TCP/81"),
			want:   &allocator.ConflictError{IP: shared, Holders: []string{"ns/a"}, Reason: `sharing key "k2" differs from ns/a's "k1"`},
		},
		{
			name:   "holder does not share",
			first:  exclusive("ns/a"),
			second: sharer("ns/b", "k", "TCP/81"),
			want:   &allocator.ConflictError{IP: shared, Holders: []string{"ns/a"}, Reason: "held by ns/a, which does not share"},
		},
		{
			name:   "asker does not share",
			first:  sharer("ns/a", "k", "TCP/80"),
			second: exclusive("ns/b"),
			want:   &allocator.ConflictError{IP: shared, Holders: []string{"ns/a"}, Reason: "held by ns/a, and ns/b does not share (no sharing key)"},
		},
		{
			name:   "different backends",
			first:  withBackend(sharer("ns/a", "k", "TCP/80"), "local:app=web"),
			second: sharer("ns/b", "k", "TCP/81"),
			want: &allocator.ConflictError{IP: shared, Holders: []string{"ns/a"},
				Reason: "backends differ from ns/a's (sharing needs the same traffic policy and selector)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Assign and Restore apply the same rule.
			for _, method := range []string{"Assign", "Restore"} {
				a := newAlloc(1, pool(t, "p", false, "192.0.2.0/24"))
				if _, err := a.Assign(tt.first, shared, []string{"p"}); err != nil {
					t.Fatal(err)
				}
				var err error
				if method == "Assign" {
					_, err = a.Assign(tt.second, shared, []string{"p"})
				} else {
					err = a.Restore(tt.second, shared)
				}
				var got *allocator.ConflictError
				if err != nil && !errors.As(err, &got) {
					t.Fatalf("%s: err = %v, want a *ConflictError", method, err)
				}
				if diff := cmp.Diff(tt.want, got, addrCmp); diff != "" {
					t.Errorf("%s: conflict (-want +got):\n%s", method, diff)
				}
				if got != nil && !errors.Is(err, allocator.ErrInUse) {
					t.Errorf("%s: %v does not wrap ErrInUse", method, err)
				}
				wantHeld := 2
				if tt.want != nil {
					wantHeld = 1
				}
				if n := a.Usage("p").AssignedV4; n != 1 {
					t.Errorf("%s: AssignedV4 = %d, want the shared address counted once", method, n)
				}
				if n := len(a.Addresses(tt.first.Key)) + len(a.Addresses(tt.second.Key)); n != wantHeld {
					t.Errorf("%s: %d holdings, want %d", method, n, wantHeld)
				}
			}
		})
	}
}

func TestConflictErrorMessage(t *testing.T) {
	a := newAlloc(1, pool(t, "p", false, "192.0.2.0/24"))
	for _, o := range []allocator.Owner{sharer("ns/b", "k", "TCP/80"), sharer("ns/a", "k", "TCP/81")} {
		if _, err := a.Assign(o, ip("192.0.2.9"), []string{"p"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := a.Assign(sharer("ns/c", "k", "TCP/80"), ip("192.0.2.9"), []string{"p"})
	const want = "allocator: 192.0.2.9 is in use: port TCP/80 already used by ns/b"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	var ce *allocator.ConflictError
	if errors.As(err, &ce); !cmp.Equal(ce.Holders, []string{"ns/a", "ns/b"}) {
		t.Errorf("Holders = %q, want both holders sorted", ce.Holders)
	}
}

// TestAllocateReusesSharedIP checks that Allocate with a sharing key joins an
// address already held under that key, when it fits.
func TestAllocateReusesSharedIP(t *testing.T) {
	a := newAlloc(1,
		pool(t, "p", false, "192.0.2.0/24", "2001:db8::/64"),
		pool(t, "q", false, "198.51.100.0/24"),
	)
	got := map[string]netip.Addr{}
	steps := []struct {
		owner allocator.Owner
		pools []string
		is6   bool
		reuse string // key of the owner whose address must be reused; "" = a fresh one
	}{
		{owner: sharer("ns/web", "k", "TCP/80"), pools: []string{"p"}},
		{owner: sharer("ns/dns", "k", "UDP/53"), pools: []string{"p"}, reuse: "ns/web"},
		{owner: sharer("ns/dns2", "k", "UDP/53"), pools: []string{"p"}},          // port clash
		{owner: sharer("ns/other", "k2", "TCP/81"), pools: []string{"p"}},        // other key
		{owner: sharer("ns/v6", "k", "TCP/81"), pools: []string{"p"}, is6: true}, // other family
		{owner: sharer("ns/q", "k", "TCP/82"), pools: []string{"q"}},             // pool not allowed
		// Among shared candidates the pool order decides.
		{owner: sharer("ns/q2", "k", "TCP/83"), pools: []string{"q", "p"}, reuse: "ns/q"},
		// A shared address that fits beats a free one in a preferred pool;
		// TCP/83 rules out ns/q's address and TCP/80 ns/web's.
		{owner: sharer("ns/p2", "k", "TCP/83", "TCP/80"), pools: []string{"q", "p"}, reuse: "ns/dns2"},
	}
	for _, s := range steps {
		addr, p, err := a.Allocate(s.owner, s.pools, s.is6)
		if err != nil {
			t.Fatalf("%s: %v", s.owner.Key, err)
		}
		got[s.owner.Key] = addr
		if s.reuse != "" && addr != got[s.reuse] {
			t.Errorf("%s: got %s from pool %q, want %s's %s", s.owner.Key, addr, p, s.reuse, got[s.reuse])
		}
		if s.reuse == "" {
			for k, other := range got {
				if k != s.owner.Key && other == addr {
					t.Errorf("%s: got %s, already held by %s; want a fresh address", s.owner.Key, addr, k)
				}
			}
		}
	}
	if diff := cmp.Diff(allocator.Usage{AssignedV4: 3, AssignedV6: 1, AvailableV4: 253, AvailableV6: ^uint64(0)}, a.Usage("p")); diff != "" {
		t.Errorf("Usage (-want +got):\n%s", diff)
	}
	// The address stays held while any sharer holds it.
	web := got["ns/web"]
	for _, k := range []string{"ns/web", "ns/dns"} {
		if _, err := a.Assign(exclusive("ns/x"), web, []string{"p"}); !errors.Is(err, allocator.ErrInUse) {
			t.Fatalf("before releasing %s: err = %v, want ErrInUse", k, err)
		}
		a.Release(k)
	}
	if _, err := a.Assign(exclusive("ns/x"), web, []string{"p"}); err != nil {
		t.Errorf("after every sharer left: %v", err)
	}
	if diff := cmp.Diff([]netip.Addr{web}, a.Addresses("ns/x"), addrCmp); diff != "" {
		t.Errorf("Addresses (-want +got):\n%s", diff)
	}
}

// TestSharedAvoidedNotReused: a restored .0 address is kept for its owners
// but Allocate does not hand it to a new sharer of an avoiding pool.
func TestSharedAvoidedNotReused(t *testing.T) {
	a := newAlloc(1, pool(t, "p", true, "192.0.2.0/24"))
	if err := a.Restore(sharer("ns/a", "k", "TCP/80"), ip("192.0.2.0")); err != nil {
		t.Fatal(err)
	}
	got, _, err := a.Allocate(sharer("ns/b", "k", "TCP/81"), []string{"p"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got == ip("192.0.2.0") {
		t.Errorf("Allocate shared the avoided address %s", got)
	}
}
