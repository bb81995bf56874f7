package allocator_test

import (
	"fmt"
	"testing"

	"github.com/portico-lb/portico/controller/allocator"
)

// prefill allocates n addresses of the pool's family to distinct owners.
func prefill(b *testing.B, a *allocator.Allocator, n int, is6 bool) {
	b.Helper()
	for i := range n {
		if _, _, err := a.Allocate(allocator.Owner{Key: fmt.Sprintf("fill/%d", i)}, []string{"p"}, is6); err != nil {
			b.Fatalf("prefill %d: %v", i, err)
		}
	}
}

// BenchmarkAllocateRelease measures one automatic pick plus its release in
// pools about half full (the /8 and /64 hold 100k addresses: filling them
// halfway would take gigabytes and prove nothing more). ns/op and allocs/op
// must not grow with the pool.
func BenchmarkAllocateRelease(b *testing.B) {
	cases := []struct {
		name   string
		cidr   string
		is6    bool
		filled int
	}{
		{"v4-/24", "10.0.0.0/24", false, 127},
		{"v4-/16", "10.0.0.0/16", false, 1 << 15},
		{"v4-/8", "10.0.0.0/8", false, 100_000},
		{"v6-/64", "2001:db8::/64", true, 100_000},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			a := newAlloc(1, pool(b, "p", true, c.cidr))
			prefill(b, a, c.filled, c.is6)
			benchAllocateRelease(b, a, c.is6)
		})
	}
}

// BenchmarkAllocateNearlyFull shows that the bounded walk behind the random
// probes stays cheap when almost nothing is left in a /24 (254 valid
// addresses with AvoidBuggyIPs).
func BenchmarkAllocateNearlyFull(b *testing.B) {
	cases := []struct {
		name      string
		requested int // low addresses taken by Assign, as users request them
		filled    int // total held
	}{
		// The 15 low addresses are requested, so the 4 free ones sit in
		// the upper band among 235 held: most picks end in the walk.
		{"250of254-upper", 15, 250},
		{"250of254-lower", 0, 250},
		{"253of254", 0, 253},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			a := newAlloc(1, pool(b, "p", true, "10.0.0.0/24"))
			for i := range c.requested {
				addr := ip(fmt.Sprintf("10.0.0.%d", i+1))
				if _, err := a.Assign(allocator.Owner{Key: fmt.Sprintf("req/%d", i)}, addr, []string{"p"}); err != nil {
					b.Fatal(err)
				}
			}
			prefill(b, a, c.filled-c.requested, false)
			if got := a.Usage("p"); got.AssignedV4 != uint64(c.filled) {
				b.Fatalf("prefilled %d, want %d", got.AssignedV4, c.filled)
			}
			benchAllocateRelease(b, a, false)
		})
	}
}

func benchAllocateRelease(b *testing.B, a *allocator.Allocator, is6 bool) {
	o := allocator.Owner{Key: "bench/svc", Ports: []allocator.Port{{Protocol: "TCP", Port: 80}}}
	pools := []string{"p"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := a.Allocate(o, pools, is6); err != nil {
			b.Fatal(err)
		}
		a.Release(o.Key)
	}
}
