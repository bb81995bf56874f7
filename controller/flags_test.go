package controller

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portico-lb/portico/controller/service"
	"github.com/portico-lb/portico/internal/flagtest"
)

// TestBindFlags: the help text shows the defaults Setup applies.
func TestBindFlags(t *testing.T) {
	var o Options
	want := map[string]string{"ignore-no-class": "false", "workers": strconv.Itoa(service.DefaultMaxConcurrentReconciles)}
	flagtest.Parsed(t, o.BindFlags, want)
	if diff := cmp.Diff(Options{MaxConcurrentReconciles: service.DefaultMaxConcurrentReconciles}, o); diff != "" {
		t.Errorf("options after parsing no flags (-want +got):\n%s", diff)
	}
}
