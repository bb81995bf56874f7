package bench

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAnalyseARP(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 50 * time.Millisecond) }
	rounds := func(n int) []time.Time {
		var rs []time.Time
		for i := range n {
			rs = append(rs, at(i))
		}
		return rs
	}
	for _, tc := range []struct {
		name    string
		rounds  []time.Time
		answers []arpAnswer
		want    arpWindow
	}{
		{name: "nothing asked", want: arpWindow{}},
		{
			name:    "one node answers every request",
			rounds:  rounds(3),
			answers: []arpAnswer{{at(0), "node-1"}, {at(1), "node-1"}, {at(2), "node-1"}},
			want:    arpWindow{rounds: 3},
		},
		{
			name:    "failover: a gap, then the new node",
			rounds:  rounds(4),
			answers: []arpAnswer{{at(0), "node-1"}, {at(3), "node-2"}},
			want:    arpWindow{rounds: 4, silent: 2},
		},
		{
			name:   "split: two nodes answer rounds 1 to 3",
			rounds: rounds(5),
			answers: []arpAnswer{
				{at(0), "node-2"},
				{at(1), "node-3"}, {at(1), "node-2"},
				{at(2), "node-2"}, {at(2), "node-3"}, {at(2), "node-2"}, // a node answering twice is one node
				{at(3), "node-2"}, {at(3), "node-3"},
				{at(4), "node-3"},
			},
			want: arpWindow{rounds: 5, split: 3, splitFor: 100 * time.Millisecond, splitNodes: []string{"node-2", "node-3"}},
		},
		{
			name:    "a single split round lasts 0",
			rounds:  rounds(2),
			answers: []arpAnswer{{at(1), "node-1"}, {at(1), "node-2"}},
			want:    arpWindow{rounds: 2, silent: 1, split: 1, splitNodes: []string{"node-1", "node-2"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := analyseARP(tc.rounds, tc.answers)
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(arpWindow{})); d != "" {
				t.Errorf("analyseARP (-want +got):\n%s", d)
			}
		})
	}
}
