package allocator_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portico-lb/portico/controller/allocator"
)

// grant is a Grant as the table writes it: the error by its sentinel.
type grant struct {
	IP   string // "*": any address, for automatic picks
	Pool string
	Err  error // compared with errors.Is; nil = granted or withdrawn
}

func auto(o allocator.Owner, fams ...bool) allocator.Claim {
	return allocator.Claim{Owner: o, Families: fams, RequireAll: true, KeepIn: []string{"v4", "v6"}, PickFrom: []string{"v4", "v6"}}
}

func requested(o allocator.Owner, ips ...string) allocator.Claim {
	c := allocator.Claim{Owner: o, Families: []bool{false, true}, KeepIn: []string{"v4", "v6", "off"}, TakeFrom: []string{"v4", "v6"}}
	for _, s := range ips {
		c.Requested = append(c.Requested, ip(s))
	}
	return c
}

func TestSettle(t *testing.T) {
	a4 := sharer("ns/a", "k", "TCP/80")
	b4 := sharer("ns/b", "k", "TCP/443")
	tests := []struct {
		name    string
		before  []allocator.Claim // settled first, each must grant everything
		claim   allocator.Claim
		want    []grant
		holds   []string // what the claimant holds afterwards; "*" for a picked address
		evicted []string
		lost    []string
		freed   bool
	}{
		{
			name:  "automatic pick per family",
			claim: auto(exclusive("ns/a"), false, true),
			want:  []grant{{IP: "*", Pool: "v4"}, {IP: "*", Pool: "v6"}},
			holds: []string{"*", "*"},
		},
		{
			name:   "held address kept, nothing freed",
			before: []allocator.Claim{auto(exclusive("ns/a"), false)},
			claim:  auto(exclusive("ns/a"), false),
			want:   []grant{{IP: "*", Pool: "v4"}},
			holds:  []string{"*"},
		},
		{
			name:   "held address of a family no longer claimed is released",
			before: []allocator.Claim{auto(exclusive("ns/a"), false, true)},
			claim:  auto(exclusive("ns/a"), true),
			want:   []grant{{IP: "*", Pool: "v6"}},
			holds:  []string{"*"},
			freed:  true,
		},
		{
			name:   "held address outside KeepIn moves to a PickFrom pool",
			before: []allocator.Claim{{Owner: exclusive("ns/a"), Families: []bool{false}, Requested: []netip.Addr{ip("198.51.100.1")}, TakeFrom: []string{"off"}}},
			claim:  auto(exclusive("ns/a"), false),
			want:   []grant{{IP: "*", Pool: "v4"}},
			holds:  []string{"*"},
			freed:  true,
		},
		{
			name: "all or nothing: a missing family takes nothing and releases what was held",
			before: []allocator.Claim{
				auto(exclusive("ns/a"), false),
			},
			claim: allocator.Claim{Owner: exclusive("ns/a"), Families: []bool{false, true}, RequireAll: true, KeepIn: []string{"v4"}, PickFrom: []string{"v4"}},
			want:  []grant{{}, {Err: allocator.ErrNoFamily}},
			freed: true,
		},
		{
			name:  "prefer dual stack: each family stands alone",
			claim: allocator.Claim{Owner: exclusive("ns/a"), Families: []bool{false, true}, KeepIn: []string{"v4"}, PickFrom: []string{"v4"}},
			want:  []grant{{IP: "*", Pool: "v4"}, {Err: allocator.ErrNoFamily}},
			holds: []string{"*"},
		},
		{
			name:  "a repeated family gets the same answer",
			claim: auto(exclusive("ns/a"), false, false),
			want:  []grant{{IP: "*", Pool: "v4"}, {IP: "*", Pool: "v4"}},
			holds: []string{"*"},
		},
		{
			name:  "requested address taken from TakeFrom",
			claim: requested(exclusive("ns/a"), "192.0.2.1"),
			want:  []grant{{IP: "192.0.2.1", Pool: "v4"}},
			holds: []string{"192.0.2.1"},
		},
		{
			name:  "requested address in a KeepIn-only pool is refused, naming the pool",
			claim: requested(exclusive("ns/a"), "198.51.100.1"),
			want:  []grant{{Pool: "off", Err: allocator.ErrNotInPools}},
		},
		{
			name:   "requested address held in a KeepIn-only pool stays",
			before: []allocator.Claim{{Owner: exclusive("ns/a"), Families: []bool{false}, Requested: []netip.Addr{ip("198.51.100.1")}, TakeFrom: []string{"off"}}},
			claim:  requested(exclusive("ns/a"), "198.51.100.1"),
			want:   []grant{{IP: "198.51.100.1", Pool: "off"}},
			holds:  []string{"198.51.100.1"},
		},
		{
			name:  "requested address outside every pool",
			claim: requested(exclusive("ns/a"), "203.0.113.1"),
			want:  []grant{{Err: allocator.ErrNotInPools}},
		},
		{
			name:   "requested address held by an owner that does not share",
			before: []allocator.Claim{requested(exclusive("ns/b"), "192.0.2.1")},
			claim:  requested(exclusive("ns/a"), "192.0.2.1"),
			want:   []grant{{Err: allocator.ErrInUse}},
		},
		{
			name:   "requested pair fails as a whole",
			before: []allocator.Claim{requested(exclusive("ns/b"), "2001:db8::1")},
			claim:  requested(exclusive("ns/a"), "192.0.2.1", "2001:db8::1"),
			want:   []grant{{}, {Err: allocator.ErrInUse}},
		},
		{
			name:   "sharing partner's address is picked",
			before: []allocator.Claim{requested(a4, "192.0.2.9")},
			claim:  auto(b4, false),
			want:   []grant{{IP: "192.0.2.9", Pool: "v4"}},
			holds:  []string{"192.0.2.9"},
		},
		{
			name:    "edited first holder keeps the address and evicts the later one",
			before:  []allocator.Claim{requested(a4, "192.0.2.9"), auto(b4, false)},
			claim:   requested(sharer("ns/a", "k", "TCP/443"), "192.0.2.9"),
			want:    []grant{{IP: "192.0.2.9", Pool: "v4"}},
			holds:   []string{"192.0.2.9"},
			evicted: []string{"ns/b 192.0.2.9"},
			freed:   true,
		},
		{
			name:   "edited later holder loses the address and is given another",
			before: []allocator.Claim{requested(a4, "192.0.2.9"), auto(b4, false)},
			claim:  auto(sharer("ns/b", "k", "TCP/80"), false),
			want:   []grant{{IP: "*", Pool: "v4"}},
			holds:  []string{"*"},
			lost:   []string{"ns/b 192.0.2.9"},
			freed:  true,
		},
		{
			name:    "failed claim evicts nobody",
			before:  []allocator.Claim{requested(a4, "192.0.2.9"), auto(b4, false)},
			claim:   allocator.Claim{Owner: sharer("ns/a", "k", "TCP/443"), Families: []bool{false, true}, RequireAll: true, KeepIn: []string{"v4"}, PickFrom: []string{"v4"}},
			want:    []grant{{}, {Err: allocator.ErrNoFamily}},
			evicted: nil,
			freed:   true,
		},
		{
			name:   "an empty claim lets go of everything",
			before: []allocator.Claim{auto(exclusive("ns/a"), false, true)},
			claim:  allocator.Claim{Owner: exclusive("ns/a")},
			freed:  true,
		},
		{
			name:  "requested address of a family not claimed",
			claim: allocator.Claim{Owner: exclusive("ns/a"), Families: []bool{false}, Requested: []netip.Addr{ip("2001:db8::1")}, TakeFrom: []string{"v6"}},
			want:  []grant{{Err: errAny}},
		},
		{
			name:  "empty key",
			claim: auto(allocator.Owner{}, false),
			want:  []grant{{Err: errAny}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlloc(1,
				pool(t, "v4", false, "192.0.2.0/28"),
				pool(t, "v6", false, "2001:db8::/120"),
				pool(t, "off", false, "198.51.100.0/28"))
			for _, c := range tt.before {
				for _, g := range a.Settle(c).Grants {
					if g.Err != nil {
						t.Fatalf("setup %s: %v", c.Owner.Key, g.Err)
					}
				}
			}
			out := a.Settle(tt.claim)
			picked := map[string]bool{}
			var got []grant
			for i, g := range out.Grants {
				w := grant{}
				if i < len(tt.want) {
					w = tt.want[i]
				}
				gg := grant{Pool: g.Pool, Err: g.Err}
				if g.IP.IsValid() {
					gg.IP = g.IP.String()
					if w.IP == "*" {
						picked[gg.IP], gg.IP = true, "*"
					}
				}
				if errors.Is(g.Err, w.Err) || w.Err == errAny && g.Err != nil {
					gg.Err = w.Err // the sentinel is what the table says
				}
				got = append(got, gg)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(x, y error) bool { return x == y })); diff != "" {
				t.Errorf("grants (-want +got):\n%s", diff)
			}
			var holds []string
			for _, h := range a.Addresses(tt.claim.Owner.Key) {
				if picked[h.String()] {
					holds = append(holds, "*")
					continue
				}
				holds = append(holds, h.String())
			}
			if diff := cmp.Diff(tt.holds, holds); diff != "" {
				t.Errorf("held afterwards (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.evicted, evictions(out.Evicted)); diff != "" {
				t.Errorf("evicted (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.lost, evictions(out.Lost)); diff != "" {
				t.Errorf("lost (-want +got):\n%s", diff)
			}
			if out.Freed != tt.freed {
				t.Errorf("Freed = %v, want %v", out.Freed, tt.freed)
			}
			if err := a.CheckInvariants(); err != nil {
				t.Error(err)
			}
		})
	}
}

// errAny stands for an error the table does not name: any non-nil one.
var errAny = errors.New("any error")

func evictions(es []allocator.Eviction) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Key+" "+e.IP.String())
	}
	return out
}
