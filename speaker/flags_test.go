package speaker

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portico-lb/portico/internal/flagtest"
)

func TestSetOptionsDefaults(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   time.Duration
		want time.Duration
	}{
		{"unset", 0, time.Second},
		{"negative", -time.Second, time.Second},
		{"set", 3 * time.Second, 3 * time.Second},
	} {
		if got := setOptionsDefaults(Options{HandoverDelay: tt.in}).HandoverDelay; got != tt.want {
			t.Errorf("%s: HandoverDelay = %v, want %v", tt.name, got, tt.want)
		}
	}
	for in, want := range map[string]string{"": "portico-system", "lb": "lb"} {
		if got := setOptionsDefaults(Options{InstallNamespace: in}).InstallNamespace; got != want {
			t.Errorf("InstallNamespace %q: got %q, want %q", in, got, want)
		}
	}
}

// TestBindFlags: the help text shows the defaults New applies, and parsing
// no flags leaves the Options New would default to anyway.
func TestBindFlags(t *testing.T) {
	var o Options
	d := setOptionsDefaults(Options{})
	want := map[string]string{"handover-delay": d.HandoverDelay.String(), "sticky": "false", "ignore-no-class": "false", "portico-namespace": d.InstallNamespace}
	flagtest.Parsed(t, o.BindFlags, want)
	if diff := cmp.Diff(d, setOptionsDefaults(o)); diff != "" {
		t.Errorf("defaults after parsing no flags (-zero Options +flags):\n%s", diff)
	}
}
