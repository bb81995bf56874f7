package iprange

import (
	"math"
	"net/netip"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in        string
		want      string // Range.String(); empty when an error is expected
		size      uint64
		errSubstr string
	}{
		{in: "192.0.2.0/24", want: "192.0.2.0/24", size: 256},
		{in: "192.0.2.7/32", want: "192.0.2.7/32", size: 1},
		{in: "192.0.2.9/24", errSubstr: "did you mean 192.0.2.0/24 or 192.0.2.9/32"},
		{in: "192.0.2.10-192.0.2.20", want: "192.0.2.10-192.0.2.20", size: 11},
		{in: " 192.0.2.0 - 192.0.2.255 ", want: "192.0.2.0/24", size: 256},
		{in: "10.0.0.0/8", want: "10.0.0.0/8", size: 1 << 24},
		{in: "fd00::/64", want: "fd00::/64", size: math.MaxUint64},
		{in: "fd00::/120", want: "fd00::/120", size: 256},
		{in: "fd00::1-fd00::ff", want: "fd00::1-fd00::ff", size: 255},
		{in: "::/0", want: "::/0", size: math.MaxUint64},
		{in: "192.0.2.20-192.0.2.10", errSubstr: "first address is after last"},
		{in: "192.0.2.1-fd00::1", errSubstr: "different families"},
		{in: "192.0.2.1", errSubstr: "not a CIDR"},
		{in: "192.0.2.0/33", errSubstr: "not a CIDR"},
		{in: "fe80::1%eth0-fe80::2", errSubstr: "zones"},
		{in: "::ffff:192.0.2.1/128", errSubstr: "IPv4-mapped"},
		{in: "", errSubstr: "not a CIDR"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := Parse(tt.in)
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tt.in, err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := r.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := r.Size(); got != tt.size {
				t.Errorf("Size() = %d, want %d", got, tt.size)
			}
		})
	}
}

func TestContainsOverlaps(t *testing.T) {
	r, _ := Parse("192.0.2.10-192.0.2.20")
	for _, tt := range []struct {
		addr string
		want bool
	}{{"192.0.2.9", false}, {"192.0.2.10", true}, {"192.0.2.20", true}, {"192.0.2.21", false}, {"::ffff:192.0.2.15", false}} {
		if got := r.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	for _, tt := range []struct {
		other string
		want  bool
	}{{"192.0.2.0/28", true}, {"192.0.2.20/32", true}, {"192.0.2.21-192.0.2.30", false}, {"fd00::/8", false}} {
		o, _ := Parse(tt.other)
		if got := r.Overlaps(o); got != tt.want {
			t.Errorf("Overlaps(%s) = %v, want %v", tt.other, got, tt.want)
		}
	}
}

func TestAdd(t *testing.T) {
	for _, tt := range []struct {
		a    string
		n    uint64
		want string
	}{
		{"192.0.2.255", 1, "192.0.3.0"},
		{"255.255.255.255", 1, ""},
		{"fd00::ffff:ffff:ffff:ffff", 1, "fd00:0:0:1::"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, ""},
	} {
		got, ok := Add(netip.MustParseAddr(tt.a), tt.n)
		if tt.want == "" {
			if ok {
				t.Errorf("Add(%s, %d) = %s, want overflow", tt.a, tt.n, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("Add(%s, %d) = %s, %v, want %s", tt.a, tt.n, got, ok, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{"192.0.2.0/24", "fd00::1-fd00::ff", "1.2.3.4-1.2.3.3", "::/0"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		// Property: a parsed range round-trips through String.
		again, err := Parse(r.String())
		if err != nil || again != r {
			t.Fatalf("Parse(%q) = %v; re-parse of %q = %v, %v", s, r, r.String(), again, err)
		}
		if r.Last.Less(r.First) {
			t.Fatalf("Parse(%q) gave First > Last", s)
		}
	})
}
