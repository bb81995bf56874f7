package controller

import (
	"flag"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portico-lb/portico/controller/service"
)

// TestBindFlags: the help text shows the defaults Setup applies.
func TestBindFlags(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Options{MaxConcurrentReconciles: service.DefaultMaxConcurrentReconciles}, o); diff != "" {
		t.Errorf("options after parsing no flags (-want +got):\n%s", diff)
	}
	want := map[string]string{"ignore-no-class": "false", "workers": strconv.Itoa(service.DefaultMaxConcurrentReconciles)}
	got := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { got[f.Name] = f.DefValue })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flag defaults (-want +got):\n%s", diff)
	}
}
