package probe_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
	"github.com/portico-lb/portico/internal/importcheck"
)

// A replica promoted while the old primary still claims to be writable: the
// current primary is kept and the split brain is reported.
func ExampleElect() {
	a := netip.MustParseAddrPort("10.1.0.41:6379")
	b := netip.MustParseAddrPort("10.1.0.42:6379")
	e := probe.Elect(a, []probe.Candidate{
		{Addr: a, Up: true, Role: v1beta1.RolePrimary},
		{Addr: b, Up: true, Role: v1beta1.RolePrimary},
	})
	fmt.Println(e.Primary, e.SplitBrain)
	// Output: 10.1.0.41:6379 true
}

// Two failed probes with unhealthyThreshold 2 make a healthy target unhealthy.
func ExampleTracker() {
	t := probe.NewTracker(probe.Thresholds{Healthy: 2, Unhealthy: 2})
	for _, o := range []probe.Outcome{probe.Success, probe.Success, probe.Failure, probe.Failure} {
		t.Observe(probe.Result{Outcome: o})
		fmt.Print(t.Health(), " ")
	}
	fmt.Println()
	// Output: Pending Healthy Healthy Unhealthy
}

func ExampleRefuse() {
	ranges := probe.Ranges{Service: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}}
	fmt.Println(probe.Refuse(netip.MustParseAddr("10.96.0.10"), ranges))
	// Output: target 10.96.0.10 refused: in the cluster's Service range 10.96.0.0/12
}

// TestImports enforces doc.go: the standard library and api/v1beta1 only.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		if path == "github.com/portico-lb/portico/api/v1beta1" {
			return true
		}
		// No sockets, files or processes: those belong to the sub-packages.
		io := path == "net" || strings.HasPrefix(path, "net/http") || path == "os" || path == "os/exec" || path == "syscall"
		return importcheck.Standard(path) && !io
	})
}
