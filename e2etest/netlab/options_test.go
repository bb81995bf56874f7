package netlab

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSetOptionsDefaults(t *testing.T) {
	// seven returns 7 for every random pick: prefix pt7777, subnet X = 7.
	seven := func(int) int { return 7 }
	v4 := netip.MustParsePrefix("10.9.0.0/16")
	v6 := netip.MustParsePrefix("fd00:9::/64")
	tests := []struct {
		name    string
		in      Options
		want    Options
		wantErr string
	}{{
		name: "zero value",
		want: Options{Prefix: "pt7777", Nodes: 3,
			LANv4: netip.MustParsePrefix("10.213.7.0/24"), LANv6: netip.MustParsePrefix("fd00:213:7::/64")},
	}, {
		name: "everything set",
		in:   Options{Prefix: "ptlab1", Nodes: 89, NoClient: true, LANv4: v4, LANv6: v6},
		want: Options{Prefix: "ptlab1", Nodes: 89, NoClient: true, LANv4: v4, LANv6: v6},
	}, {
		name:    "prefix without pt",
		in:      Options{Prefix: "lab123"},
		wantErr: `prefix "lab123"`,
	}, {
		name:    "prefix too long for link names",
		in:      Options{Prefix: "pt12345"},
		wantErr: `prefix "pt12345"`,
	}, {
		name:    "uppercase prefix",
		in:      Options{Prefix: "ptABCD"},
		wantErr: `prefix "ptABCD"`,
	}, {
		name:    "too many nodes",
		in:      Options{Nodes: 90},
		wantErr: "90 nodes",
	}, {
		name:    "negative nodes",
		in:      Options{Nodes: -1},
		wantErr: "-1 nodes",
	}, {
		name:    "IPv4 subnet too small",
		in:      Options{LANv4: netip.MustParsePrefix("10.1.1.0/25")},
		wantErr: "LANv4 10.1.1.0/25",
	}, {
		name:    "IPv4 subnet not masked",
		in:      Options{LANv4: netip.MustParsePrefix("10.1.1.1/24")},
		wantErr: "LANv4 10.1.1.1/24",
	}, {
		name:    "IPv6 in LANv4",
		in:      Options{LANv4: v6},
		wantErr: "LANv4 fd00:9::/64",
	}, {
		name:    "IPv6 subnet too small",
		in:      Options{LANv6: netip.MustParsePrefix("fd00::/120")},
		wantErr: "LANv6 fd00::/120",
	}, {
		name:    "IPv4 in LANv6",
		in:      Options{LANv6: v4},
		wantErr: "LANv6 10.9.0.0/16",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setOptionsDefaults(tc.in, seven)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("setOptionsDefaults (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostAddrs(t *testing.T) {
	tests := []struct {
		v4, v6       string
		id           int
		want4, want6 string
	}{
		{"10.213.57.0/24", "fd00:213:57::/64", 1, "10.213.57.1", "fd00:213:57::1"},
		{"10.213.57.0/24", "fd00:213:57::/64", 11, "10.213.57.11", "fd00:213:57::11"},
		{"10.213.57.0/24", "fd00:213:57::/64", 255, "10.213.57.255", "fd00:213:57::255"},
		{"10.9.0.0/16", "fd00:9::/112", 100, "10.9.0.100", "fd00:9::100"},
	}
	for _, tc := range tests {
		a4, a6 := hostAddrs(netip.MustParsePrefix(tc.v4), netip.MustParsePrefix(tc.v6), tc.id)
		if a4.String() != tc.want4 || a6.String() != tc.want6 {
			t.Errorf("hostAddrs(%s, %s, %d) = %s, %s; want %s, %s", tc.v4, tc.v6, tc.id, a4, a6, tc.want4, tc.want6)
		}
	}
}

func TestHostTag(t *testing.T) {
	tests := []struct{ name, want, wantErr string }{
		{name: "node-1", want: "n1"},
		{name: "node-89", want: "n89"},
		{name: "client", want: "c"},
		{name: "router", want: "r"},
		{name: "db-2", want: "d2"},
		{name: "Node-1", wantErr: "bad host"},
		{name: "1node", wantErr: "bad host"},
		{name: "", wantErr: "bad host"},
		{name: "n123456789", wantErr: "longer than 9"},
	}
	for _, tc := range tests {
		got, err := hostTag(tc.name)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("hostTag(%q) error = %v, want one containing %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("hostTag(%q) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestLabNames(t *testing.T) {
	// Names of one lab never match another lab's prefix, even when one
	// prefix starts with another's characters.
	for _, tc := range []struct {
		re     string
		name   string
		prefix string // "" for no match
	}{
		{"ns", "pt3f2a-node-1", "pt3f2a"},
		{"ns", "pt3f2a-pod-1a", "pt3f2a"},
		{"ns", "pt3f2-node-1", ""},
		{"ns", "kpx-n1", ""},
		{"link", "pt3f2abr", "pt3f2a"},
		{"link", "pt3f2an1", "pt3f2a"},
		{"link", "pt3f2ac", "pt3f2a"},
		{"link", "pt3f2an1x", ""},
		{"link", "pt3f2", ""},
		{"link", "eth0", ""},
		{"link", "ptestxeth0", ""},
	} {
		re := nsRE
		if tc.re == "link" {
			re = linkRE
		}
		got := ""
		if m := re.FindStringSubmatch(tc.name); m != nil {
			got = m[1]
		}
		if got != tc.prefix {
			t.Errorf("%s %q: lab %q, want %q", tc.re, tc.name, got, tc.prefix)
		}
	}
}

func TestOverlapsAny(t *testing.T) {
	taken := []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("10.219.0.0/24"),
		netip.MustParsePrefix("192.0.2.2/32"),
		netip.MustParsePrefix("fd00::/64"),
	}
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"10.213.7.0/24", false}, // the default route does not count
		{"10.219.0.0/24", true},
		{"10.219.0.0/16", true},
		{"192.0.2.0/24", true},
		{"fd00:213:7::/64", false},
		{"fd00::/48", true},
	} {
		if _, got := overlapsAny(netip.MustParsePrefix(tc.p), taken); got != tc.want {
			t.Errorf("overlapsAny(%s) = %v, want %v", tc.p, got, tc.want)
		}
	}
}
