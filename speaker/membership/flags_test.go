package membership

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portico-lb/portico/internal/flagtest"
)

// TestBindFlags: the help text shows the defaults New applies, and parsing
// no flags leaves the Config New would default to anyway.
func TestBindFlags(t *testing.T) {
	var c Config
	d := setConfigDefaults(Config{})
	want := map[string]string{
		"memberlist-port": "7946",
		"probe-interval":  d.ProbeInterval.String(),
		"probe-timeout":   d.ProbeTimeout.String(),
		"suspicion-mult":  "2",
		"hold-down":       d.HoldDown.String(),
	}
	flagtest.Parsed(t, c.BindFlags, want)
	if diff := cmp.Diff(d, setConfigDefaults(c), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("defaults after parsing no flags (-zero Config +flags):\n%s", diff)
	}
	if d.BindPort != 7946 || d.SuspicionMult != 2 {
		t.Errorf("defaults %d, %d: the port and multiplier above are out of date", d.BindPort, d.SuspicionMult)
	}
}
