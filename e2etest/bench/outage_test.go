package bench

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// timeline builds probes 10 ms apart from t0-100ms: each rune is one probe,
// 'A'/'B'/'C' a success entering at node-a/b/c, 'x' a failure.
func timeline(t0 time.Time, s string) []probe {
	var ps []probe
	for i, r := range s {
		p := probe{start: t0.Add(time.Duration(i-10) * 10 * time.Millisecond), dur: 2 * time.Millisecond}
		if r == 'x' {
			p.err = "timeout"
		} else {
			p.ok, p.via = true, "node-"+string(r+'a'-'A')
		}
		ps = append(ps, p)
	}
	return ps
}

func TestAnalyse(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// The first ten probes (t0-100ms … t0-10ms) are the baseline.
	const base = "AAAAAAAAAA"
	for _, tc := range []struct {
		name string
		ps   []probe
		to   time.Time
		want window
	}{
		{
			name: "nothing failed, nothing moved",
			ps:   timeline(t0, base+"AAAAA"),
			want: window{probes: 5, before: "node-a", moved: -1},
		},
		{
			name: "moved without a failed connect (stale but working entry, then GARP)",
			ps:   timeline(t0, base+"AAAABBBB"),
			want: window{probes: 8, before: "node-a", moved: ms(40), changes: 1},
		},
		{
			// Last success at t0-10ms, first success after at t0+30ms.
			name: "one burst",
			ps:   timeline(t0, base+"xxxBBB"),
			want: window{probes: 6, failed: 3, bursts: 1, outage: ms(40), longest: ms(40), before: "node-a", moved: ms(30), changes: 1},
		},
		{
			name: "failures after successes in the window start at the last success",
			ps:   timeline(t0, base+"AAxxB"),
			want: window{probes: 5, failed: 2, bursts: 1, outage: ms(30), longest: ms(30), before: "node-a", moved: ms(40), changes: 1},
		},
		{
			// t0+0 last A; failures at 10,20; B at 30; failure at 40; B at 50.
			name: "two bursts: the outage spans both",
			ps:   timeline(t0, base+"AxxBxB"),
			want: window{probes: 6, failed: 3, bursts: 2, outage: ms(50), longest: ms(30), before: "node-a", moved: ms(30), changes: 1},
		},
		{
			// Scattered failures (a starved client): the span is long, the
			// longest burst short.
			name: "scattered failures",
			ps:   timeline(t0, base+"AxAAAAAAAxxA"),
			want: window{probes: 12, failed: 3, bursts: 2, outage: ms(110), longest: ms(30), before: "node-a", moved: -1},
		},
		{
			name: "flapping counts every change",
			ps:   timeline(t0, base+"ABAB"),
			want: window{probes: 4, before: "node-a", moved: ms(10), changes: 3},
		},
		{
			name: "no baseline: the outage starts at the window",
			ps:   timeline(t0, "xxxxxxxxxx"+"xxA")[10:],
			want: window{probes: 3, failed: 2, bursts: 1, outage: ms(20), longest: ms(20), moved: -1},
		},
		{
			name: "still failing at the end: open, up to the window's end",
			ps:   timeline(t0, base+"Axxx"),
			to:   t0.Add(ms(100)),
			want: window{probes: 4, failed: 3, bursts: 1, outage: ms(100), longest: ms(100), open: true, before: "node-a", moved: -1},
		},
		{
			name: "probes from the window's end on are ignored",
			ps:   timeline(t0, base+"AAAAAxxxx"),
			to:   t0.Add(ms(50)),
			want: window{probes: 5, before: "node-a", moved: -1},
		},
		{
			name: "a failure before the window is not counted",
			ps:   timeline(t0, "AAAAAAAAAx"+"BB"),
			want: window{probes: 2, before: "node-a", moved: 0, changes: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := tc.to
			if to.IsZero() {
				to = t0.Add(time.Hour)
			}
			// Out of order, as the prober records them (by completion).
			ps := append([]probe(nil), tc.ps...)
			for i, j := 0, len(ps)-1; i < j; i, j = i+1, j-1 {
				ps[i], ps[j] = ps[j], ps[i]
			}
			got := analyse(ps, t0, to)
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(window{})); d != "" {
				t.Errorf("analyse (-want +got):\n%s", d)
			}
		})
	}
}

func TestTransitions(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ps := timeline(t0, "AAAAAAAAAB"+"xBABBAC")
	got := transitions(ps, t0, t0.Add(time.Hour), 3)
	// B at -10ms is before the window; then A +20, B +30, A +50, C +60.
	want := []string{"+20 node-a ()", "+30 node-b ()", "+50 node-a ()", "(1 more)"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("transitions (-want +got):\n%s", d)
	}
}
