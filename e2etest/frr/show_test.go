package frr

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The files in testdata are FRR 8.4.4's and iproute2's own output, captured
// with PORTICO_FRR_CAPTURE (see capture); ibgp-* from TestIBGP, the rest
// from TestRouterPeersWithRealSpeakers while node-1
// (10.213.83.11, AS 64601) and node-2 (.12, AS 64602) both announced
// 198.51.100.7/32 and 2001:db8:b6::7/128 to the router (.2, AS 64512).

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	a = netip.MustParseAddr
	p = netip.MustParsePrefix
)

func TestParseRoutes(t *testing.T) {
	for _, tc := range []struct {
		file string
		want map[netip.Prefix][]Path
	}{
		{"show-bgp-ipv4-unicast-json-detail.json", map[netip.Prefix][]Path{p("198.51.100.7/32"): {
			{Peer: a("10.213.83.12"), NextHops: []netip.Addr{a("10.213.83.12")}, ASPath: "64602",
				Communities: []string{"64602:100"}, LargeCommunities: []string{"64602:1:2"}, LocalPref: 100, Multipath: true, Valid: true},
			{Peer: a("10.213.83.11"), NextHops: []netip.Addr{a("10.213.83.11")}, ASPath: "64601",
				Communities: []string{"64601:100"}, LargeCommunities: []string{"64601:1:1"}, LocalPref: 100, Best: true, Multipath: true, Valid: true},
		}}},
		{"show-bgp-ipv6-unicast-json-detail.json", map[netip.Prefix][]Path{p("2001:db8:b6::7/128"): {
			{Peer: a("fd00:213:157::12"), NextHops: []netip.Addr{a("fd00:213:157::12"), a("fe80::aff:fed5:530c")}, ASPath: "64602",
				Communities: []string{"64602:100"}, LargeCommunities: []string{"64602:1:2"}, LocalPref: 100, Multipath: true, Valid: true},
			{Peer: a("fd00:213:157::11"), NextHops: []netip.Addr{a("fd00:213:157::11"), a("fe80::aff:fed5:530b")}, ASPath: "64601",
				Communities: []string{"64601:100"}, LargeCommunities: []string{"64601:1:1"}, LocalPref: 100, Best: true, Multipath: true, Valid: true},
		}}},
		// TestIBGP: node-1 in AS 64512 sets local-preference 250; FRR
		// writes the empty AS path as "Local".
		{"ibgp-show-bgp-ipv4-unicast-json-detail.json", map[netip.Prefix][]Path{p("198.51.100.9/32"): {
			{Peer: a("10.213.112.11"), NextHops: []netip.Addr{a("10.213.112.11")},
				Communities: []string{"64512:100"}, LargeCommunities: []string{"64512:1:1"}, LocalPref: 250, Best: true, Valid: true},
		}}},
		// node-1's own table: its network, a local path.
		{"node-show-bgp-ipv4-unicast-json-detail.json", map[netip.Prefix][]Path{p("198.51.100.7/32"): {
			{Communities: []string{"64601:100"}, LargeCommunities: []string{"64601:1:1"}, LocalPref: 100, Best: true, Valid: true},
		}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := parseRoutes(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
				t.Errorf("parseRoutes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseNeighbors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want map[netip.Addr]Session
	}{
		{"show-bgp-neighbors-json.json", map[netip.Addr]Session{
			a("10.213.83.11"):     {State: "Established", RemoteASN: 64601, Uptime: 5 * time.Second, RemoteGRMode: "Helper"},
			a("10.213.83.12"):     {State: "Established", RemoteASN: 64602, Uptime: 5 * time.Second, RemoteGRMode: "Helper"},
			a("fd00:213:157::11"): {State: "Established", RemoteASN: 64601, Uptime: 5 * time.Second, RemoteGRMode: "Helper"},
			a("fd00:213:157::12"): {State: "Established", RemoteASN: 64602, Uptime: 5 * time.Second, RemoteGRMode: "Helper"},
		}},
		// node-2 after the router removed it as an IPv4 neighbor.
		{"node-show-bgp-neighbors-json.json", map[netip.Addr]Session{
			a("10.213.83.2"):     {State: "Idle", RemoteASN: 64512, RemoteGRMode: "NotApplicable"},
			a("fd00:213:157::2"): {State: "Established", RemoteASN: 64512, Uptime: 6 * time.Second, RemoteGRMode: "Helper"},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := parseNeighbors(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
				t.Errorf("parseNeighbors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFIB(t *testing.T) {
	for _, tc := range []struct {
		file string
		fam  Family
		in   []byte
		want map[netip.Prefix]FIBRoute
	}{
		{file: "ip-4-route.json", fam: IPv4, want: map[netip.Prefix]FIBRoute{
			p("10.213.83.0/24"):  {Protocol: "kernel"},
			p("198.51.100.7/32"): {Protocol: "bgp", NextHops: []netip.Addr{a("10.213.83.11"), a("10.213.83.12")}},
		}},
		{file: "ip-6-route.json", fam: IPv6, want: map[netip.Prefix]FIBRoute{
			p("2001:db8:b6::7/128"): {Protocol: "bgp", NextHops: []netip.Addr{a("fd00:213:157::11"), a("fd00:213:157::12")}},
			p("fd00:213:157::/64"):  {Protocol: "kernel"},
			p("fe80::/64"):          {Protocol: "kernel"},
		}},
		// Written by hand in ip's shape: one gateway, a default route, and
		// a blackhole that is no route to anywhere.
		{file: "single gateway", fam: IPv4, in: []byte(`[{"dst":"default","gateway":"10.0.0.1","dev":"eth0","protocol":"static","flags":[]},
			{"dst":"198.51.100.9","nhid":7,"gateway":"10.0.0.11","dev":"eth0","protocol":"bgp","metric":20,"flags":[]},
			{"type":"blackhole","dst":"192.0.2.0/24","protocol":"static","flags":[]}]`),
			want: map[netip.Prefix]FIBRoute{
				p("0.0.0.0/0"):       {Protocol: "static", NextHops: []netip.Addr{a("10.0.0.1")}},
				p("198.51.100.9/32"): {Protocol: "bgp", NextHops: []netip.Addr{a("10.0.0.11")}},
			}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in := tc.in
			if in == nil {
				in = readTestdata(t, tc.file)
			}
			got, err := parseFIB(tc.fam, in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
				t.Errorf("parseFIB (-want +got):\n%s", diff)
			}
			for pfx, r := range got {
				if r.Multipath() != (len(r.NextHops) > 1) {
					t.Errorf("%s: Multipath() = %v with %d next hops", pfx, r.Multipath(), len(r.NextHops))
				}
			}
		})
	}
}

// The parsers read what another program printed: whatever it prints, they
// return an error or a result, never panic. Seeds: the captured outputs.
func FuzzParse(f *testing.F) {
	for _, name := range []string{
		"show-bgp-ipv4-unicast-json-detail.json", "show-bgp-ipv6-unicast-json-detail.json",
		"node-show-bgp-ipv4-unicast-json-detail.json", "show-bgp-neighbors-json.json",
		"node-show-bgp-neighbors-json.json", "ip-4-route.json", "ip-6-route.json",
		"ibgp-show-bgp-ipv4-unicast-json-detail.json", "show-bfd-peers-json.json",
	} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`{"routes":{"198.51.100.7/32":[{"prefix":"x"},{"nexthops":[{"ip":"::"}]}]}}`)) // header and a local IPv6 path
	f.Add([]byte(`[{"dst":"default"}]`))                                                        // default route, no gateway
	f.Add([]byte(`[{"peer":"10.0.0.1","local":"","status":"up","uptime":-1}]`))                 // a BFD session without a local address
	f.Fuzz(func(t *testing.T, b []byte) {
		parseRoutes(b)
		parseNeighbors(b)
		parseFIB(IPv4, b)
		parseFIB(IPv6, b)
		// A session bfdd lists must come back with its peer address.
		if peers, err := parseBFDPeers(b); err == nil {
			for _, p := range peers {
				if !p.Peer.IsValid() {
					t.Fatalf("BFD session without a peer address: %+v", p)
				}
			}
		}
	})
}
