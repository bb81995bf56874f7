package controller

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/portico-lb/portico/controller/service"
	"github.com/portico-lb/portico/internal/flagtest"
)

// TestBindFlags: the help text shows the defaults Setup applies.
func TestBindFlags(t *testing.T) {
	var o Options
	want := map[string]string{
		"ignore-no-class": "false", "workers": strconv.Itoa(service.DefaultMaxConcurrentReconciles),
		"external-refuse-pod-cidrs": "", "external-refuse-node-cidrs": "", "external-probe-concurrency": "64",
		"external-resolv-conf": "/etc/resolv.conf",
	}
	flagtest.Parsed(t, o.BindFlags, want)
	wantOpts := Options{MaxConcurrentReconciles: service.DefaultMaxConcurrentReconciles}
	wantOpts.ExternalServices.ProbeConcurrency = 64
	wantOpts.ExternalServices.ResolvConf = "/etc/resolv.conf"
	if diff := cmp.Diff(wantOpts, o, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("options after parsing no flags (-want +got):\n%s", diff)
	}
}
