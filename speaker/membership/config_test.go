package membership

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// netipCmp lets cmp compare the netip types, whose fields are unexported.
var netipCmp = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{})

func TestSetConfigDefaults(t *testing.T) {
	addr := netip.MustParseAddr("192.0.2.10")
	defaults := Config{
		BindPort:       7946,
		ProbeInterval:  70 * time.Millisecond,
		ProbeTimeout:   35 * time.Millisecond,
		SuspicionMult:  2,
		GossipInterval: 50 * time.Millisecond,
		RetransmitMult: 3,
		HoldDown:       3 * time.Second,
		LeaseDuration:  15 * time.Second,
		RenewInterval:  5 * time.Second,
	}
	custom := Config{
		NodeName:       "node-1",
		BindAddr:       addr,
		BindPort:       17946,
		Namespace:      "portico-system",
		Subnets:        []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		ProbeInterval:  time.Second,
		ProbeTimeout:   300 * time.Millisecond,
		SuspicionMult:  4,
		GossipInterval: 200 * time.Millisecond,
		RetransmitMult: 4,
		HoldDown:       10 * time.Second,
		LeaseDuration:  40 * time.Second,
		RenewInterval:  10 * time.Second,
		SecretKey:      []byte("0123456789abcdef"),
		SecondaryKeys:  [][]byte{[]byte("fedcba9876543210")},
	}
	for _, tc := range []struct {
		name string
		in   Config
		want Config
	}{
		{name: "zero value gets every default", in: Config{}, want: defaults},
		{
			name: "identity fields are kept",
			in:   Config{NodeName: "node-1", BindAddr: addr, Namespace: "ns"},
			want: func() Config {
				c := defaults
				c.NodeName, c.BindAddr, c.Namespace = "node-1", addr, "ns"
				return c
			}(),
		},
		{name: "explicit values are kept", in: custom, want: custom},
		{
			name: "negative hold-down stays: it disables hold-down",
			in:   Config{HoldDown: -1},
			want: func() Config { c := defaults; c.HoldDown = -1; return c }(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := setConfigDefaults(tc.in)
			if diff := cmp.Diff(tc.want, got, netipCmp, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("setConfigDefaults (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(got, setConfigDefaults(got), netipCmp, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

func TestSetConfigDefaultsCopiesSlices(t *testing.T) {
	in := Config{Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, SecretKey: []byte("0123456789abcdef"),
		SecondaryKeys: [][]byte{[]byte("fedcba9876543210")}}
	got := setConfigDefaults(in)
	in.Subnets[0] = netip.MustParsePrefix("10.9.0.0/16")
	in.SecretKey[0] = 'X'
	in.SecondaryKeys[0][0] = 'X'
	if got.Subnets[0] != netip.MustParsePrefix("10.0.0.0/8") || got.SecretKey[0] != '0' || got.SecondaryKeys[0][0] != 'f' {
		t.Error("the defaulted Config shares slices with the caller's")
	}
}

func TestConfigValidate(t *testing.T) {
	valid := setConfigDefaults(Config{NodeName: "node-1", BindAddr: netip.MustParseAddr("192.0.2.10"), Namespace: "ns"})
	many := make([]netip.Prefix, 40)
	for i := range many {
		many[i] = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i), 1, 2, 3, 4, 5, 6, 7}), 64)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" for valid
	}{
		{name: "defaults are valid", mutate: func(*Config) {}},
		{name: "IPv6 bind address", mutate: func(c *Config) { c.BindAddr = netip.MustParseAddr("2001:db8::10") }},
		{name: "hold-down disabled", mutate: func(c *Config) { c.HoldDown = -1 }},
		{name: "32-byte key", mutate: func(c *Config) { c.SecretKey = make([]byte, 32) }},
		{name: "no node name", mutate: func(c *Config) { c.NodeName = "" }, want: "NodeName is required"},
		{name: "node name not a DNS name", mutate: func(c *Config) { c.NodeName = "Node_1" }, want: "valid Lease name"},
		{name: "no bind address", mutate: func(c *Config) { c.BindAddr = netip.Addr{} }, want: "BindAddr"},
		{name: "unspecified bind address", mutate: func(c *Config) { c.BindAddr = netip.IPv4Unspecified() }, want: "BindAddr"},
		{name: "port too big", mutate: func(c *Config) { c.BindPort = 70000 }, want: "BindPort"},
		{name: "invalid subnet", mutate: func(c *Config) { c.Subnets = []netip.Prefix{{}} }, want: "invalid subnet"},
		{name: "subnets beyond memberlist metadata", mutate: func(c *Config) { c.Subnets = many }, want: "memberlist carries"},
		{name: "probe timeout not below interval", mutate: func(c *Config) { c.ProbeTimeout = c.ProbeInterval }, want: "ProbeTimeout"},
		{name: "suspicion multiplier 1", mutate: func(c *Config) { c.SuspicionMult = 1 }, want: "SuspicionMult"},
		{name: "lease below a second", mutate: func(c *Config) { c.LeaseDuration = 500 * time.Millisecond }, want: "LeaseDuration"},
		{name: "renew not below lease", mutate: func(c *Config) { c.RenewInterval = c.LeaseDuration }, want: "RenewInterval"},
		{name: "key of 10 bytes", mutate: func(c *Config) { c.SecretKey = make([]byte, 10) }, want: "SecretKey"},
		{name: "primary and secondary keys", mutate: func(c *Config) {
			c.SecretKey, c.SecondaryKeys = make([]byte, 32), [][]byte{make([]byte, 16), make([]byte, 24)}
		}},
		{name: "secondary key of 10 bytes", mutate: func(c *Config) {
			c.SecretKey, c.SecondaryKeys = make([]byte, 32), [][]byte{make([]byte, 16), make([]byte, 10)}
		}, want: "SecondaryKeys[1] has 10 bytes"},
		{name: "secondary keys without a primary", mutate: func(c *Config) { c.SecondaryKeys = [][]byte{make([]byte, 16)} },
			want: "SecondaryKeys without a SecretKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.mutate(&c)
			err := c.validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
