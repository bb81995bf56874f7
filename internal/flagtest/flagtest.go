// Package flagtest checks, for the packages whose Config or Options register
// their own flags (BindFlags), that the help text shows the defaults the
// package applies. It is imported by tests only.
package flagtest

import (
	"flag"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Parsed registers bind's flags on a fresh FlagSet, parses no arguments,
// and checks that every flag's default in the help text is the one in want
// (flag name → DefValue), with no flag missing or extra. The caller then
// compares what parsing left in its Config with the defaults it applies.
func Parsed(t testing.TB, bind func(*flag.FlagSet), want map[string]string) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	bind(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { got[f.Name] = f.DefValue })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flag defaults in the help text (-want +got):\n%s", diff)
	}
}
