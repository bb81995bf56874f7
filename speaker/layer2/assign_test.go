package layer2

import (
	"net"
	"net/netip"
	"testing"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"

	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/layer2/plan"
)

func TestNormalize(t *testing.T) {
	in := map[netip.Addr][]string{
		netip.MustParseAddr("::ffff:192.0.2.10"): {"eth1", "eth0", "eth1", ""},
		netip.MustParseAddr("2001:db8::10%eth0"): nil,
		netip.MustParseAddr("fe80::1"):           {"eth0"},
		netip.MustParseAddr("224.0.0.1"):         nil,
		netip.MustParseAddr("0.0.0.0"):           nil,
		netip.MustParseAddr("127.0.0.1"):         nil,
		netip.MustParseAddr("255.255.255.255"):   nil,
	}
	got, rejected := plan.Normalize(in)
	want := map[netip.Addr][]string{
		vip4: {"eth0", "eth1"},
		vip6: nil,
	}
	if diff := cmp.Diff(want, got, equateAddrs); diff != "" {
		t.Errorf("normalize (-want +got):\n%s", diff)
	}
	wantRejected := []netip.Addr{
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("224.0.0.1"),
		netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("fe80::1"),
	}
	if diff := cmp.Diff(wantRejected, rejected, equateAddrs); diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}
}

func TestAssign(t *testing.T) {
	up := net.FlagUp | net.FlagRunning
	mac := func(b byte) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, b} }
	links := map[string]link{
		"eth0": {name: "eth0", flags: up, mac: mac(1), prefixes: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("fe80::1/64"),
		}},
		"eth1": {name: "eth1", flags: up, mac: mac(2), prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.1/24")}},
		// Same subnet as eth0 but down: skipped, named or not.
		"eth2": {name: "eth2", flags: net.FlagUp, mac: mac(3), prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/24")}},
		"lo":   {name: "lo", flags: up | net.FlagLoopback, prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		"wg0":  {name: "wg0", flags: up, prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.3/24")}},
	}
	other6 := netip.MustParseAddr("2001:db8:1::10")
	tests := []struct {
		name         string
		want         map[netip.Addr][]string
		wantPlan     plan.Interfaces
		problemNames []string
	}{
		{
			name:     "no names: every usable link whose subnet holds the IP",
			want:     map[netip.Addr][]string{vip4: nil, vip6: nil, other6: nil},
			wantPlan: plan.Interfaces{"eth0": {V4: []netip.Addr{vip4}, V6: []netip.Addr{vip6}}},
		},
		{
			name:     "names: those interfaces, subnet or not",
			want:     map[netip.Addr][]string{vip4: {"eth1"}, other6: {"eth0", "eth1"}},
			wantPlan: plan.Interfaces{"eth0": {V6: []netip.Addr{other6}}, "eth1": {V4: []netip.Addr{vip4}, V6: []netip.Addr{other6}}},
		},
		{
			name:     "down link named: skipped quietly",
			want:     map[netip.Addr][]string{vip4: {"eth2"}},
			wantPlan: plan.Interfaces{},
		},
		{
			name:         "missing and non-Ethernet links named: problems",
			want:         map[netip.Addr][]string{vip4: {"eth9", "lo", "wg0", "eth0"}},
			wantPlan:     plan.Interfaces{"eth0": {V4: []netip.Addr{vip4}}},
			problemNames: []string{"eth9", "lo", "wg0"},
		},
		{
			name:     "several IPs per interface, sorted",
			want:     map[netip.Addr][]string{other4: {"eth0"}, vip4: {"eth0"}},
			wantPlan: plan.Interfaces{"eth0": {V4: []netip.Addr{vip4, other4}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			norm, _ := plan.Normalize(tt.want)
			p, problems := plan.Assign(norm, planLinks(links))
			if diff := cmp.Diff(tt.wantPlan, p, equateAddrs); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			var names []string
			for name, err := range problems {
				names = append(names, name)
				if err == nil {
					t.Errorf("problem %q has no error", name)
				}
			}
			if diff := cmp.Diff(tt.problemNames, names, cmpSortStrings); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnplaced: an address this node is to answer for but cannot (no
// Ethernet interface on its subnet, its named interfaces missing or not
// Ethernet, or not unicast) is reported with the reason, so the speaker does
// not claim to announce it. A link that is merely down still counts.
func TestUnplaced(t *testing.T) {
	up := net.FlagUp | net.FlagRunning
	links := map[string]link{
		"eth0": {name: "eth0", flags: up, mac: net.HardwareAddr{2, 0, 0, 0, 0, 1}, prefixes: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("2001:db8::1/64"),
		}},
		"eth2": {name: "eth2", flags: net.FlagUp, mac: net.HardwareAddr{2, 0, 0, 0, 0, 3}, prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.1/24")}},
		"lo":   {name: "lo", flags: up | net.FlagLoopback, prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		"wg0":  {name: "wg0", flags: up, prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.1/24")}},
	}
	offSubnet := netip.MustParseAddr("203.0.113.7")
	downSubnet := netip.MustParseAddr("198.51.100.7")
	mapped := netip.MustParseAddr("::ffff:203.0.113.8")
	multicast := netip.MustParseAddr("224.0.0.5")
	vipNamed := netip.MustParseAddr("192.0.2.99")
	want := map[netip.Addr][]string{
		vip4: nil, vip6: nil, // on eth0
		downSubnet: nil, // eth2 holds the subnet and has no carrier: a flap
		other4:     {"eth2"},
		offSubnet:  nil, // only wg0, which is not Ethernet, holds the subnet
		mapped:     nil,
		vipNamed:   {"eth9", "wg0", "lo"},
		multicast:  nil,
	}

	a := New(Config{}, logr.Discard())
	if got, known := a.Unplaced(want); known || len(got) != 1 {
		t.Errorf("before the first scan: Unplaced = %v, %v; want only the multicast address, not known", got, known)
	}
	a.links = links
	got, known := a.Unplaced(want)
	if !known {
		t.Fatal("after a scan: not known")
	}
	const noSubnet = "no Ethernet interface has a subnet containing it"
	wantWhy := map[netip.Addr]string{
		offSubnet: noSubnet,
		mapped:    noSubnet,
		vipNamed:  "none of its interfaces (eth9, lo, wg0) exists as an Ethernet interface",
		multicast: "it is not a unicast address, which nobody resolves with ARP/NDP",
	}
	if diff := cmp.Diff(wantWhy, got, equateAddrs); diff != "" {
		t.Errorf("Unplaced (-want +got):\n%s", diff)
	}
}

// TestStatus: the speaker's view of Unplaced. Layer 2 reports the addresses
// this node is elected for, answered unless Unplaced finds no interface,
// and nothing for those it is merely eligible for.
func TestStatus(t *testing.T) {
	placed, off, eligible := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("192.0.2.8")
	d := announce.Desired{
		placed:   {Elected: true, Eligible: true, Interfaces: []string{"eth0"}},
		off:      {Elected: true, Eligible: true},
		eligible: {Eligible: true},
	}
	a := New(Config{}, logr.Discard())
	if _, known := a.Status(d); known {
		t.Error("known before the first scan")
	}
	a.links = map[string]link{"eth0": {name: "eth0", flags: net.FlagUp | net.FlagRunning, mac: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")}}}
	got, known := a.Status(d)
	if !known {
		t.Fatal("after a scan: not known")
	}
	want := map[netip.Addr]announce.Status{
		placed: {Announced: true, Method: "ARP/NDP", Interfaces: []string{"eth0"}},
		off:    {Method: "ARP/NDP", Why: "no Ethernet interface has a subnet containing it"},
	}
	if diff := cmp.Diff(want, got, equateAddrs); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}
}
