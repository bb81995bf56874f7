package layer2

import (
	"strconv"
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
		"gratuitous-count":    strconv.Itoa(d.GratuitousCount),
		"gratuitous-interval": d.GratuitousInterval.String(),
		"link-up-delay":       d.LinkUpDelay.String(),
	}
	flagtest.Parsed(t, c.BindFlags, want)
	if diff := cmp.Diff(d, setConfigDefaults(c)); diff != "" {
		t.Errorf("defaults after parsing no flags (-zero Config +flags):\n%s", diff)
	}
}
