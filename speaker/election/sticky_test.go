package election_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker/election"
)

// TestSticky covers what a sticky election reads from the Services' named
// announcers, one case at a time. Each row elects 32 IPs, so a rule that
// picks the wrong node is caught by some IP whose Winner differs.
func TestSticky(t *testing.T) {
	ads := []v1beta1.L2Advertisement{l2("lan", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public"}})}
	ips := addrs("192.0.2.10", 32)
	names := nodeNames(4)
	named := func(node string) map[netip.Addr]string {
		m := map[netip.Addr]string{}
		for _, ip := range ips {
			m[ip] = node
		}
		return m
	}

	tests := []struct {
		name      string
		nodes     []election.Node
		sticky    bool
		named     []map[netip.Addr]string // per Service on each IP; two Services share each IP when two are given
		localOnly bool
		ready     []string
		want      func(ip netip.Addr) string
	}{{
		name: "named announcer alive and eligible keeps every IP", sticky: true,
		nodes: alive(names...), named: []map[netip.Addr]string{named("node-3")},
		want: func(netip.Addr) string { return "node-3" },
	}, {
		name:  "without sticky the name is ignored",
		nodes: alive(names...), named: []map[netip.Addr]string{named("node-3")},
		want: func(ip netip.Addr) string { return election.Winner(ip, names) },
	}, {
		name: "named announcer dead: the winner among the rest", sticky: true,
		nodes: dead(alive(names...), "node-3"), named: []map[netip.Addr]string{named("node-3")},
		want: func(ip netip.Addr) string { return election.Winner(ip, []string{"node-1", "node-2", "node-4"}) },
	}, {
		name: "named announcer excluded from load balancers: the winner among the rest", sticky: true,
		nodes: withLabels(alive(names...), "node-3", exclude, ""), named: []map[netip.Addr]string{named("node-3")},
		want: func(ip netip.Addr) string { return election.Winner(ip, []string{"node-1", "node-2", "node-4"}) },
	}, {
		name: "named node unknown: the winner among all", sticky: true,
		nodes: alive(names...), named: []map[netip.Addr]string{named("node-9")},
		want: func(ip netip.Addr) string { return election.Winner(ip, names) },
	}, {
		name: "no name: the winner among all", sticky: true,
		nodes: alive(names...),
		want:  func(ip netip.Addr) string { return election.Winner(ip, names) },
	}, {
		name: "Services sharing an IP name one node: it keeps the IP for both", sticky: true,
		nodes: alive(names...), named: []map[netip.Addr]string{named("node-2"), named("node-2")},
		want: func(netip.Addr) string { return "node-2" },
	}, {
		name: "a Service that joined a shared IP names nobody yet: the other's announcer keeps it", sticky: true,
		nodes: alive(names...), named: []map[netip.Addr]string{named("node-2"), {}},
		want: func(netip.Addr) string { return "node-2" },
	}, {
		name: "Services sharing an IP name two nodes (a race): the winner among those two", sticky: true,
		nodes: alive(names...), named: []map[netip.Addr]string{named("node-2"), named("node-4")},
		want: func(ip netip.Addr) string { return election.Winner(ip, []string{"node-2", "node-4"}) },
	}, {
		name: "of two named nodes one is dead: the other", sticky: true,
		nodes: dead(alive(names...), "node-4"), named: []map[netip.Addr]string{named("node-2"), named("node-4")},
		want: func(netip.Addr) string { return "node-2" },
	}, {
		name: "Local: the named announcer lost its endpoint: the winner among the ready", sticky: true,
		nodes: alive(names...), named: []map[netip.Addr]string{named("node-3")}, localOnly: true, ready: []string{"node-1", "node-2"},
		want: func(ip netip.Addr) string { return election.Winner(ip, []string{"node-1", "node-2"}) },
	}, {
		name: "Local: the named announcer is ready: it keeps the IP", sticky: true,
		nodes: alive(names...), named: []map[netip.Addr]string{named("node-3")}, localOnly: true, ready: []string{"node-1", "node-3"},
		want: func(netip.Addr) string { return "node-3" },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := buildConfig(t, testPools, ads)
			var svcs []election.Service
			for i, m := range tt.named {
				for _, s := range oneServicePerIP(ips, tt.localOnly, tt.ready...) {
					s.Key += fmt.Sprint("-", i)
					s.AnnouncedBy = m
					svcs = append(svcs, s)
				}
			}
			if len(tt.named) == 0 {
				svcs = oneServicePerIP(ips, tt.localOnly, tt.ready...)
			}
			got := winners(election.Elect(election.Input{Config: cfg, Nodes: tt.nodes, Services: svcs, Sticky: tt.sticky}))
			want := map[netip.Addr]string{}
			for _, ip := range ips {
				want[ip] = tt.want(ip)
			}
			if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
				t.Errorf("winners (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStickyAddressSpellings: a name recorded under another spelling of the
// address (IPv4-mapped, zoned) still counts, as the election keys IPs.
func TestStickyAddressSpellings(t *testing.T) {
	ads := []v1beta1.L2Advertisement{l2("lan", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public"}})}
	cfg := buildConfig(t, testPools, ads)
	names := nodeNames(4)
	for _, key := range []string{"192.0.2.9", "::ffff:192.0.2.9", "2001:db8::9%eth0"} {
		k := netip.MustParseAddr(key)
		ip := k.Unmap().WithZone("")
		// The node that would not win, so that keeping it shows the name was read.
		keeper := names[0]
		if election.Winner(ip, names) == keeper {
			keeper = names[1]
		}
		svc := election.Service{Key: "shop/web", IPs: []netip.Addr{ip}, AnnouncedBy: map[netip.Addr]string{k: keeper}}
		got := winners(election.Elect(election.Input{Config: cfg, Nodes: alive(names...), Services: []election.Service{svc}, Sticky: true}))
		if got[ip] != keeper {
			t.Errorf("named %s under %s: announced by %s, want %s", ip, key, got[ip], keeper)
		}
	}
}

func withLabels(ns []election.Node, name, key, value string) []election.Node {
	for i := range ns {
		if ns[i].Name == name {
			if ns[i].Labels == nil {
				ns[i].Labels = map[string]string{}
			}
			ns[i].Labels[key] = value
		}
	}
	return ns
}

// stickySim is a cluster whose speakers run the sticky election and whose
// announcers record themselves in the Services, as the speaker does with
// its announced condition.
type stickySim struct {
	t        *testing.T
	r        *rand.Rand
	in       election.Input
	names    []string
	alive    map[string]bool
	excluded map[string]bool
	// named is what the Services' status says, per Service and IP.
	named map[string]map[netip.Addr]string
	// now is the last election's result.
	now map[netip.Addr]string
	// moves counts every change of announcer per IP; failures counts the
	// deaths and exclusions of an IP's announcer.
	moves, failures map[netip.Addr]int
}

func newStickySim(t *testing.T, seed uint64) *stickySim {
	ads := []v1beta1.L2Advertisement{l2("lan", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"public", "private"}})}
	s := &stickySim{
		t: t, r: rand.New(rand.NewPCG(seed, 8)), names: nodeNames(5),
		alive: map[string]bool{}, excluded: map[string]bool{}, named: map[string]map[netip.Addr]string{},
		moves: map[netip.Addr]int{}, failures: map[netip.Addr]int{},
	}
	s.in = election.Input{Config: buildConfig(t, testPools, ads), Sticky: true}
	for _, n := range s.names {
		s.alive[n] = true
	}
	// 48 IPv4 and 16 IPv6 addresses, one Service each, plus a second
	// Service on every fourth IPv4 address (a shared IP) and a dual-stack
	// Service on 198.51.100.1 and 2001:db8::1.
	ips := append(addrs("198.51.100.1", 48), addrs("2001:db8::1", 16)...)
	s.in.Services = oneServicePerIP(ips, false)
	for i := 0; i < 48; i += 4 {
		s.in.Services = append(s.in.Services, election.Service{Key: fmt.Sprintf("shop/shared-%d", i), IPs: []netip.Addr{ips[i]}})
	}
	s.in.Services = append(s.in.Services, election.Service{Key: "shop/dual", IPs: []netip.Addr{ips[0], ips[48]}})
	s.elect(true)
	return s
}

// elect runs the election on a shuffled copy of the view (any speaker's
// order) and, when report is set, records the winners in the Services as
// the announcing speakers would; a speaker cut off from the API server
// reports nothing.
func (s *stickySim) elect(report bool) map[netip.Addr]string {
	in := s.in
	in.Nodes = nil
	for _, n := range s.names {
		node := election.Node{Name: n, Alive: s.alive[n]}
		if s.excluded[n] {
			node.Labels = lbls(exclude, "true")
		}
		in.Nodes = append(in.Nodes, node)
	}
	in.Services = slices.Clone(in.Services)
	for i := range in.Services {
		in.Services[i].AnnouncedBy = s.named[in.Services[i].Key]
	}
	got := winners(election.Elect(shuffledInput(s.r, in)))
	if report {
		for _, svc := range in.Services {
			m := map[netip.Addr]string{}
			for _, ip := range svc.IPs {
				if got[ip] != "" {
					m[ip] = got[ip]
				}
			}
			s.named[svc.Key] = m
		}
	}
	for ip, n := range got {
		// An address nobody could announce is not moved when a node
		// can again; one that goes from a node to nobody is.
		if prev := s.now[ip]; prev != "" && prev != n {
			s.moves[ip]++
		}
	}
	s.now = got
	return got
}

func (s *stickySim) eligible(n string) bool { return s.alive[n] && !s.excluded[n] }

// step changes one node at random: it dies, returns, is excluded or is let
// back in. It returns what happened, for failure messages.
func (s *stickySim) step() (string, string) {
	n := s.names[s.r.IntN(len(s.names))]
	switch s.r.IntN(4) {
	case 0:
		s.alive[n] = false
		return n, "dies"
	case 1:
		s.alive[n] = true
		return n, "returns"
	case 2:
		s.excluded[n] = true
		return n, "is excluded"
	default:
		s.excluded[n] = false
		return n, "is let back in"
	}
}

// TestStickyProperties drives a five-node cluster through random deaths,
// returns and eligibility changes and checks after every step that
//   - every address has exactly one announcer, an eligible alive node,
//     whenever there is one (and none otherwise);
//   - no address moves whose announcer is still alive and eligible, so a
//     node that returns or is let back in takes nothing;
//   - an address whose announcer failed moves once, and only then: over the
//     run, moves per address equal its announcer's failures (≤1 out, 0 back).
func TestStickyProperties(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			s := newStickySim(t, seed)
			for i := range 200 {
				before := s.now
				node, what := s.step()
				for ip, n := range before {
					if n != "" && !s.eligible(n) {
						s.failures[ip]++
					}
				}
				got := s.elect(true)
				var anyEligible bool
				for _, n := range s.names {
					anyEligible = anyEligible || s.eligible(n)
				}
				for ip, n := range got {
					switch {
					case n == "" && anyEligible:
						t.Fatalf("step %d (%s %s): %s announced by nobody", i, node, what, ip)
					case n != "" && !s.eligible(n):
						t.Fatalf("step %d (%s %s): %s announced by %s, which is not eligible and alive", i, node, what, ip, n)
					case before[ip] != "" && s.eligible(before[ip]) && n != before[ip]:
						t.Fatalf("step %d (%s %s): %s moved from %s, which is alive and eligible, to %s", i, node, what, ip, before[ip], n)
					}
				}
			}
			for ip, m := range s.moves {
				if m != s.failures[ip] {
					t.Errorf("%s moved %d times for %d failures of its announcer", ip, m, s.failures[ip])
				}
			}
		})
	}
}

// TestStickyWithoutReports: speakers cut off from the API server cannot
// record who announces. The election still gives every address exactly one
// eligible alive announcer, and keeps it with the node the Services still
// name while that node is eligible: a returning node then takes back what
// it held when the reports stopped, once (the rendezvous behaviour), and
// nothing moves back and forth.
func TestStickyWithoutReports(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			s := newStickySim(t, seed)
			for i := range 200 {
				node, what := s.step()
				report := s.r.IntN(3) > 0
				got := s.elect(report)
				for ip, n := range got {
					if n != "" && !s.eligible(n) {
						t.Fatalf("step %d (%s %s): %s announced by %s, which is not eligible and alive", i, node, what, ip, n)
					}
					if named := s.namedFor(ip); len(named) == 1 && s.eligible(named[0]) && named[0] != n {
						t.Fatalf("step %d (%s %s): the Services name %s, alive and eligible, for %s; announced by %s", i, node, what, named[0], ip, n)
					}
				}
			}
		})
	}
}

// namedFor returns the nodes the Services on ip name, sorted.
func (s *stickySim) namedFor(ip netip.Addr) []string {
	var out []string
	for _, svc := range s.in.Services {
		if n := s.named[svc.Key][ip]; n != "" && slices.Contains(svc.IPs, ip) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestStickyAgrees: speakers that see the same view, each in its own
// order, elect the same nodes in sticky mode too.
func TestStickyAgrees(t *testing.T) {
	s := newStickySim(t, 7)
	for range 50 {
		s.step()
		s.elect(true)
	}
	first := s.elect(false)
	for range 5 {
		if diff := cmp.Diff(first, s.elect(false), cmpAddr); diff != "" {
			t.Fatalf("two orders of one view elect differently (-first +other):\n%s", diff)
		}
	}
}
