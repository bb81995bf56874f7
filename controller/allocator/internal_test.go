package allocator

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portico-lb/portico/internal/iprange"
)

func TestSetOptionsDefaults(t *testing.T) {
	seeded := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name     string
		in       Options
		wantSame *rand.Rand // nil: a fresh generator is expected
	}{
		{name: "nil Rand gets a generator", in: Options{}},
		{name: "given Rand is kept", in: Options{Rand: seeded}, wantSame: seeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := setOptionsDefaults(tt.in)
			if got.Rand == nil {
				t.Fatal("Rand is nil after defaulting")
			}
			if tt.wantSame != nil && got.Rand != tt.wantSame {
				t.Error("the caller's Rand was replaced")
			}
		})
	}
}

func TestBandFor(t *testing.T) {
	tests := []struct {
		size u128
		want uint64
	}{
		{u128{0, 1}, 0},
		{u128{0, 16}, 0}, // too small to split, as in Kubernetes
		{u128{0, 17}, 16},
		{u128{0, 256}, 16},
		{u128{0, 300}, 18},
		{u128{0, 4096}, 256},
		{u128{0, 1 << 24}, 256},
		{u128{1, 0}, 256}, // an IPv6 /64
		{u128{math.MaxUint64, math.MaxUint64}, 256},
	}
	for _, tt := range tests {
		if got := bandFor(tt.size); got != tt.want {
			t.Errorf("bandFor(%v) = %d, want %d", tt.size, got, tt.want)
		}
	}
}

func TestAvoidedBetween(t *testing.T) {
	tests := []struct {
		name        string
		first, last uint64
		want        uint64
	}{
		{"one block", 0, 255, 2},
		{"inside a block", 1, 254, 0},
		{"only .0", 0, 0, 1},
		{"only .255", 255, 255, 1},
		{"across a boundary", 255, 256, 2},
		{"empty", 5, 4, 0},
		{"a /8", 10 << 24, 10<<24 | 0xffffff, 2 << 16},
		{"all IPv4", 0, math.MaxUint32, 2 << 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := avoidedBetween(tt.first, tt.last); got != tt.want {
				t.Errorf("avoidedBetween(%d, %d) = %d, want %d", tt.first, tt.last, got, tt.want)
			}
		})
	}
}

// TestRangeStateCounts checks the arithmetic counts against enumeration on
// ranges small enough to enumerate.
func TestRangeStateCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	base := v4(netip.MustParseAddr("192.0.2.0"))
	for i := range 500 {
		first := base + rng.Uint64N(1024)
		last := first + rng.Uint64N(1500)
		r := iprange.Range{First: addr4(first), Last: addr4(last)}
		for _, avoid := range []bool{false, true} {
			p := &poolState{name: "p", avoidBuggy: avoid}
			rs := newRangeState(r, p)
			var valid, validUp uint64
			for x := first; x <= last; x++ {
				if p.avoids(addr4(x)) {
					continue
				}
				valid++
				if x-first >= rs.band {
					validUp++
				}
			}
			want := [3]uint64{last - first + 1, valid, validUp}
			got := [3]uint64{rs.size.lo, rs.valid.lo, rs.validUp.lo}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("case %d %s avoid=%v: [size valid validUp] (-want +got):\n%s", i, r, avoid, diff)
			}
		}
	}
}

func addr4(x uint64) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
}

func TestU128(t *testing.T) {
	max128 := u128{math.MaxUint64, math.MaxUint64}
	tests := []struct {
		name string
		got  u128
		want u128
	}{
		{"add carries", u128{0, math.MaxUint64}.add(u128{0, 1}), u128{1, 0}},
		{"add saturates", max128.add(u128{0, 1}), max128},
		{"sub borrows", u128{1, 0}.sub(u128{0, 1}), u128{0, math.MaxUint64}},
		{"sub floors at zero", u128{0, 1}.sub(u128{0, 2}), u128{}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if got := (u128{1, 0}).sat64(); got != math.MaxUint64 {
		t.Errorf("sat64(2^64) = %d", got)
	}
}
