package allocator_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portico-lb/portico/controller/allocator"
)

// TestKeep: a holder whose spec changed keeps its address only while it may
// still share it; when two holders disagree, the one that joined first wins.
func TestKeep(t *testing.T) {
	shared := ip("192.0.2.20")
	withBackend := func(o allocator.Owner, b string) allocator.Owner { o.BackendKey = b; return o }
	tests := []struct {
		name string
		// holders join shared in this order.
		holders []allocator.Owner
		// edited is the new spec of one holder, judged by Keep.
		edited      allocator.Owner
		wantErr     error // nil: kept
		wantReason  string
		wantEvicted []allocator.Eviction
		wantHolders map[string]bool // who holds shared afterwards
	}{
		{
			name:        "later holder edited to a clashing port moves",
			holders:     []allocator.Owner{sharer("a/a", "k", "TCP/80"), sharer("b/b", "k", "TCP/443")},
			edited:      sharer("b/b", "k", "TCP/80"),
			wantErr:     allocator.ErrInUse,
			wantReason:  "port TCP/80 already used by a/a",
			wantHolders: map[string]bool{"a/a": true},
		},
		{
			name:    "first holder edited to a clashing port keeps, the later one is evicted",
			holders: []allocator.Owner{sharer("b/b", "k", "TCP/80"), sharer("a/a", "k", "TCP/443")},
			edited:  sharer("b/b", "k", "TCP/443"),
			wantEvicted: []allocator.Eviction{{Key: "a/a", IP: shared,
				Reason: "port TCP/443 already used by b/b, which holds it first"}},
			wantHolders: map[string]bool{"b/b": true},
		},
		{
			name:        "later holder drops its sharing key",
			holders:     []allocator.Owner{sharer("a/a", "k", "TCP/80"), sharer("b/b", "k", "TCP/443")},
			edited:      exclusive("b/b"),
			wantErr:     allocator.ErrInUse,
			wantReason:  "held by a/a, and b/b does not share (no sharing key)",
			wantHolders: map[string]bool{"a/a": true},
		},
		{
			name:        "later holder changes its sharing key",
			holders:     []allocator.Owner{sharer("a/a", "k", "TCP/80"), sharer("b/b", "k", "TCP/443")},
			edited:      sharer("b/b", "k2", "TCP/443"),
			wantErr:     allocator.ErrInUse,
			wantReason:  `sharing key "k2" differs from a/a's "k"`,
			wantHolders: map[string]bool{"a/a": true},
		},
		{
			name:        "later holder becomes Local with other backends",
			holders:     []allocator.Owner{sharer("a/a", "k", "TCP/80"), sharer("b/b", "k", "TCP/443")},
			edited:      withBackend(sharer("b/b", "k", "TCP/443"), "local:app=db"),
			wantErr:     allocator.ErrInUse,
			wantReason:  "backends differ from a/a's (sharing needs the same traffic policy and selector)",
			wantHolders: map[string]bool{"a/a": true},
		},
		{
			name:    "first holder changes its key: every later holder is evicted",
			holders: []allocator.Owner{sharer("c/c", "k", "TCP/80"), sharer("a/a", "k", "TCP/443"), sharer("b/b", "k", "TCP/8080")},
			edited:  sharer("c/c", "other", "TCP/80"),
			wantEvicted: []allocator.Eviction{
				{Key: "a/a", IP: shared, Reason: `sharing key "k" differs from c/c's "other", which holds it first`},
				{Key: "b/b", IP: shared, Reason: `sharing key "k" differs from c/c's "other", which holds it first`},
			},
			wantHolders: map[string]bool{"c/c": true},
		},
		{
			name: "middle holder clashes with the first and the last: it moves, nobody is evicted",
			holders: []allocator.Owner{sharer("a/a", "k", "TCP/80"), sharer("b/b", "k", "TCP/443"),
				sharer("c/c", "k", "TCP/8080")},
			edited:      sharer("b/b", "k", "TCP/80", "TCP/8080"),
			wantErr:     allocator.ErrInUse,
			wantReason:  "port TCP/80 already used by a/a",
			wantHolders: map[string]bool{"a/a": true, "c/c": true},
		},
		{
			name:        "compatible edit keeps everyone",
			holders:     []allocator.Owner{sharer("a/a", "k", "TCP/80"), sharer("b/b", "k", "TCP/443")},
			edited:      sharer("b/b", "k", "TCP/444"),
			wantHolders: map[string]bool{"a/a": true, "b/b": true},
		},
		{
			name:        "sole holder may change anything",
			holders:     []allocator.Owner{sharer("a/a", "k", "TCP/80")},
			edited:      exclusive("a/a"),
			wantHolders: map[string]bool{"a/a": true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlloc(1, pool(t, "p", false, "192.0.2.0/24"))
			for _, o := range tt.holders {
				if _, err := a.Assign(o, shared, []string{"p"}); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			evicted, err := a.Keep(tt.edited, shared, []string{"p"})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Keep error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantReason != "" {
				var cerr *allocator.ConflictError
				if !errors.As(err, &cerr) || cerr.Reason != tt.wantReason {
					t.Errorf("Keep error = %v, want reason %q", err, tt.wantReason)
				}
			}
			if diff := cmp.Diff(tt.wantEvicted, evicted, addrCmp); diff != "" {
				t.Errorf("evicted (-want +got):\n%s", diff)
			}
			for _, key := range []string{"a/a", "b/b", "c/c"} {
				got := len(a.Addresses(key)) > 0
				if got != tt.wantHolders[key] {
					t.Errorf("%s holds an address: %v, want %v", key, got, tt.wantHolders[key])
				}
			}
			if err := a.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
			// The winner's current spec is what later joiners are judged by.
			if tt.wantErr == nil {
				newcomer := sharer("z/z", tt.edited.SharingKey, "TCP/80", "TCP/443", "TCP/444", "TCP/8080")
				if _, err := a.Assign(newcomer, shared, []string{"p"}); err == nil {
					t.Errorf("a newcomer clashing with every port joined %s", shared)
				}
			}
		})
	}
}

func TestKeepRefusals(t *testing.T) {
	held := ip("192.0.2.20")
	t.Run("not held", func(t *testing.T) {
		a := newAlloc(1, pool(t, "p", false, "192.0.2.0/24"))
		if _, err := a.Keep(exclusive("a/a"), held, []string{"p"}); !errors.Is(err, allocator.ErrNotHeld) {
			t.Fatalf("Keep = %v, want ErrNotHeld", err)
		}
	})
	t.Run("pool no longer allowed releases the address", func(t *testing.T) {
		a := newAlloc(1, pool(t, "p", false, "192.0.2.0/24"), pool(t, "q", false, "198.51.100.0/24"))
		if _, err := a.Assign(exclusive("a/a"), held, []string{"p"}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Keep(exclusive("a/a"), held, []string{"q"}); !errors.Is(err, allocator.ErrNotInPools) {
			t.Fatalf("Keep = %v, want ErrNotInPools", err)
		}
		if got := a.Addresses("a/a"); len(got) != 0 {
			t.Fatalf("still holds %v", got)
		}
		if err := a.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("address outside every pool after a shrink", func(t *testing.T) {
		a := newAlloc(1, pool(t, "p", false, "192.0.2.0/24"))
		if err := a.Restore(exclusive("a/a"), netip.MustParseAddr("203.0.113.5")); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Keep(exclusive("a/a"), ip("203.0.113.5"), []string{"p"}); !errors.Is(err, allocator.ErrNotInPools) {
			t.Fatalf("Keep = %v, want ErrNotInPools", err)
		}
	})
	t.Run("an evicted owner's address is free for others once the winner leaves", func(t *testing.T) {
		a := newAlloc(1, pool(t, "p", false, "192.0.2.0/24"))
		first, second := sharer("a/a", "k", "TCP/80"), sharer("b/b", "k", "TCP/443")
		for _, o := range []allocator.Owner{first, second} {
			if _, err := a.Assign(o, held, []string{"p"}); err != nil {
				t.Fatal(err)
			}
		}
		if ev, err := a.Keep(exclusive("a/a"), held, []string{"p"}); err != nil || len(ev) != 1 {
			t.Fatalf("Keep = %v, %v; want one eviction", ev, err)
		}
		if _, err := a.Assign(sharer("c/c", "k", "TCP/1"), held, []string{"p"}); !errors.Is(err, allocator.ErrInUse) {
			t.Fatalf("a sharer joined an address now held exclusively: %v", err)
		}
		a.Release("a/a")
		if _, err := a.Assign(exclusive("c/c"), held, []string{"p"}); err != nil {
			t.Fatalf("address not free after its last holder left: %v", err)
		}
		if err := a.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	})
}
