package bench

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSetBGPDefaults(t *testing.T) {
	cache := func() (string, error) { return "/c", nil }
	def := BGPOptions{Latency: 100, Scale: 1000, Reps: 10, Creators: 16, HoldTime: 3 * time.Second, GoBGPDir: "/c/portico/gobgp-" + gobgpVersion, Phases: []string{"latency", "scale", "faults"}}
	for _, tc := range []struct {
		name    string
		in      BGPOptions
		cache   func() (string, error)
		want    BGPOptions
		wantErr bool
	}{
		{name: "zero", want: def},
		{name: "kept", in: BGPOptions{Latency: 5, Scale: 20, Reps: 1, Creators: 2, HoldTime: 9 * time.Second, GoBGPDir: "/g", Phases: []string{"scale"}},
			want: BGPOptions{Latency: 5, Scale: 20, Reps: 1, Creators: 2, HoldTime: 9 * time.Second, GoBGPDir: "/g", Phases: []string{"scale"}}},
		{name: "unknown phase", in: BGPOptions{Phases: []string{"scale", "warp"}}, wantErr: true},
		{name: "no cache dir", cache: func() (string, error) { return "", errors.New("no HOME") }, wantErr: true},
		{name: "negative", in: BGPOptions{Reps: -1}, wantErr: true},
		{name: "scale beyond the pool", in: BGPOptions{Scale: 5000}, wantErr: true},
		{name: "hold below 3s", in: BGPOptions{HoldTime: time.Second}, wantErr: true},
		{name: "hold not whole seconds", in: BGPOptions{HoldTime: 3500 * time.Millisecond}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cache
			if tc.cache != nil {
				c = tc.cache
			}
			got, err := setBGPDefaults(tc.in, c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				if d := cmp.Diff(tc.want, got); d != "" {
					t.Errorf("(-want +got)\n%s", d)
				}
			}
		})
	}
}

// TestFIBMonitorObserve feeds lines of "ip -o monitor route" as zebra's
// routes produce them: an ECMP route replaced keeps its first appearance.
func TestFIBMonitorObserve(t *testing.T) {
	m := &fibMonitor{added: map[netip.Prefix]time.Time{}, deleted: map[netip.Prefix]time.Time{}, present: map[netip.Prefix]bool{}}
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	p := netip.MustParsePrefix("100.64.0.7/32")
	for i, line := range []string{
		"100.64.0.7 nhid 20 via 10.213.7.11 dev eth0 proto bgp metric 20 ",
		"100.64.0.7 nhid 24 proto bgp metric 20 \\    nexthop via 10.213.7.11 dev eth0 weight 1\\    nexthop via 10.213.7.12 dev eth0 weight 1",
		"10.213.7.0/24 dev eth0 proto kernel scope link src 10.213.7.2 ",
		"local 10.213.7.2 dev eth0 table local proto kernel scope host src 10.213.7.2 ",
		"garbage proto bgp",
	} {
		m.observe(line, at(i))
	}
	if got, ok := m.addedAfter(p, t0.Add(-time.Second)); !ok || !got.Equal(t0) {
		t.Errorf("addedAfter = %v, %v; want %v, true (the first appearance)", got, ok, t0)
	}
	if n, _ := m.count([]netip.Prefix{p, netip.MustParsePrefix("10.213.7.0/24")}, true); n != 1 {
		t.Errorf("count = %d, want 1 (kernel routes do not count)", n)
	}
	m.observe("Deleted 100.64.0.7 nhid 24 proto bgp metric 20 ", at(9))
	if _, ok := m.addedAfter(p, t0.Add(-time.Second)); ok {
		t.Error("addedAfter after Deleted: still present")
	}
	if n, last := m.count([]netip.Prefix{p}, false); n != 1 || !last.Equal(at(9)) {
		t.Errorf("count(gone) = %d, %v; want 1, %v", n, last, at(9))
	}
}
