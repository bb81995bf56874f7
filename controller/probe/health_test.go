package probe

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// seq turns a compact script into results: "+" success with no role, "P"
// success as primary, "R" success as replica, "-" failure, "A" auth failure.
func seq(s string) []Result {
	var out []Result
	for _, c := range s {
		switch c {
		case '+':
			out = append(out, Result{Outcome: Success})
		case 'P':
			out = append(out, Result{Outcome: Success, Role: v1beta1.RolePrimary})
		case 'R':
			out = append(out, Result{Outcome: Success, Role: v1beta1.RoleReplica})
		case '-':
			out = append(out, Result{Outcome: Failure, Err: "connection refused"})
		case 'A':
			out = append(out, Result{Outcome: AuthFailure, Err: "access denied"})
		}
	}
	return out
}

// state is one step's view: health initial, Up as U/d, role initial.
func state(t *Tracker) string {
	up := "d"
	if t.Up() {
		up = "U"
	}
	return string(t.Health()[0]) + up + string(t.Role()[0])
}

func TestTrackerHysteresis(t *testing.T) {
	tests := []struct {
		name    string
		th      Thresholds
		results string
		// want is each step's state (health/up/role initials) and whether
		// Observe reported a change ("*").
		want string
	}{
		{"rise at 2", Thresholds{2, 2}, "++++", "PdU HUU* HUU HUU"},
		{"fall at 2", Thresholds{2, 2}, "++--+", "PdU HUU* HUU UdU* UdU"},
		{"one failure is not enough", Thresholds{2, 3}, "++--+--+", "PdU HUU* HUU HUU HUU HUU HUU HUU"},
		{"fall then rise needs a full run", Thresholds{3, 1}, "+++-++-+++", "PdU PdU HUU* UdU* UdU UdU UdU UdU UdU HUU*"},
		{"pending until a threshold", Thresholds{3, 3}, "+-+-+-", "PdU PdU PdU PdU PdU PdU"},
		{"starts unhealthy", Thresholds{2, 2}, "--++", "PdU UdU* UdU HUU*"},
		{"thresholds below 1 count as 1", Thresholds{0, -1}, "+-+", "HUU* UdU* HUU*"},
		{"auth failure is alive but its own health", Thresholds{2, 2}, "AA+--", "AdU* AUU* HUU* HUU UdU*"},
		{"auth failure mid-run keeps up", Thresholds{2, 2}, "++A+", "PdU HUU* AUU* HUU*"},
		{"primary confirmed after healthy threshold", Thresholds{2, 2}, "PPP", "PdU HUP* HUP"},
		{"primary dropped at once", Thresholds{2, 2}, "PPRRPP", "PdU HUP* HUR* HUR HUR HUP*"},
		{"failures keep role until down", Thresholds{2, 2}, "PP-P--PP", "PdU HUP* HUP HUP HUP UdU* UdU HUP*"},
		{"auth failure drops primary", Thresholds{2, 2}, "PPAPP", "PdU HUP* AUU* HUU* HUP*"},
		{"flapping role never confirms", Thresholds{2, 2}, "PRPRPR", "PdU HUU* HUU HUU HUU HUU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.th)
			if got := state(tr); got != "PdU" {
				t.Fatalf("new tracker %s, want PdU", got)
			}
			var got []string
			for _, r := range seq(tt.results) {
				s := state(tr)
				changed := tr.Observe(r)
				if changed != (state(tr) != s) {
					t.Errorf("Observe reported changed=%v going %s -> %s", changed, s, state(tr))
				}
				if changed {
					got = append(got, state(tr)+"*")
				} else {
					got = append(got, state(tr))
				}
			}
			if diff := cmp.Diff(tt.want, strings.Join(got, " ")); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrackerLast(t *testing.T) {
	tr := NewTracker(Thresholds{1, 1})
	if _, ok := tr.Last(); ok {
		t.Error("new tracker has a last result")
	}
	r := Result{Outcome: Failure, Err: "i/o timeout"}
	tr.Observe(r)
	if got, ok := tr.Last(); !ok || got != r {
		t.Errorf("Last() = %+v, %v; want %+v", got, ok, r)
	}
}

// TestTrackerSeed: a seeded verdict holds until the thresholds overturn it,
// and a tracker that has probed ignores seeds.
func TestTrackerSeed(t *testing.T) {
	fail := Result{Outcome: Failure, Err: "refused"}
	ok := Result{Outcome: Success, Role: v1beta1.RolePrimary}

	tr := NewTracker(Thresholds{Healthy: 2, Unhealthy: 2})
	tr.Seed(true, v1beta1.RolePrimary)
	if !tr.Up() || tr.Role() != v1beta1.RolePrimary || tr.Health() != v1beta1.TargetHealthy {
		t.Fatalf("seeded up: up %t role %s health %s", tr.Up(), tr.Role(), tr.Health())
	}
	tr.Observe(fail)
	if !tr.Up() {
		t.Fatal("one failure took a seeded healthy target down; the threshold is 2")
	}
	tr.Observe(fail)
	if tr.Up() {
		t.Fatal("two failures left a seeded target up")
	}
	tr.Seed(true, v1beta1.RolePrimary)
	if tr.Up() {
		t.Fatal("Seed after probes changed the verdict")
	}

	down := NewTracker(Thresholds{Healthy: 2, Unhealthy: 2})
	down.Seed(false, v1beta1.RoleUnknown)
	if down.Up() || down.Health() != v1beta1.TargetUnhealthy {
		t.Fatalf("seeded down: up %t health %s", down.Up(), down.Health())
	}
	down.Observe(ok)
	if down.Up() {
		t.Fatal("one success brought a seeded unhealthy target up; the threshold is 2")
	}
	down.Observe(ok)
	if !down.Up() {
		t.Fatal("two successes left a seeded target down")
	}
}
