package speaker

import (
	"flag"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
}

// TestBindFlags: the help text shows the defaults New applies, and parsing
// no flags leaves the Options New would default to anyway.
func TestBindFlags(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	d := setOptionsDefaults(Options{})
	if diff := cmp.Diff(d, setOptionsDefaults(o)); diff != "" {
		t.Errorf("defaults after parsing no flags (-zero Options +flags):\n%s", diff)
	}
	want := map[string]string{"handover-delay": d.HandoverDelay.String(), "sticky": "false", "ignore-no-class": "false"}
	got := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { got[f.Name] = f.DefValue })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flag defaults (-want +got):\n%s", diff)
	}
}
