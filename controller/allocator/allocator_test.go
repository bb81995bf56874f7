package allocator_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portico-lb/portico/controller/allocator"
)

// TestExhaust allocates until ErrFull and checks that every valid address
// came out exactly once, and that full pools refuse everything else.
func TestExhaust(t *testing.T) {
	tests := []struct {
		name  string
		pool  allocator.Pool
		is6   bool
		count int
	}{
		{name: "IPv4 /24", pool: pool(t, "p", false, "192.0.2.0/24"), count: 256},
		{name: "IPv4 /24 avoiding .0 and .255", pool: pool(t, "p", true, "192.0.2.0/24"), count: 254},
		{name: "IPv4 /22 avoiding .0 and .255", pool: pool(t, "p", true, "192.0.0.0/22"), count: 1024 - 8},
		{name: "small dash range", pool: pool(t, "p", false, "192.0.2.10-192.0.2.14"), count: 5},
		{name: "dash range across .255 avoided", pool: pool(t, "p", true, "192.0.2.254-192.0.3.1"), count: 2},
		{name: "single-address /32", pool: pool(t, "p", false, "192.0.2.7/32"), count: 1},
		{name: "/32 that is avoided", pool: pool(t, "p", true, "192.0.2.0/32"), count: 0},
		{name: "IPv6 /120", pool: pool(t, "p", true, "2001:db8::/120"), is6: true, count: 256},
		{name: "IPv6 /128", pool: pool(t, "p", false, "2001:db8::1/128"), is6: true, count: 1},
		{name: "two ranges", pool: pool(t, "p", false, "192.0.2.1/32", "198.51.100.0/30"), count: 5},
		{name: "overlapping ranges are merged", pool: pool(t, "p", false, "192.0.2.0/30", "192.0.2.2-192.0.2.5"), count: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlloc(1, tt.pool)
			seen := map[netip.Addr]bool{}
			for i := range tt.count {
				got, poolName, err := a.Allocate(exclusive(fmt.Sprintf("ns/s%d", i)), []string{"p"}, tt.is6)
				if err != nil {
					t.Fatalf("allocation %d of %d: %v", i+1, tt.count, err)
				}
				if seen[got] {
					t.Fatalf("allocation %d: %s handed out twice", i+1, got)
				}
				seen[got] = true
				if poolName != "p" || got.Is6() != tt.is6 {
					t.Fatalf("allocation %d: got %s in pool %q", i+1, got, poolName)
				}
				if p, ok := a.PoolOf(got); !ok || p != "p" {
					t.Fatalf("allocation %d: %s lies outside the pool", i+1, got)
				}
				if b := got.As16()[15]; tt.pool.AvoidBuggyIPs && got.Is4() && (b == 0 || b == 255) {
					t.Fatalf("allocation %d: avoided address %s handed out", i+1, got)
				}
			}
			_, _, err := a.Allocate(exclusive("ns/one-too-many"), []string{"p"}, tt.is6)
			if !errors.Is(err, allocator.ErrFull) {
				t.Fatalf("Allocate on a full pool: err = %v, want ErrFull", err)
			}
			if !strings.Contains(err.Error(), `"p"`) {
				t.Errorf("error %q does not name the pool", err)
			}
			u := a.Usage("p")
			want := allocator.Usage{AssignedV4: uint64(tt.count)}
			if tt.is6 {
				want = allocator.Usage{AssignedV6: uint64(tt.count)}
			}
			if diff := cmp.Diff(want, u); diff != "" {
				t.Errorf("Usage of a full pool (-want +got):\n%s", diff)
			}
			for held := range seen {
				_, err := a.Assign(exclusive("ns/intruder"), held, []string{"p"})
				if !errors.Is(err, allocator.ErrInUse) {
					t.Fatalf("Assign(%s) held by another: err = %v, want ErrInUse", held, err)
				}
			}
		})
	}
}

func TestAssignRefused(t *testing.T) {
	pools := []allocator.Pool{
		pool(t, "a", true, "192.0.2.0/24", "2001:db8::/120"),
		pool(t, "b", false, "198.51.100.0/24"),
	}
	tests := []struct {
		name     string
		ip       string
		pools    []string
		wantErr  error
		wantPool string // from PoolOf; "" = outside every pool
		errText  string
	}{
		{name: ".0 avoided", ip: "192.0.2.0", pools: []string{"a"}, wantErr: allocator.ErrNotInPools, wantPool: "a", errText: "avoids"},
		{name: ".255 avoided", ip: "192.0.2.255", pools: []string{"a"}, wantErr: allocator.ErrNotInPools, wantPool: "a", errText: "192.0.2.255"},
		{name: "foreign IPv4", ip: "203.0.113.5", pools: []string{"a", "b"}, wantErr: allocator.ErrNotInPools, errText: "outside every pool"},
		{name: "foreign IPv6", ip: "2001:db8:1::1", pools: []string{"a"}, wantErr: allocator.ErrNotInPools, errText: "outside every pool"},
		{name: "in a pool not allowed", ip: "198.51.100.9", pools: []string{"a"}, wantErr: allocator.ErrNotInPools, wantPool: "b", errText: `belongs to pool "b"`},
		{name: "no pools allowed", ip: "192.0.2.9", pools: nil, wantErr: allocator.ErrNotInPools, wantPool: "a"},
		{name: "invalid address", ip: "", pools: []string{"a"}, wantErr: allocator.ErrNotInPools},
		{name: "IPv6 ending in ff is fine", ip: "2001:db8::ff", pools: []string{"a"}, wantPool: "a"},
		{name: "network address of a plain pool is fine", ip: "198.51.100.0", pools: []string{"b"}, wantPool: "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlloc(1, pools...)
			var addr netip.Addr
			if tt.ip != "" {
				addr = ip(tt.ip)
			}
			got, err := a.Assign(exclusive("ns/svc"), addr, tt.pools)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Assign(%s) err = %v, want %v", tt.ip, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q does not contain %q", err, tt.errText)
			}
			if err == nil && got != tt.wantPool {
				t.Errorf("Assign returned pool %q, want %q", got, tt.wantPool)
			}
			if p, ok := a.PoolOf(addr); p != tt.wantPool || ok != (tt.wantPool != "") {
				t.Errorf("PoolOf(%s) = %q, %v; want %q", tt.ip, p, ok, tt.wantPool)
			}
			if err != nil && len(a.Addresses("ns/svc")) != 0 {
				t.Errorf("a refused Assign left %v held", a.Addresses("ns/svc"))
			}
		})
	}
}

func TestPoolPriority(t *testing.T) {
	pools := []allocator.Pool{
		pool(t, "small", false, "192.0.2.1/32"),
		pool(t, "big", false, "198.51.100.0/24"),
		pool(t, "v6", false, "2001:db8::/64"),
	}
	a := newAlloc(1, pools...)
	steps := []struct {
		key      string
		order    []string
		is6      bool
		wantPool string
		wantErr  error
	}{
		{key: "ns/a", order: []string{"small", "big"}, wantPool: "small"},
		{key: "ns/b", order: []string{"small", "big"}, wantPool: "big"}, // small is full now
		{key: "ns/c", order: []string{"big", "small"}, wantPool: "big"},
		{key: "ns/d", order: []string{"missing", "small"}, wantErr: allocator.ErrFull},
		{key: "ns/e", order: []string{"small", "v6"}, is6: true, wantPool: "v6"},
		{key: "ns/f", order: []string{"small", "big"}, is6: true, wantErr: allocator.ErrNoFamily},
		{key: "ns/g", order: []string{"missing"}, wantErr: allocator.ErrNoFamily},
		{key: "ns/h", order: nil, wantErr: allocator.ErrNoFamily},
	}
	for _, s := range steps {
		got, p, err := a.Allocate(exclusive(s.key), s.order, s.is6)
		if !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) {
			t.Fatalf("%s: Allocate(%q) err = %v, want %v", s.key, s.order, err, s.wantErr)
		}
		if err != nil {
			continue
		}
		if p != s.wantPool {
			t.Errorf("%s: got %s from pool %q, want pool %q", s.key, got, p, s.wantPool)
		}
		if q, _ := a.PoolOf(got); q != p {
			t.Errorf("%s: %s reported in pool %q but PoolOf says %q", s.key, got, p, q)
		}
	}
}

// TestUpperBandFirst checks the KEP-3070 split: automatic picks fill the
// upper part of a range before touching the lower 16 addresses of a /24.
func TestUpperBandFirst(t *testing.T) {
	a := newAlloc(3, pool(t, "p", false, "192.0.2.0/24"))
	for i := range 256 {
		got, _, err := a.Allocate(exclusive(fmt.Sprintf("ns/s%d", i)), []string{"p"}, false)
		if err != nil {
			t.Fatal(err)
		}
		low := got.As4()[3] < 16
		if wantLow := i >= 240; low != wantLow {
			t.Fatalf("allocation %d got %s; want low band: %v", i+1, got, wantLow)
		}
	}
}

func TestMixedFamilies(t *testing.T) {
	a := newAlloc(1, pool(t, "dual", false, "192.0.2.8/30", "2001:db8::/126"))
	o := exclusive("ns/dual")
	v6, _, err := a.Allocate(o, []string{"dual"}, true)
	if err != nil {
		t.Fatal(err)
	}
	v4, _, err := a.Allocate(o, []string{"dual"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !v4.Is4() || !v6.Is6() {
		t.Fatalf("got %s and %s, want one of each family", v4, v6)
	}
	if diff := cmp.Diff([]netip.Addr{v4, v6}, a.Addresses("ns/dual"), addrCmp); diff != "" {
		t.Errorf("Addresses (-want +got):\n%s", diff)
	}
	want := allocator.Usage{AssignedV4: 1, AssignedV6: 1, AvailableV4: 3, AvailableV6: 3}
	if diff := cmp.Diff(want, a.Usage("dual")); diff != "" {
		t.Errorf("Usage (-want +got):\n%s", diff)
	}
	a.ReleaseAddr("ns/dual", v4)
	if diff := cmp.Diff([]netip.Addr{v6}, a.Addresses("ns/dual"), addrCmp); diff != "" {
		t.Errorf("Addresses after ReleaseAddr (-want +got):\n%s", diff)
	}
}

func TestReleaseFrees(t *testing.T) {
	a := newAlloc(1, pool(t, "p", false, "192.0.2.0/30"))
	var held []netip.Addr
	for i := range 4 {
		got, _, err := a.Allocate(exclusive(fmt.Sprintf("ns/s%d", i)), []string{"p"}, false)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, got)
	}
	a.Release("ns/s2")
	a.Release("ns/s2")      // no-op
	a.Release("ns/unknown") // no-op
	a.ReleaseAddr("ns/s1", ip("10.0.0.1"))
	if got := a.Addresses("ns/s2"); len(got) != 0 {
		t.Fatalf("Addresses after Release = %v", got)
	}
	got, _, err := a.Allocate(exclusive("ns/new"), []string{"p"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got != held[2] {
		t.Errorf("after Release got %s, want the freed %s", got, held[2])
	}
	if _, err := a.Assign(exclusive("ns/s2"), held[2], []string{"p"}); !errors.Is(err, allocator.ErrInUse) {
		t.Errorf("re-Assign of a re-allocated address: err = %v, want ErrInUse", err)
	}
	a.ReleaseAddr("ns/new", held[2])
	if _, err := a.Assign(exclusive("ns/s2"), held[2], []string{"p"}); err != nil {
		t.Errorf("Assign after ReleaseAddr: %v", err)
	}
}

func TestIdempotent(t *testing.T) {
	a := newAlloc(1, pool(t, "p", false, "192.0.2.0/24"), pool(t, "q", false, "198.51.100.0/24"))
	o := sharer("ns/web", "k", "TCP/80")
	first, p1, err := a.Allocate(o, []string{"p"}, false)
	if err != nil {
		t.Fatal(err)
	}
	// Even with another pool order, the owner keeps what it has.
	again, p2, err := a.Allocate(o, []string{"q", "p"}, false)
	if err != nil || again != first || p2 != p1 {
		t.Fatalf("second Allocate = %s, %q, %v; want %s, %q", again, p2, err, first, p1)
	}
	if p, err := a.Assign(o, first, []string{"p"}); err != nil || p != "p" {
		t.Fatalf("Assign of the held address = %q, %v", p, err)
	}
	if err := a.Restore(o, first); err != nil {
		t.Fatalf("Restore of the held address: %v", err)
	}
	if diff := cmp.Diff([]netip.Addr{first}, a.Addresses("ns/web"), addrCmp); diff != "" {
		t.Errorf("Addresses (-want +got):\n%s", diff)
	}
	if got := a.Usage("p").AssignedV4; got != 1 {
		t.Errorf("AssignedV4 = %d, want 1", got)
	}

	// A repeated call records the owner's new ports, so a partner that
	// was refused before fits now.
	partner := sharer("ns/dns", "k", "UDP/53", "TCP/443")
	if _, err := a.Assign(partner, first, []string{"p"}); err != nil {
		t.Fatal(err)
	}
	moved := sharer("ns/web", "k", "TCP/443")
	if _, _, err := a.Allocate(moved, []string{"p"}, false); !errors.Is(err, allocator.ErrInUse) {
		t.Errorf("Allocate with ports clashing with a partner: err = %v, want ErrInUse", err)
	}
	if _, err := a.Assign(sharer("ns/web", "k", "TCP/8080"), first, []string{"p"}); err != nil {
		t.Errorf("Assign with new, compatible ports: %v", err)
	}
	if _, err := a.Assign(sharer("ns/other", "k", "TCP/80"), first, []string{"p"}); err != nil {
		t.Errorf("port 80 is free again after the refresh, but: %v", err)
	}
}

func TestRestore(t *testing.T) {
	pools := []allocator.Pool{pool(t, "p", true, "192.0.2.0/24")}
	t.Run("duplicate exclusive owners", func(t *testing.T) {
		a := newAlloc(1, pools...)
		if err := a.Restore(exclusive("ns/a"), ip("192.0.2.5")); err != nil {
			t.Fatal(err)
		}
		err := a.Restore(exclusive("ns/b"), ip("192.0.2.5"))
		var ce *allocator.ConflictError
		if !errors.As(err, &ce) || !errors.Is(err, allocator.ErrInUse) {
			t.Fatalf("duplicate Restore: err = %v, want a *ConflictError wrapping ErrInUse", err)
		}
		want := &allocator.ConflictError{IP: ip("192.0.2.5"), Holders: []string{"ns/a"}, Reason: "held by ns/a, which does not share"}
		if diff := cmp.Diff(want, ce, addrCmp); diff != "" {
			t.Errorf("ConflictError (-want +got):\n%s", diff)
		}
		if got := a.Addresses("ns/b"); len(got) != 0 {
			t.Errorf("the refused owner holds %v", got)
		}
	})
	t.Run("outside pools and avoided addresses are recorded", func(t *testing.T) {
		a := newAlloc(1, pools...)
		for _, s := range []string{"192.0.2.0", "192.0.2.255", "203.0.113.1", "2001:db8::1"} {
			if err := a.Restore(exclusive("ns/"+s), ip(s)); err != nil {
				t.Fatalf("Restore(%s): %v", s, err)
			}
		}
		want := allocator.Usage{AssignedV4: 2, AvailableV4: 254}
		if diff := cmp.Diff(want, a.Usage("p")); diff != "" {
			t.Errorf("Usage (-want +got):\n%s", diff)
		}
		if _, err := a.Assign(exclusive("ns/x"), ip("203.0.113.1"), []string{"p"}); !errors.Is(err, allocator.ErrNotInPools) {
			t.Errorf("Assign of a restored foreign address: err = %v, want ErrNotInPools", err)
		}
		if err := a.Restore(exclusive("ns/x"), ip("203.0.113.1")); !errors.Is(err, allocator.ErrInUse) {
			t.Errorf("Restore of a restored foreign address: err = %v, want ErrInUse", err)
		}
		// Allocate gives the restored address back even though no pool has it.
		got, p, err := a.Allocate(exclusive("ns/203.0.113.1"), []string{"p"}, false)
		if err != nil || got != ip("203.0.113.1") || p != "" {
			t.Errorf("Allocate for the restored owner = %s, %q, %v", got, p, err)
		}
	})
	t.Run("sharers", func(t *testing.T) {
		a := newAlloc(1, pools...)
		if err := a.Restore(sharer("ns/a", "k", "TCP/80"), ip("192.0.2.5")); err != nil {
			t.Fatal(err)
		}
		if err := a.Restore(sharer("ns/b", "k", "TCP/443"), ip("192.0.2.5")); err != nil {
			t.Fatal(err)
		}
		if err := a.Restore(sharer("ns/c", "k", "TCP/443"), ip("192.0.2.5")); !errors.Is(err, allocator.ErrInUse) {
			t.Errorf("Restore with a port clash: err = %v, want ErrInUse", err)
		}
		if got := a.Usage("p").AssignedV4; got != 1 {
			t.Errorf("a shared address counted %d times", got)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		a := newAlloc(1, pools...)
		if err := a.Restore(exclusive("ns/a"), netip.Addr{}); err == nil {
			t.Error("Restore of the zero Addr succeeded")
		}
		if err := a.Restore(exclusive(""), ip("192.0.2.1")); err == nil {
			t.Error("Restore with an empty owner key succeeded")
		}
	})
}

// TestSetPoolsShrink keeps allocations that fall outside the new pools and
// counts only those still inside.
func TestSetPoolsShrink(t *testing.T) {
	a := newAlloc(1, pool(t, "p", false, "192.0.2.0/24"))
	for i, s := range []string{"192.0.2.1", "192.0.2.2"} {
		if _, err := a.Assign(exclusive(fmt.Sprintf("ns/req%d", i)), ip(s), []string{"p"}); err != nil {
			t.Fatal(err)
		}
	}
	var auto []netip.Addr // all in the upper band, so outside a /28
	for i := range 5 {
		got, _, err := a.Allocate(exclusive(fmt.Sprintf("ns/auto%d", i)), []string{"p"}, false)
		if err != nil {
			t.Fatal(err)
		}
		auto = append(auto, got)
	}

	a.SetPools([]allocator.Pool{pool(t, "p", false, "192.0.2.0/28")})
	if diff := cmp.Diff(allocator.Usage{AssignedV4: 2, AvailableV4: 14}, a.Usage("p")); diff != "" {
		t.Errorf("Usage after shrinking (-want +got):\n%s", diff)
	}
	for i, held := range auto {
		if diff := cmp.Diff([]netip.Addr{held}, a.Addresses(fmt.Sprintf("ns/auto%d", i)), addrCmp); diff != "" {
			t.Errorf("ns/auto%d lost its address (-want +got):\n%s", i, diff)
		}
		if _, ok := a.PoolOf(held); ok {
			t.Errorf("PoolOf(%s) still finds a pool", held)
		}
	}
	for i := range 14 {
		got, _, err := a.Allocate(exclusive(fmt.Sprintf("ns/new%d", i)), []string{"p"}, false)
		if err != nil {
			t.Fatal(err)
		}
		if got == ip("192.0.2.1") || got == ip("192.0.2.2") {
			t.Fatalf("%s handed out twice", got)
		}
	}
	if _, _, err := a.Allocate(exclusive("ns/full"), []string{"p"}, false); !errors.Is(err, allocator.ErrFull) {
		t.Errorf("err = %v, want ErrFull", err)
	}

	a.SetPools([]allocator.Pool{pool(t, "p", false, "192.0.2.0/24")})
	if diff := cmp.Diff(allocator.Usage{AssignedV4: 21, AvailableV4: 235}, a.Usage("p")); diff != "" {
		t.Errorf("Usage after growing back (-want +got):\n%s", diff)
	}
	a.SetPools(nil)
	if diff := cmp.Diff(allocator.Usage{}, a.Usage("p")); diff != "" {
		t.Errorf("Usage of a removed pool (-want +got):\n%s", diff)
	}
	if got := a.Addresses("ns/auto0"); len(got) != 1 {
		t.Errorf("removing every pool dropped allocations: %v", got)
	}
}

// TestSeeded shows that a seeded Rand makes the picks reproducible.
func TestSeeded(t *testing.T) {
	run := func(seed uint64) []netip.Addr {
		a := newAlloc(seed, pool(t, "p", false, "10.0.0.0/16", "2001:db8::/64"))
		var out []netip.Addr
		for i := range 50 {
			got, _, err := a.Allocate(exclusive(fmt.Sprintf("ns/s%d", i)), []string{"p"}, i%2 == 1)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, got)
		}
		return out
	}
	if diff := cmp.Diff(run(42), run(42), addrCmp); diff != "" {
		t.Errorf("same seed, different picks (-first +second):\n%s", diff)
	}
	if cmp.Equal(run(42), run(43), addrCmp) {
		t.Error("different seeds gave the same 50 picks")
	}
}

// TestHugeRanges checks that pool size costs nothing: ::/0 and 0.0.0.0/0
// are as cheap as a /24.
func TestHugeRanges(t *testing.T) {
	a := newAlloc(1, pool(t, "all6", false, "::/0"), pool(t, "all4", true, "0.0.0.0/0"))
	seen := map[netip.Addr]bool{}
	for i := range 2000 {
		for _, p := range []string{"all4", "all6"} {
			got, _, err := a.Allocate(exclusive(fmt.Sprintf("ns/%s-%d", p, i)), []string{p}, p == "all6")
			if err != nil {
				t.Fatal(err)
			}
			if seen[got] {
				t.Fatalf("%s handed out twice", got)
			}
			seen[got] = true
		}
	}
	want := allocator.Usage{AssignedV4: 2000, AvailableV4: 1<<32 - 2<<24 - 2000}
	if diff := cmp.Diff(want, a.Usage("all4")); diff != "" {
		t.Errorf("Usage (-want +got):\n%s", diff)
	}
}

// TestBrokenPromiseDoesNotSpin breaks the caller's promise that pools do not
// overlap. The allocator must still never hand an address out twice, and
// its bounded walk must return an error instead of looping.
func TestBrokenPromiseDoesNotSpin(t *testing.T) {
	a := newAlloc(1, pool(t, "a", false, "192.0.2.0/30"), pool(t, "b", false, "192.0.2.0/30"))
	for i := range 4 {
		if _, _, err := a.Allocate(exclusive(fmt.Sprintf("ns/a%d", i)), []string{"a"}, false); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := a.Allocate(exclusive("ns/b"), []string{"b"}, false)
	if err == nil || errors.Is(err, allocator.ErrFull) || !strings.Contains(err.Error(), `pool "b"`) {
		t.Fatalf("err = %v, want an accounting error naming pool b", err)
	}
}

func TestEmptyOwnerKey(t *testing.T) {
	a := newAlloc(1, pool(t, "p", false, "192.0.2.0/24"))
	if _, _, err := a.Allocate(exclusive(""), []string{"p"}, false); err == nil {
		t.Error("Allocate with an empty key succeeded")
	}
	if _, err := a.Assign(exclusive(""), ip("192.0.2.1"), []string{"p"}); err == nil {
		t.Error("Assign with an empty key succeeded")
	}
}
