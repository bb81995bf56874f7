package layer2

import (
	"flag"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBindFlags: the help text shows the defaults New applies, and parsing
// no flags leaves the Config New would default to anyway.
func TestBindFlags(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	d := setConfigDefaults(Config{})
	if diff := cmp.Diff(d, setConfigDefaults(c)); diff != "" {
		t.Errorf("defaults after parsing no flags (-zero Config +flags):\n%s", diff)
	}
	want := map[string]string{
		"gratuitous-count":    strconv.Itoa(d.GratuitousCount),
		"gratuitous-interval": d.GratuitousInterval.String(),
		"link-up-delay":       d.LinkUpDelay.String(),
	}
	got := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { got[f.Name] = f.DefValue })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flag defaults (-want +got):\n%s", diff)
	}
}
