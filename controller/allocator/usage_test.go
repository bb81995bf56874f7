package allocator_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portico-lb/portico/controller/allocator"
)

func TestUsage(t *testing.T) {
	const max = ^uint64(0)
	tests := []struct {
		name    string
		pool    allocator.Pool
		restore []string
		want    allocator.Usage
	}{
		{name: "empty /24", pool: pool(t, "p", false, "192.0.2.0/24"), want: allocator.Usage{AvailableV4: 256}},
		{name: "/24 with three held", pool: pool(t, "p", false, "192.0.2.0/24"),
			restore: []string{"192.0.2.1", "192.0.2.2", "192.0.2.200"}, want: allocator.Usage{AssignedV4: 3, AvailableV4: 253}},
		{name: "avoided addresses are neither available nor free", pool: pool(t, "p", true, "192.0.2.0/23"),
			restore: []string{"192.0.2.255", "192.0.3.0", "192.0.3.1"}, want: allocator.Usage{AssignedV4: 3, AvailableV4: 512 - 4 - 1}},
		{name: "avoidance ignores IPv6", pool: pool(t, "p", true, "2001:db8::/120"), want: allocator.Usage{AvailableV6: 256}},
		{name: "/8 avoiding", pool: pool(t, "p", true, "10.0.0.0/8"), want: allocator.Usage{AvailableV4: 1<<24 - 2<<16}},
		{name: "IPv6 /64 saturates", pool: pool(t, "p", false, "2001:db8::/64"), want: allocator.Usage{AvailableV6: max}},
		{name: "IPv6 /64 minus one is exact", pool: pool(t, "p", false, "2001:db8::/64"),
			restore: []string{"2001:db8::1"}, want: allocator.Usage{AssignedV6: 1, AvailableV6: max}},
		{name: "IPv6 /64 minus two is exact", pool: pool(t, "p", false, "2001:db8::/64"),
			restore: []string{"2001:db8::1", "2001:db8::2"}, want: allocator.Usage{AssignedV6: 2, AvailableV6: max - 1}},
		{name: "IPv6 /48 saturates", pool: pool(t, "p", false, "2001:db8::/48"),
			restore: []string{"2001:db8::1"}, want: allocator.Usage{AssignedV6: 1, AvailableV6: max}},
		{name: "mixed ranges add up", pool: pool(t, "p", false, "192.0.2.0/30", "198.51.100.7/32", "2001:db8::/126"),
			restore: []string{"198.51.100.7", "2001:db8::3"}, want: allocator.Usage{AssignedV4: 1, AssignedV6: 1, AvailableV4: 4, AvailableV6: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlloc(1, tt.pool)
			for _, s := range tt.restore {
				if err := a.Restore(exclusive("ns/"+s), ip(s)); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, a.Usage("p")); diff != "" {
				t.Errorf("Usage (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(allocator.Usage{}, newAlloc(1).Usage("nope")); diff != "" {
		t.Errorf("Usage of an unknown pool (-want +got):\n%s", diff)
	}
}

// TestRandomOperations runs random operations on small pools and checks
// Usage against a count made by enumerating every address.
func TestRandomOperations(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	poolSets := [][]allocator.Pool{
		{pool(t, "a", true, "192.0.2.250-192.0.3.20"), pool(t, "b", false, "2001:db8::/124", "198.51.100.0/29")},
		{pool(t, "a", true, "192.0.2.0/24"), pool(t, "b", false, "2001:db8::8/125")},
	}
	var keys []string // more owners than the first pool set has addresses
	for i := range 60 {
		keys = append(keys, fmt.Sprintf("ns/%d", i))
	}
	owner := func() allocator.Owner {
		k := keys[rng.IntN(len(keys))]
		if rng.IntN(2) == 0 {
			return exclusive(k)
		}
		return sharer(k, "k", fmt.Sprintf("TCP/%d", rng.IntN(3)))
	}
	a := newAlloc(5, poolSets[0]...)
	current := poolSets[0]
	for step := range 5000 {
		switch rng.IntN(7) {
		case 0, 1:
			_, _, err := a.Allocate(owner(), []string{"a", "b"}, rng.IntN(2) == 0)
			if err != nil && !errors.Is(err, allocator.ErrFull) && !errors.Is(err, allocator.ErrInUse) {
				t.Fatalf("step %d: %v", step, err)
			}
		case 2:
			_, _ = a.Assign(owner(), randomAddr(rng, current), []string{"a", "b"})
		case 6:
			err := a.Restore(owner(), randomAddr(rng, current))
			if err != nil && !errors.Is(err, allocator.ErrInUse) {
				t.Fatalf("step %d: %v", step, err)
			}
		case 3:
			a.Release(keys[rng.IntN(len(keys))])
		case 4:
			k := keys[rng.IntN(len(keys))]
			if held := a.Addresses(k); len(held) > 0 {
				a.ReleaseAddr(k, held[rng.IntN(len(held))])
			}
		case 5:
			if rng.IntN(10) == 0 {
				current = poolSets[rng.IntN(len(poolSets))]
				a.SetPools(current)
			}
		}
		checkUsage(t, step, a, current, keys)
		if err := a.CheckInvariants(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}
	for _, k := range keys {
		a.Release(k)
	}
	checkUsage(t, -1, a, current, keys)
}

// randomAddr returns an address near the start of one of the ranges, now
// and then just outside it.
func randomAddr(rng *rand.Rand, pools []allocator.Pool) netip.Addr {
	p := pools[rng.IntN(len(pools))]
	addr := p.Ranges[rng.IntN(len(p.Ranges))].First.Prev()
	for range rng.IntN(24) {
		addr = addr.Next()
	}
	return addr
}

func checkUsage(t *testing.T, step int, a *allocator.Allocator, pools []allocator.Pool, keys []string) {
	t.Helper()
	held := map[netip.Addr]bool{}
	for _, k := range keys {
		for _, h := range a.Addresses(k) {
			held[h] = true
		}
	}
	for _, p := range pools {
		var want allocator.Usage
		for _, r := range p.Ranges {
			for x := r.First; x.IsValid() && r.Contains(x); x = x.Next() {
				avoided := p.AvoidBuggyIPs && x.Is4() && (x.As4()[3] == 0 || x.As4()[3] == 255)
				switch {
				case x.Is4() && held[x]:
					want.AssignedV4++
				case x.Is6() && held[x]:
					want.AssignedV6++
				}
				switch {
				case avoided || held[x]:
				case x.Is4():
					want.AvailableV4++
				default:
					want.AvailableV6++
				}
			}
		}
		if diff := cmp.Diff(want, a.Usage(p.Name)); diff != "" {
			t.Fatalf("step %d: Usage(%s) (-enumerated +counted):\n%s", step, p.Name, diff)
		}
	}
}
