package membership

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFreshness(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	rec := func(name string, renewed time.Time) peer { return peer{Name: name, Renewed: renewed} }

	f := newFreshness(15 * time.Second)
	steps := []struct {
		name string
		now  time.Time
		list []peer
		want []string
	}{
		{
			name: "first sight is judged by the written time",
			now:  at(0),
			list: []peer{rec("a", at(-time.Second)), rec("old", at(-time.Minute)), rec("static", time.Time{})},
			want: []string{"a", "static"},
		},
		{
			name: "a renewal seen keeps a record fresh for ttl by our clock",
			now:  at(10 * time.Second),
			list: []peer{rec("a", at(9*time.Second)), rec("old", at(-time.Minute))},
			want: []string{"a"},
		},
		{
			name: "a stale record renewed again is fresh again",
			now:  at(20 * time.Second),
			list: []peer{rec("a", at(9*time.Second)), rec("old", at(-30*time.Second))},
			want: []string{"a", "old"},
		},
		{
			name: "no renewal for ttl: stale",
			now:  at(25 * time.Second),
			list: []peer{rec("a", at(9*time.Second)), rec("old", at(-30*time.Second))},
			want: []string{"old"},
		},
		{
			name: "a writer's clock far ahead buys no extra time",
			now:  at(26 * time.Second),
			list: []peer{rec("future", at(time.Hour))},
			want: []string{"future"},
		},
		{
			name: "...it still goes stale ttl after we first saw it",
			now:  at(41 * time.Second),
			list: []peer{rec("future", at(time.Hour))},
			want: nil,
		},
		{
			name: "a record that disappeared and comes back is judged afresh",
			now:  at(42 * time.Second),
			list: []peer{rec("a", at(9*time.Second)), rec("b", at(40*time.Second))},
			want: []string{"b"},
		},
	}
	for _, s := range steps {
		var got []string
		for _, p := range f.observe(s.list, s.now) {
			got = append(got, p.Name)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
	}
}
