package election_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker/election"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWinner(t *testing.T) {
	ip := netip.MustParseAddr
	five := nodeNames(5)
	tests := []struct {
		name  string
		ip    netip.Addr
		cands []string
		want  string
	}{
		{name: "no candidate", ip: ip("192.0.2.1"), want: ""},
		{name: "one candidate", ip: ip("192.0.2.1"), cands: []string{"node-1"}, want: "node-1"},
		{name: "order does not matter", ip: ip("192.0.2.1"), cands: reversed(five),
			want: election.Winner(ip("192.0.2.1"), five)},
		{name: "duplicates are harmless", ip: ip("192.0.2.1"), cands: append(slices.Clone(five), five...),
			want: election.Winner(ip("192.0.2.1"), five)},
		{name: "IPv4-mapped address is its IPv4 address", ip: ip("::ffff:192.0.2.1"), cands: five,
			want: election.Winner(ip("192.0.2.1"), five)},
		{name: "zone is ignored", ip: ip("fe80::1%eth0"), cands: five, want: election.Winner(ip("fe80::1"), five)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := election.Winner(tt.ip, tt.cands); got != tt.want {
				t.Errorf("Winner(%s, %q) = %q, want %q", tt.ip, tt.cands, got, tt.want)
			}
		})
	}
}

// TestWinnerIsStable pins winners. Speakers of different versions run side
// by side during an upgrade; if they hashed differently, two nodes would
// answer for one IP. A failure here is a protocol change, not a test to
// update. The values come from a separate implementation of the definition
// (Python: FNV-1a 64 over the address bytes, a 0 byte and the name, then
// MurmurHash3's fmix64; highest wins).
func TestWinnerIsStable(t *testing.T) {
	five := nodeNames(5)
	want := map[string]string{
		"192.0.2.1":     "node-1",
		"192.0.2.2":     "node-4",
		"192.0.2.3":     "node-1",
		"10.1.2.3":      "node-2",
		"198.51.100.77": "node-2",
		"2001:db8::1":   "node-2",
		"2001:db8::2":   "node-2",
		"fd00::beef":    "node-2",
	}
	got := map[string]string{}
	for ip := range want {
		got[ip] = election.Winner(netip.MustParseAddr(ip), five)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("winners over %q (-want +got):\n%s", five, diff)
	}
}

// rendezvousInput is a view with one pool and one advertisement for all
// nodes, and one Service per IP: 500 IPv4 and 500 IPv6 addresses.
func rendezvousInput(t testing.TB, nodes []election.Node) election.Input {
	cfg := buildConfig(t,
		[]v1beta1.IPAddressPool{ipPool("pool", nil, "10.0.0.0/16", "fd00::/112")},
		[]v1beta1.L2Advertisement{l2("lan", v1beta1.L2AdvertisementSpec{})})
	ips := append(addrs("10.0.1.0", 500), addrs("fd00::100", 500)...)
	return election.Input{Config: cfg, Nodes: nodes, Services: oneServicePerIP(ips, false)}
}

// TestAllNodesAgree: five speakers, each with its own copy of the same view
// (its own Config built from objects listed in its own order, and its own
// order of nodes and Services), elect the same nodes, and their shares
// cover every IP exactly once.
func TestAllNodesAgree(t *testing.T) {
	names := nodeNames(5)
	pools := []v1beta1.IPAddressPool{
		ipPool("a", lbls("tier", "web"), "10.0.0.0/16"),
		ipPool("b", nil, "fd00::/112"),
	}
	ads := []v1beta1.L2Advertisement{
		l2("web", v1beta1.L2AdvertisementSpec{IPAddressPoolSelectors: []metav1.LabelSelector{sel("tier", "web")}, Interfaces: []string{"eth0"}}),
		l2("v6", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"b"}, NodeSelectors: []metav1.LabelSelector{sel("v6", "yes")}}),
	}
	nodes := alive(names...)
	for i := range nodes {
		if i%2 == 0 {
			nodes[i].Labels = lbls("v6", "yes")
		}
	}
	base := rendezvousInput(t, nodes)

	r := rand.New(rand.NewPCG(1, 2))
	var views [][]election.Announcement
	for range names {
		in := shuffledInput(r, base)
		in.Config = buildConfig(t, shuffled(r, pools), shuffled(r, ads))
		views = append(views, election.Elect(in))
	}
	for i, v := range views[1:] {
		if diff := cmp.Diff(views[0], v, cmpAddr); diff != "" {
			t.Fatalf("%s and %s disagree (-%[1]s +%[2]s):\n%s", names[0], names[i+1], diff)
		}
	}

	claimed := map[netip.Addr]string{}
	for _, n := range names {
		for _, a := range election.ForNode(views[0], n) {
			if prev, ok := claimed[a.IP]; ok {
				t.Errorf("%s announced by %s and %s", a.IP, prev, n)
			}
			claimed[a.IP] = n
		}
	}
	for _, a := range views[0] {
		if claimed[a.IP] == "" {
			t.Errorf("%s announced by nobody: %s", a.IP, a.Reason)
		}
	}
}

// TestRemoveNode: when a node goes, only the IPs it won move, whether it is
// marked not alive or disappears from the view.
func TestRemoveNode(t *testing.T) {
	names := nodeNames(5)
	before := winners(election.Elect(rendezvousInput(t, alive(names...))))
	gone := "node-3"

	for _, how := range []string{"not alive", "left the view"} {
		t.Run(how, func(t *testing.T) {
			nodes := alive(names...)
			if how == "not alive" {
				nodes = dead(nodes, gone)
			} else {
				nodes = slices.DeleteFunc(nodes, func(n election.Node) bool { return n.Name == gone })
			}
			after := winners(election.Elect(rendezvousInput(t, nodes)))
			moved := 0
			for ip, was := range before {
				now := after[ip]
				switch {
				case was != gone && now != was:
					t.Errorf("%s moved from %s to %s, but only %s left", ip, was, now, gone)
				case was == gone && (now == gone || now == ""):
					t.Errorf("%s: won by %s before, by %q after", ip, gone, now)
				case was == gone:
					moved++
				}
			}
			if moved == 0 {
				t.Errorf("%s won none of %d IPs", gone, len(before))
			}
		})
	}
}

// TestAddNode: a new node takes the IPs it now wins, and nothing else moves.
func TestAddNode(t *testing.T) {
	before := winners(election.Elect(rendezvousInput(t, alive(nodeNames(5)...))))
	after := winners(election.Elect(rendezvousInput(t, alive(nodeNames(6)...))))
	taken := 0
	for ip, was := range before {
		if now := after[ip]; now != was {
			if now != "node-6" {
				t.Errorf("%s moved from %s to %s, but only node-6 joined", ip, was, now)
			}
			taken++
		}
	}
	// About a sixth of 1,000 IPs; a wide margin keeps this from being flaky
	// while still catching a hash that ignores the new node.
	if taken < 100 || taken > 240 {
		t.Errorf("node-6 took %d of %d IPs, want about a sixth", taken, len(before))
	}
}

// TestDistribution: every node gets its share. Node names that differ only
// in their last character are the case that plain FNV-1a gets wrong.
func TestDistribution(t *testing.T) {
	for _, tt := range []struct{ first, prefix string }{
		{"10.0.0.0", "node-"},
		{"2001:db8::", "node-"},
		{"192.168.0.0", "worker-"},
	} {
		names := make([]string, 5)
		for i := range names {
			names[i] = fmt.Sprintf("%s%c", tt.prefix, 'a'+i)
		}
		t.Run(tt.first+"/"+tt.prefix, func(t *testing.T) {
			const n = 10000
			won := map[string]int{}
			for _, ip := range addrs(tt.first, n) {
				won[election.Winner(ip, names)]++
			}
			for _, name := range names {
				if share := float64(won[name]) / n; share < 0.15 || share > 0.25 {
					t.Errorf("%s won %.1f%% of %d IPs, want 15%%–25%% (all: %v)", name, 100*share, n, won)
				}
			}
		})
	}
}

// TestDeterminism: the result depends on what the input says, not on the
// order it says it in, and Elect leaves its input alone.
func TestDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	pools := []v1beta1.IPAddressPool{
		ipPool("public", lbls("tier", "public"), "192.0.2.0/24", "2001:db8::/120"),
		ipPool("private", nil, "198.51.100.0/24"),
		ipPool("lonely", nil, "203.0.113.0/24"),
	}
	ads := []v1beta1.L2Advertisement{
		l2("all", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public"}, Interfaces: []string{"eth1", "eth0"}}),
		l2("zone-a", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public", "private"},
			NodeSelectors: []metav1.LabelSelector{sel("zone", "a")}, Interfaces: []string{"bond0"}}),
	}
	var nodes []election.Node
	for i, name := range nodeNames(7) {
		n := election.Node{Name: name, Labels: lbls("zone", string(rune('a'+i%3))), Alive: i != 4}
		if i == 5 {
			n.Labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
		}
		nodes = append(nodes, n)
	}
	// The same name twice: the order must not pick which entry counts.
	nodes = append(nodes, election.Node{Name: "node-2", Labels: lbls("zone", "c"), Alive: true})

	var svcs []election.Service
	all := append(append(addrs("192.0.2.1", 40), addrs("198.51.100.1", 30)...), append(addrs("203.0.113.1", 5), addrs("2001:db8::1", 40)...)...)
	for i := range 200 {
		s := election.Service{Key: fmt.Sprintf("ns%d/svc%d", i%4, i)}
		for range 1 + r.IntN(2) {
			s.IPs = append(s.IPs, all[r.IntN(len(all))]) // shared IPs, repeats included
		}
		if r.IntN(4) == 0 {
			s.LocalOnly = true
			for _, n := range nodeNames(7) {
				if r.IntN(2) == 0 {
					s.ReadyNodes = append(s.ReadyNodes, n)
				}
			}
		}
		svcs = append(svcs, s)
	}
	in := election.Input{Config: buildConfig(t, pools, ads), Nodes: nodes, Services: svcs}
	saved := fmt.Sprintf("%#v", in.Nodes) + fmt.Sprintf("%#v", in.Services)

	want := election.Elect(in)
	if got := fmt.Sprintf("%#v", in.Nodes) + fmt.Sprintf("%#v", in.Services); got != saved {
		t.Fatal("Elect modified its input")
	}
	reasons := map[string]bool{}
	for _, a := range want {
		reasons[a.Reason] = true
	}
	if len(reasons) < 3 {
		t.Fatalf("the input exercises too little: reasons %v", reasons)
	}
	for i := range 20 {
		shuf := shuffledInput(r, in)
		shuf.Config = buildConfig(t, shuffled(r, pools), shuffled(r, ads))
		if diff := cmp.Diff(want, election.Elect(shuf), cmpAddr); diff != "" {
			t.Fatalf("shuffle %d (-want +got):\n%s", i, diff)
		}
	}
}

// FuzzWinner: Winner never panics, returns "" exactly when there is no
// candidate, returns one of the candidates, and ignores their order.
func FuzzWinner(f *testing.F) {
	f.Add([]byte{192, 0, 2, 1}, "node-1\nnode-2\nnode-3")       // IPv4, typical names
	f.Add(netip.MustParseAddr("2001:db8::1").AsSlice(), "a\nb") // IPv6
	f.Add([]byte{}, "node-1")                                   // not an address: the zero Addr
	f.Add([]byte{10, 0, 0, 1}, "")                              // no candidate
	f.Add([]byte{10, 0, 0, 1}, "\n\n")                          // empty names are candidates too
	f.Add([]byte{10, 0, 0, 1}, "x\nx\ny")                       // duplicates
	f.Fuzz(func(t *testing.T, ipBytes []byte, names string) {
		ip, _ := netip.AddrFromSlice(ipBytes)
		var cands []string
		if names != "" {
			cands = strings.Split(names, "\n")
		}
		got := election.Winner(ip, cands)
		if len(cands) == 0 {
			if got != "" {
				t.Fatalf("Winner(%s, none) = %q", ip, got)
			}
			return
		}
		if !slices.Contains(cands, got) {
			t.Fatalf("Winner(%s, %q) = %q, not a candidate", ip, cands, got)
		}
		if rev := election.Winner(ip, reversed(cands)); rev != got {
			t.Fatalf("Winner(%s, %q) = %q, but %q reversed", ip, cands, got, rev)
		}
	})
}
