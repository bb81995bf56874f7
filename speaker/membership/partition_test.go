package membership

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// sim runs one holdDown per speaker and carries verdicts between them the
// way memberlist metadata does: a node learns a peer's verdict as it is at
// the moment the peer comes back.
type sim struct {
	t     *testing.T
	now   time.Time
	hold  time.Duration
	nodes map[string]*holdDown
}

// newSim starts the named speakers together and lets them settle.
func newSim(t *testing.T, names ...string) *sim {
	s := &sim{t: t, now: time.Unix(1_000_000, 0), hold: 3 * time.Second, nodes: map[string]*holdDown{}}
	for _, n := range names {
		s.start(n)
	}
	for _, n := range names {
		for _, o := range names {
			if o != n {
				s.nodes[n].up(o, s.nodes[o].verdict(s.now), s.now)
			}
		}
	}
	s.wait(2 * s.hold)
	return s
}

func (s *sim) wait(d time.Duration) { s.now = s.now.Add(d) }

// start starts a speaker (again): a fresh holdDown, alone.
func (s *sim) start(name string) {
	h := newHoldDown(name, s.hold)
	h.up(name, verdict{}, s.now)
	h.settle()
	s.nodes[name] = h
}

// kill stops a speaker without leaving; the others see it die.
func (s *sim) kill(name string) {
	delete(s.nodes, name)
	for _, h := range s.nodes {
		h.died(name, netip.AddrPort{})
	}
}

// cut splits the speakers: each sees every speaker outside its group die.
func (s *sim) cut(groups ...[]string) {
	for _, p := range across(groups...) {
		s.nodes[p[0]].died(p[1], netip.AddrPort{})
	}
}

// meet delivers "y is alive" to x for each pair, in order.
func (s *sim) meet(pairs [][2]string) {
	for _, p := range pairs {
		x, y := p[0], p[1]
		s.nodes[x].up(y, s.nodes[y].verdict(s.now), s.now)
	}
}

// across returns both directions of every pair of speakers in different
// groups.
func across(groups ...[]string) [][2]string {
	var out [][2]string
	for i, g := range groups {
		for j, o := range groups {
			if i == j {
				continue
			}
			for _, x := range g {
				for _, y := range o {
					out = append(out, [2]string{x, y})
				}
			}
		}
	}
	return out
}

// selfStable returns the speakers that count themselves Stable: the only
// ones that announce anything.
func (s *sim) selfStable() []string {
	var out []string
	for n, h := range s.nodes {
		if h.stable(n, s.now) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// announcers returns, for each of n addresses, how many speakers announce
// it: those that count themselves Stable and win it, by rendezvous hashing,
// among the members they count Stable.
func (s *sim) announcers(n int) []int {
	out := make([]int, n)
	for ip := range n {
		for name, h := range s.nodes {
			if !h.stable(name, s.now) {
				continue
			}
			var best string
			var bestW uint64
			for _, m := range h.members() {
				if !h.stable(m, s.now) {
					continue
				}
				f := fnv.New64a()
				fmt.Fprintf(f, "%d/%s", ip, m)
				if w := f.Sum64(); best == "" || w > bestW {
					best, bestW = m, w
				}
			}
			if best == name {
				out[ip]++
			}
		}
	}
	return out
}

// TestPartitionHeal checks, for partitions healing with the news arriving
// in any order, that every address has exactly one announcer once all
// speakers have seen each other again, that the larger side keeps the
// addresses through the hold-down, and that everyone is Stable after it.
func TestPartitionHeal(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []string
		groups [][]string
		// stays is the side that keeps announcing through the hold-down;
		// nil means either side (a tie broken by name hashes).
		stays []string
	}{
		{"one node of three cut off", []string{"a", "b", "c"}, [][]string{{"a"}, {"b", "c"}}, []string{"b", "c"}},
		{"last node of three cut off", []string{"a", "b", "c"}, [][]string{{"c"}, {"a", "b"}}, []string{"a", "b"}},
		{"two-node split", []string{"a", "b"}, [][]string{{"a"}, {"b"}}, nil},
		{"two of five cut off", []string{"a", "b", "c", "d", "e"}, [][]string{{"a", "e"}, {"b", "c", "d"}}, []string{"b", "c", "d"}},
		{"even split, names interleaved", []string{"a", "b", "c", "d"}, [][]string{{"a", "d"}, {"b", "c"}}, nil},
		{"three-way split", []string{"a", "b", "c", "d", "e"}, [][]string{{"a"}, {"e"}, {"b", "c", "d"}}, []string{"b", "c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			for round := range 200 {
				s := newSim(t, tt.nodes...)
				s.cut(tt.groups...)
				s.wait(time.Second)
				// Cut off, every side announces every address.
				for i, g := range tt.groups {
					if got := s.announcers(64); slices.Max(got) != len(tt.groups) || slices.Min(got) != len(tt.groups) {
						t.Fatalf("round %d: while cut (group %d %v): announcers per address %v, want %d each", round, i, g, got, len(tt.groups))
					}
				}
				pairs := across(tt.groups...)
				rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
				s.meet(pairs)
				s.wait(10 * time.Millisecond)

				if got := s.announcers(64); slices.Min(got) != 1 || slices.Max(got) != 1 {
					t.Fatalf("round %d, news in order %v: announcers per address %v, want exactly 1 each (self-stable: %v)", round, pairs, got, s.selfStable())
				}
				stable := s.selfStable()
				startedOver := 0
				for _, h := range s.nodes {
					startedOver += h.startOvers()
				}
				if want := len(tt.nodes) - len(stable); startedOver != want {
					t.Fatalf("round %d, order %v: %d start-overs, want %d (one per node of the yielding sides)", round, pairs, startedOver, want)
				}
				if tt.stays != nil && !slices.Equal(stable, tt.stays) {
					t.Fatalf("round %d, order %v: announcing side %v, want %v", round, pairs, stable, tt.stays)
				}
				if tt.stays == nil && !slices.ContainsFunc(tt.groups, func(g []string) bool { return slices.Equal(slices.Sorted(slices.Values(g)), stable) }) {
					t.Fatalf("round %d, order %v: announcing %v, want exactly one of the sides %v", round, pairs, stable, tt.groups)
				}

				s.wait(s.hold)
				if got := s.selfStable(); len(got) != len(tt.nodes) {
					t.Fatalf("round %d: stable after the hold-down: %v, want all of %v", round, got, tt.nodes)
				}
				if got := s.announcers(64); slices.Min(got) != 1 || slices.Max(got) != 1 {
					t.Fatalf("round %d: after the hold-down: announcers per address %v, want exactly 1 each", round, got)
				}
			}
		})
	}
}

// TestRestartedPeerDoesNotDisplaceSurvivor: the last survivor keeps every
// address when a crashed node comes back; the newcomer waits its hold-down.
func TestRestartedPeerDoesNotDisplaceSurvivor(t *testing.T) {
	for _, order := range [][][2]string{{{"a", "b"}, {"b", "a"}}, {{"b", "a"}, {"a", "b"}}} {
		s := newSim(t, "a", "b", "c")
		s.kill("b")
		s.kill("c")
		s.wait(time.Second)
		s.start("b")
		s.meet(order)
		if got := s.selfStable(); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("order %v: announcing %v, want only the survivor a", order, got)
		}
		if got := s.announcers(64); slices.Min(got) != 1 || slices.Max(got) != 1 {
			t.Fatalf("order %v: announcers per address %v, want exactly 1 each", order, got)
		}
	}
}

// TestPeerThatNeverSawSelfGo: when self saw a peer die but the peer never
// saw self die (one-way loss), the peer's verdict does not name self, so
// self does not step back. Both announce the peer's share until its
// hold-down ends in self's view (a known cost), but no address is left
// without an announcer, which stepping back would cause.
func TestPeerThatNeverSawSelfGo(t *testing.T) {
	s := newSim(t, "a", "b")
	s.nodes["a"].died("b", netip.AddrPort{})
	s.wait(time.Second)
	s.meet([][2]string{{"a", "b"}})
	if got := s.selfStable(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("announcing %v, want both", got)
	}
	if got := s.announcers(64); slices.Min(got) < 1 {
		t.Fatalf("announcers per address %v: an address has none", got)
	}
}

func TestVerdictMetaRoundTrip(t *testing.T) {
	subnets := encodeSubnets(nil)
	many := verdict{outCount: 200, outMin: 1}
	for i := range 200 {
		many.outHashes = append(many.outHashes, uint32(i+1)*0x01010101)
	}
	for _, v := range []verdict{{}, {starting: true}, {outCount: 2, outMin: 7, outHashes: []uint32{7, 0xffffffff}, deadHashes: []uint32{0xffffffff}}, many} {
		meta := encodeMeta(v, subnets, metaMaxSize)
		if len(meta) > metaMaxSize {
			t.Fatalf("%d bytes of metadata, over %d", len(meta), metaMaxSize)
		}
		got, _, err := decodeMeta(meta)
		if err != nil {
			t.Fatalf("decodeMeta(%q): %v", meta, err)
		}
		if got.starting != v.starting || got.outCount != v.outCount || got.outMin != v.outMin {
			t.Fatalf("decodeMeta(%q) = %+v, want %+v", meta, got, v)
		}
		// A list cut short keeps a prefix of the hashes.
		if len(got.outHashes) > len(v.outHashes) || !slices.Equal(got.outHashes, v.outHashes[:len(got.outHashes)]) {
			t.Fatalf("hashes %v are not a prefix of %v", got.outHashes, v.outHashes)
		}
		if len(v.outHashes) <= 2 && (!slices.Equal(got.outHashes, v.outHashes) || !slices.Equal(got.deadHashes, v.deadHashes)) {
			t.Fatalf("short list: got %v (dead %v), want %v (dead %v)", got.outHashes, got.deadHashes, v.outHashes, v.deadHashes)
		}
	}
	// Metadata from a speaker that publishes no verdict: subnets only.
	v, sn, err := decodeMeta([]byte("10.0.0.0/24"))
	if err != nil || v.outCount != 0 || len(sn) != 1 {
		t.Fatalf("legacy metadata: %+v %v %v", v, sn, err)
	}
	for _, bad := range []string{"v1|x|0|0||", "v1|s|-1|0||", "v1|s|1|zz||", "v1|s|1|1|q|", "v1|s|1"} {
		if _, _, err := decodeMeta([]byte(bad)); err == nil {
			t.Errorf("decodeMeta(%q): no error", bad)
		}
	}
}

// TestFrozenNodeStartsOver: a node frozen past failure detection is
// declared dead by the others without seeing anyone die. When it runs
// again and learns from a peer's verdict that it was counted dead, it
// starts over, so it does not answer beside the node that took its share.
// A peer that merely holds self down (self joined a moment ago) does not
// restart it.
func TestFrozenNodeStartsOver(t *testing.T) {
	t.Run("counted dead", func(t *testing.T) {
		s := newSim(t, "a", "b", "c")
		s.nodes["b"].died("a", netip.AddrPort{})
		s.nodes["c"].died("a", netip.AddrPort{})
		s.wait(time.Second)
		// a runs again: the first news is b's verdict, then a's refutation
		// reaches b and c.
		if !s.nodes["a"].observe("b", s.nodes["b"].verdict(s.now), s.now) {
			t.Fatal("a did not start over on learning b counted it dead")
		}
		s.meet([][2]string{{"b", "a"}, {"c", "a"}})
		if got := s.selfStable(); !slices.Equal(got, []string{"b", "c"}) {
			t.Fatalf("announcing %v, want b and c through a's hold-down", got)
		}
		if got := s.announcers(64); slices.Min(got) != 1 || slices.Max(got) != 1 {
			t.Fatalf("announcers per address %v, want exactly 1 each", got)
		}
		s.wait(s.hold)
		if got := s.announcers(64); slices.Min(got) != 1 || slices.Max(got) != 1 || len(s.selfStable()) != 3 {
			t.Fatalf("after the hold-down: announcers %v, stable %v", got, s.selfStable())
		}
	})
	t.Run("held down after a join", func(t *testing.T) {
		s := newSim(t, "a", "b")
		s.start("c")
		s.meet([][2]string{{"c", "a"}, {"c", "b"}})
		s.wait(10 * time.Millisecond)
		s.meet([][2]string{{"a", "c"}, {"b", "c"}})
		// c's start-up ends a few milliseconds before a's hold-down for c.
		s.wait(s.hold - 5*time.Millisecond)
		if s.nodes["c"].observe("a", s.nodes["a"].verdict(s.now), s.now) {
			t.Fatal("c started over because a still held it down after its join")
		}
	})
}
