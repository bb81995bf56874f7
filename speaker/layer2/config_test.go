package layer2

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSetConfigDefaults(t *testing.T) {
	defaults := Config{GratuitousCount: 3, GratuitousInterval: 100 * time.Millisecond, RescanInterval: time.Second, LinkUpDelay: 500 * time.Millisecond}
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{name: "zero value", in: Config{}, want: defaults},
		{name: "negative values are defaulted", in: Config{GratuitousCount: -1, GratuitousInterval: -time.Second, RescanInterval: -1}, want: defaults},
		{name: "negative LinkUpDelay disables it", in: Config{LinkUpDelay: -1}, want: Config{GratuitousCount: 3, GratuitousInterval: 100 * time.Millisecond, RescanInterval: time.Second}},
		{
			name: "set values are kept",
			in:   Config{GratuitousCount: 5, GratuitousInterval: time.Second, RescanInterval: 10 * time.Second, LinkUpDelay: time.Second, NetNS: "/run/netns/node-1"},
			want: Config{GratuitousCount: 5, GratuitousInterval: time.Second, RescanInterval: 10 * time.Second, LinkUpDelay: time.Second, NetNS: "/run/netns/node-1"},
		},
		{
			name: "one field set, the others defaulted",
			in:   Config{GratuitousCount: 1},
			want: Config{GratuitousCount: 1, GratuitousInterval: 100 * time.Millisecond, RescanInterval: time.Second, LinkUpDelay: 500 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, setConfigDefaults(tt.in)); diff != "" {
				t.Errorf("setConfigDefaults (-want +got):\n%s", diff)
			}
		})
	}
}
