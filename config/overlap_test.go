package config

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// step is one call of For in a sequence: the pools as they are now, whether
// their statuses were lost before it (objects restored from a backup, or
// statuses written by a Portico that recorded nothing), and what the model
// and the Problems must be.
type step struct {
	pools      []v1beta1.IPAddressPool
	statusLost bool
	want       []*Pool
	problems   []Problem
}

// runSteps calls For once per step on the pools with the statuses the
// controller recorded after the step before. After each step it also builds
// the model again from the statuses recorded for this step, as a restarted
// controller, a new leader or a speaker started now would: that must change
// nothing, Problems included.
func runSteps(t *testing.T, steps []step) {
	t.Helper()
	var prev *Config
	for i, s := range steps {
		if s.statusLost {
			prev = nil
		}
		res := ClusterResources{Pools: s.pools}
		c, problems := forAfter(res, prev)
		if d := cmp.Diff(s.problems, problems, cmpOpts); d != "" {
			t.Errorf("step %d: problems (-want +got):\n%s", i, d)
		}
		if d := cmp.Diff(s.want, c.Pools(), cmpOpts); d != "" {
			t.Errorf("step %d: pools (-want +got):\n%s", i, d)
		}
		fresh, freshProblems := forAfter(res, c)
		if d := cmp.Diff(viewOf(c, problems), viewOf(fresh, freshProblems), cmpOpts); d != "" {
			t.Errorf("step %d: a process started after the statuses were recorded builds another model (-continuing +fresh):\n%s", i, d)
		}
		prev = c
	}
}

const (
	ovl = v1beta1.ReasonOverlap
	// inUse explains a precedence that age alone would have decided the
	// other way.
	inUse = ", which was in use first"
)

func TestOverlap(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{{
		name: "the newer pool gives way; deleting the older one lets it in",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("a", 0, "192.0.2.0/24"), ipPool("b", 1, "192.0.2.128/25")},
			want:  []*Pool{model("a", 0, "192.0.2.0/24")},
			problems: []Problem{
				pwarn(kindPool, "a", "spec.addresses[0]", ovl, `overlaps pool "b" (192.0.2.128/25), which is not used`),
				perr(kindPool, "b", "spec.addresses[0]", ovl, `overlaps pool "a" (192.0.2.0/24), which is older`),
			},
		}, {
			pools: []v1beta1.IPAddressPool{ipPool("b", 1, "192.0.2.128/25")},
			want:  []*Pool{model("b", 1, "192.0.2.128/25")},
		}},
	}, {
		name: "the newer pool gives way whatever the names",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("z", 0, "fd00::/64"), ipPool("a", 1, "fd00::1-fd00::2")},
			want:  []*Pool{model("z", 0, "fd00::/64")},
			problems: []Problem{
				perr(kindPool, "a", "spec.addresses[0]", ovl, `overlaps pool "z" (fd00::/64), which is older`),
				pwarn(kindPool, "z", "spec.addresses[0]", ovl, `overlaps pool "a" (fd00::1-fd00::2), which is not used`),
			},
		}},
	}, {
		name: "same creation time: the name that sorts first wins",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("b", 0, "192.0.2.0/24"), ipPool("a", 0, "192.0.2.0/24")},
			want:  []*Pool{model("a", 0, "192.0.2.0/24")},
			problems: []Problem{
				pwarn(kindPool, "a", "spec.addresses[0]", ovl, `overlaps pool "b" (192.0.2.0/24), which is not used`),
				perr(kindPool, "b", "spec.addresses[0]", ovl,
					`overlaps pool "a" (192.0.2.0/24), which was created at the same time and sorts first by name`),
			},
		}},
	}, {
		name: "pools of different families or adjacent ranges do not overlap",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{
				ipPool("a", 0, "192.0.2.0/25"),
				ipPool("b", 1, "192.0.2.128-192.0.2.255", "fd00::/120"),
				ipPool("c", 2, "fd00::100/120"),
			},
			want: []*Pool{
				model("a", 0, "192.0.2.0/25"),
				model("b", 1, "192.0.2.128/25", "fd00::/120"),
				model("c", 2, "fd00::100/120"),
			},
		}},
	}, {
		name: "one Problem per overlapping entry and pool",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{
				ipPool("a", 0, "192.0.2.0/24", "fd00::/64"),
				ipPool("b", 1, "198.51.100.0/24"),
				ipPool("c", 2, "10.0.0.0/8", "192.0.2.7-192.0.2.9", "fd00::5/128", "198.51.100.0/23"),
			},
			want: []*Pool{model("a", 0, "192.0.2.0/24", "fd00::/64"), model("b", 1, "198.51.100.0/24")},
			problems: []Problem{
				pwarn(kindPool, "a", "spec.addresses[0]", ovl, `overlaps pool "c" (192.0.2.7-192.0.2.9), which is not used`),
				pwarn(kindPool, "a", "spec.addresses[1]", ovl, `overlaps pool "c" (fd00::5/128), which is not used`),
				pwarn(kindPool, "b", "spec.addresses[0]", ovl, `overlaps pool "c" (198.51.100.0/23), which is not used`),
				perr(kindPool, "c", "spec.addresses[1]", ovl, `overlaps pool "a" (192.0.2.0/24), which is older`),
				perr(kindPool, "c", "spec.addresses[2]", ovl, `overlaps pool "a" (fd00::/64), which is older`),
				perr(kindPool, "c", "spec.addresses[3]", ovl, `overlaps pool "b" (198.51.100.0/24), which is older`),
			},
		}},
	}, {
		name: "a pool that gave way still takes precedence over newer ones",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{
				ipPool("a", 0, "192.0.2.0/25"),
				ipPool("b", 1, "192.0.2.0/24"),
				ipPool("c", 2, "192.0.2.128/25"),
			},
			want: []*Pool{model("a", 0, "192.0.2.0/25")},
			problems: []Problem{
				pwarn(kindPool, "a", "spec.addresses[0]", ovl, `overlaps pool "b" (192.0.2.0/24), which is not used`),
				perr(kindPool, "b", "spec.addresses[0]", ovl, `overlaps pool "a" (192.0.2.0/25), which is older`),
				pwarn(kindPool, "b", "spec.addresses[0]", ovl, `overlaps pool "c" (192.0.2.128/25), which is not used`),
				perr(kindPool, "c", "spec.addresses[0]", ovl,
					`overlaps pool "b" (192.0.2.0/24), which is older (pool "b" takes precedence even while it is not in use itself)`),
			},
		}, {
			// Deleting a lets b in; c, which was never in use, stays out, so
			// nothing that worked stops working.
			pools: []v1beta1.IPAddressPool{ipPool("b", 1, "192.0.2.0/24"), ipPool("c", 2, "192.0.2.128/25")},
			want:  []*Pool{model("b", 1, "192.0.2.0/24")},
			problems: []Problem{
				pwarn(kindPool, "b", "spec.addresses[0]", ovl, `overlaps pool "c" (192.0.2.128/25), which is not used`),
				perr(kindPool, "c", "spec.addresses[0]", ovl, `overlaps pool "b" (192.0.2.0/24), which is older`),
			},
		}, {
			statusLost: true,
			pools:      []v1beta1.IPAddressPool{ipPool("b", 1, "192.0.2.0/24"), ipPool("c", 2, "192.0.2.128/25")},
			want:       []*Pool{model("b", 1, "192.0.2.0/24")},
			problems: []Problem{
				pwarn(kindPool, "b", "spec.addresses[0]", ovl, `overlaps pool "c" (192.0.2.128/25), which is not used`),
				perr(kindPool, "c", "spec.addresses[0]", ovl, `overlaps pool "b" (192.0.2.0/24), which is older`),
			},
		}},
	}, {
		name: "editing an older pool onto a pool in use: the edit gives way",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("x", 0, "192.0.2.0/25"), ipPool("y", 1, "192.0.2.128/25")},
			want:  []*Pool{model("x", 0, "192.0.2.0/25"), model("y", 1, "192.0.2.128/25")},
		}, {
			pools: []v1beta1.IPAddressPool{ipPool("x", 0, "192.0.2.0/24"), ipPool("y", 1, "192.0.2.128/25")},
			want:  []*Pool{model("x", 0, "192.0.2.0/25"), model("y", 1, "192.0.2.128/25")},
			problems: []Problem{
				lastValid(kindPool, "x"),
				perr(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "y" (192.0.2.128/25)`+inUse),
				pwarn(kindPool, "y", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/24), which keeps its last valid version instead`),
			},
		}, {
			// Still pending: the kept version stays.
			pools: []v1beta1.IPAddressPool{ipPool("x", 0, "192.0.2.0/24"), ipPool("y", 1, "192.0.2.128/25")},
			want:  []*Pool{model("x", 0, "192.0.2.0/25"), model("y", 1, "192.0.2.128/25")},
			problems: []Problem{
				lastValid(kindPool, "x"),
				perr(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "y" (192.0.2.128/25)`+inUse),
				pwarn(kindPool, "y", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/24), which keeps its last valid version instead`),
			},
		}, {
			// Statuses lost (a restore from a backup): nothing says x was
			// in use, so age decides.
			statusLost: true,
			pools:      []v1beta1.IPAddressPool{ipPool("x", 0, "192.0.2.0/24"), ipPool("y", 1, "192.0.2.128/25")},
			want:       []*Pool{model("x", 0, "192.0.2.0/24")},
			problems: []Problem{
				pwarn(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "y" (192.0.2.128/25), which is not used`),
				perr(kindPool, "y", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/24), which is older`),
			},
		}},
	}, {
		name: "fixing the edit takes the new version",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("x", 0, "192.0.2.0/25"), ipPool("y", 1, "192.0.2.128/25")},
			want:  []*Pool{model("x", 0, "192.0.2.0/25"), model("y", 1, "192.0.2.128/25")},
		}, {
			pools: []v1beta1.IPAddressPool{ipPool("x", 0, "192.0.2.0/24"), ipPool("y", 1, "192.0.2.128/25")},
			want:  []*Pool{model("x", 0, "192.0.2.0/25"), model("y", 1, "192.0.2.128/25")},
			problems: []Problem{
				lastValid(kindPool, "x"),
				perr(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "y" (192.0.2.128/25)`+inUse),
				pwarn(kindPool, "y", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/24), which keeps its last valid version instead`),
			},
		}, {
			pools: []v1beta1.IPAddressPool{ipPool("x", 0, "192.0.2.0/26"), ipPool("y", 1, "192.0.2.128/25")},
			want:  []*Pool{model("x", 0, "192.0.2.0/26"), model("y", 1, "192.0.2.128/25")},
		}},
	}, {
		name: "a newer pool cannot take the addresses of the last valid version",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("x", 0, "192.0.2.0/25"), ipPool("y", 1, "192.0.2.128/25")},
			want:  []*Pool{model("x", 0, "192.0.2.0/25"), model("y", 1, "192.0.2.128/25")},
		}, {
			pools: []v1beta1.IPAddressPool{
				ipPool("x", 0, "192.0.2.0/24"),
				ipPool("y", 1, "192.0.2.128/25"),
				ipPool("z", 2, "192.0.2.0/26"),
			},
			want: []*Pool{model("x", 0, "192.0.2.0/25"), model("y", 1, "192.0.2.128/25")},
			problems: []Problem{
				lastValid(kindPool, "x"),
				perr(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "y" (192.0.2.128/25)`+inUse),
				pwarn(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "z" (192.0.2.0/26), which is not used`),
				pwarn(kindPool, "y", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/24), which keeps its last valid version instead`),
				perr(kindPool, "z", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/24), which is older`),
			},
		}},
	}, {
		name: "a pool that was invalid and is fixed onto a pool in use gives way, though older",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("n", 0, "bad"), ipPool("y", 1, "192.0.2.0/24")},
			want:  []*Pool{model("y", 1, "192.0.2.0/24")},
			problems: []Problem{
				perr(kindPool, "n", "spec.addresses[0]", v1beta1.ReasonInvalid, `"bad": not a CIDR or a first-last range`),
			},
		}, {
			pools: []v1beta1.IPAddressPool{ipPool("n", 0, "192.0.2.0/25"), ipPool("y", 1, "192.0.2.0/24")},
			want:  []*Pool{model("y", 1, "192.0.2.0/24")},
			problems: []Problem{
				perr(kindPool, "n", "spec.addresses[0]", ovl, `overlaps pool "y" (192.0.2.0/24)`+inUse),
				pwarn(kindPool, "y", "spec.addresses[0]", ovl, `overlaps pool "n" (192.0.2.0/25), which is not used`),
			},
		}},
	}, {
		name: "a changed pool keeps its addresses from a pool that was invalid before",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{
				ipPool("n", 0, "bad"),
				ipPool("x", 1, "192.0.2.0/25"),
				ipPool("e", 2, "198.51.100.0/24"),
			},
			want: []*Pool{model("e", 2, "198.51.100.0/24"), model("x", 1, "192.0.2.0/25")},
			problems: []Problem{
				perr(kindPool, "n", "spec.addresses[0]", v1beta1.ReasonInvalid, `"bad": not a CIDR or a first-last range`),
			},
		}, {
			// x moves onto e and gives way; n, though older than x, is new
			// and must not take the addresses x keeps using.
			pools: []v1beta1.IPAddressPool{
				ipPool("n", 0, "192.0.2.0/25"),
				ipPool("x", 1, "198.51.100.0/25"),
				ipPool("e", 2, "198.51.100.0/24"),
			},
			want: []*Pool{model("e", 2, "198.51.100.0/24"), model("x", 1, "192.0.2.0/25")},
			problems: []Problem{
				pwarn(kindPool, "e", "spec.addresses[0]", ovl, `overlaps pool "x" (198.51.100.0/25), which keeps its last valid version instead`),
				perr(kindPool, "n", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/25)`+inUse),
				lastValid(kindPool, "x"),
				perr(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "e" (198.51.100.0/24)`+inUse),
				pwarn(kindPool, "x", "", ovl, `overlaps pool "n" (192.0.2.0/25), which is not used`),
			},
		}},
	}, {
		name: "an invalid pool keeps its last valid version against a new pool",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("a", 5, "192.0.2.0/24")},
			want:  []*Pool{model("a", 5, "192.0.2.0/24")},
		}, {
			pools: []v1beta1.IPAddressPool{ipPool("a", 5, "192.0.2.0/24", "oops"), ipPool("b", 0, "192.0.2.0/26")},
			want:  []*Pool{model("a", 5, "192.0.2.0/24")},
			problems: []Problem{
				lastValid(kindPool, "a"),
				perr(kindPool, "a", "spec.addresses[1]", v1beta1.ReasonInvalid, `"oops": not a CIDR or a first-last range`),
				pwarn(kindPool, "a", "", ovl, `overlaps pool "b" (192.0.2.0/26), which is not used`),
				perr(kindPool, "b", "spec.addresses[0]", ovl, `overlaps pool "a" (192.0.2.0/24)`+inUse),
			},
		}},
	}, {
		name: "the last valid version cannot be kept when it overlaps too",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("e", 0, "198.51.100.0/24"), ipPool("x", 1, "192.0.2.0/24")},
			want:  []*Pool{model("e", 0, "198.51.100.0/24"), model("x", 1, "192.0.2.0/24")},
		}, {
			// e moves onto x's addresses; x moves onto e's. Both changed,
			// so age decides between them: e (older) takes its new range,
			// x's new and last valid versions both overlap it.
			pools: []v1beta1.IPAddressPool{ipPool("e", 0, "192.0.2.0/24"), ipPool("x", 1, "192.0.2.0/25")},
			want:  []*Pool{model("e", 0, "192.0.2.0/24")},
			problems: []Problem{
				pwarn(kindPool, "e", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/25), which is not used`),
				perr(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "e" (192.0.2.0/24), which is older`),
				prevOverlap("x", "192.0.2.0/24", "e", "192.0.2.0/24"),
			},
		}, {
			// Nothing changes: neither does the result.
			pools: []v1beta1.IPAddressPool{ipPool("e", 0, "192.0.2.0/24"), ipPool("x", 1, "192.0.2.0/25")},
			want:  []*Pool{model("e", 0, "192.0.2.0/24")},
			problems: []Problem{
				pwarn(kindPool, "e", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/25), which is not used`),
				perr(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "e" (192.0.2.0/24), which is older`),
				prevOverlap("x", "192.0.2.0/24", "e", "192.0.2.0/24"),
			},
		}, {
			// e moves away again. x asks for 192.0.2.0/25, which is free now.
			pools: []v1beta1.IPAddressPool{ipPool("e", 0, "198.51.100.0/24"), ipPool("x", 1, "192.0.2.0/25")},
			want:  []*Pool{model("e", 0, "198.51.100.0/24"), model("x", 1, "192.0.2.0/25")},
		}},
	}, {
		name: "a pool that gave way is remembered, not established",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("e", 0, "198.51.100.0/24"), ipPool("x", 1, "192.0.2.0/24")},
			want:  []*Pool{model("e", 0, "198.51.100.0/24"), model("x", 1, "192.0.2.0/24")},
		}, {
			// As above: both move, x gives way entirely.
			pools: []v1beta1.IPAddressPool{ipPool("e", 0, "192.0.2.0/24"), ipPool("x", 1, "192.0.2.0/25")},
			want:  []*Pool{model("e", 0, "192.0.2.0/24")},
			problems: []Problem{
				pwarn(kindPool, "e", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/25), which is not used`),
				perr(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "e" (192.0.2.0/24), which is older`),
				prevOverlap("x", "192.0.2.0/24", "e", "192.0.2.0/24"),
			},
		}, {
			// x now has errors. Its last valid version (192.0.2.0/24) is
			// remembered, but it was not in use, so it does not push e,
			// which is, out.
			pools: []v1beta1.IPAddressPool{ipPool("e", 0, "192.0.2.0/24"), ipPool("x", 1, "junk")},
			want:  []*Pool{model("e", 0, "192.0.2.0/24")},
			problems: []Problem{
				perr(kindPool, "x", "spec.addresses[0]", v1beta1.ReasonInvalid, `"junk": not a CIDR or a first-last range`),
				prevOverlap("x", "192.0.2.0/24", "e", "192.0.2.0/24"),
			},
		}, {
			// e goes away: x's last valid version is free and comes back.
			pools: []v1beta1.IPAddressPool{ipPool("x", 1, "junk")},
			want:  []*Pool{model("x", 1, "192.0.2.0/24")},
			problems: []Problem{
				lastValid(kindPool, "x"),
				perr(kindPool, "x", "spec.addresses[0]", v1beta1.ReasonInvalid, `"junk": not a CIDR or a first-last range`),
			},
		}},
	}, {
		name: "a remembered pool keeps its place against newer pools",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("e", 0, "198.51.100.0/24"), ipPool("x", 1, "192.0.2.0/24")},
			want:  []*Pool{model("e", 0, "198.51.100.0/24"), model("x", 1, "192.0.2.0/24")},
		}, {
			pools: []v1beta1.IPAddressPool{ipPool("e", 0, "192.0.2.0/24"), ipPool("x", 1, "192.0.2.0/25", "203.0.113.0/24")},
			want:  []*Pool{model("e", 0, "192.0.2.0/24")},
			problems: []Problem{
				pwarn(kindPool, "e", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/25), which is not used`),
				perr(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "e" (192.0.2.0/24), which is older`),
				prevOverlap("x", "192.0.2.0/24", "e", "192.0.2.0/24"),
			},
		}, {
			// y, older than x but new, asks for addresses x asks for. x
			// was there first, so y gives way, now and on every later
			// call, until the statuses are lost.
			pools: []v1beta1.IPAddressPool{
				ipPool("e", 0, "192.0.2.0/24"),
				ipPool("x", 1, "192.0.2.0/25", "203.0.113.0/24"),
				ipPool("y", -1, "203.0.113.0/26"),
			},
			want: []*Pool{model("e", 0, "192.0.2.0/24")},
			problems: []Problem{
				pwarn(kindPool, "e", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/25), which is not used`),
				perr(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "e" (192.0.2.0/24), which is older`),
				prevOverlap("x", "192.0.2.0/24", "e", "192.0.2.0/24"),
				pwarn(kindPool, "x", "spec.addresses[1]", ovl, `overlaps pool "y" (203.0.113.0/26), which is not used`),
				perr(kindPool, "y", "spec.addresses[0]", ovl,
					`overlaps pool "x" (203.0.113.0/24)`+inUse+` (pool "x" takes precedence even while it is not in use itself)`),
			},
		}, {
			statusLost: true,
			pools: []v1beta1.IPAddressPool{
				ipPool("e", 0, "192.0.2.0/24"),
				ipPool("x", 1, "192.0.2.0/25", "203.0.113.0/24"),
				ipPool("y", -1, "203.0.113.0/26"),
			},
			want: []*Pool{model("e", 0, "192.0.2.0/24"), model("y", -1, "203.0.113.0/26")},
			problems: []Problem{
				pwarn(kindPool, "e", "spec.addresses[0]", ovl, `overlaps pool "x" (192.0.2.0/25), which is not used`),
				perr(kindPool, "x", "spec.addresses[0]", ovl, `overlaps pool "e" (192.0.2.0/24), which is older`),
				perr(kindPool, "x", "spec.addresses[1]", ovl, `overlaps pool "y" (203.0.113.0/26), which is older`),
				pwarn(kindPool, "y", "spec.addresses[0]", ovl, `overlaps pool "x" (203.0.113.0/24), which is not used`),
			},
		}},
	}, {
		name: "disabled and manual pools keep their addresses against newer pools",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{
				modPool(ipPool("off", 0, "192.0.2.0/25"), func(p *v1beta1.IPAddressPool) { p.Spec.Disabled = true }),
				modPool(ipPool("manual", 1, "192.0.2.128/25"), func(p *v1beta1.IPAddressPool) { p.Spec.AutoAssign = ptr(false) }),
				ipPool("new", 2, "192.0.2.0/24"),
			},
			want: []*Pool{
				modModel(model("manual", 1, "192.0.2.128/25"), func(p *Pool) { p.AutoAssign = false }),
				modModel(model("off", 0, "192.0.2.0/25"), func(p *Pool) { p.Disabled = true }),
			},
			problems: []Problem{
				pwarn(kindPool, "manual", "spec.addresses[0]", ovl, `overlaps pool "new" (192.0.2.0/24), which is not used`),
				perr(kindPool, "new", "spec.addresses[0]", ovl, `overlaps pool "manual" (192.0.2.128/25), which is older`),
				perr(kindPool, "new", "spec.addresses[0]", ovl, `overlaps pool "off" (192.0.2.0/25), which is older`),
				pwarn(kindPool, "off", "spec.addresses[0]", ovl, `overlaps pool "new" (192.0.2.0/24), which is not used`),
			},
		}},
	}, {
		name: "an invalid pool without a last valid version claims nothing",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{
				withAllocation(ipPool("broken", 0, "192.0.2.0/24"), func(a *v1beta1.ServiceAllocation) {
					a.ServiceSelectors = []metav1.LabelSelector{badOperator("?")}
				}),
				ipPool("fine", 1, "192.0.2.0/24"),
			},
			want: []*Pool{model("fine", 1, "192.0.2.0/24")},
			problems: []Problem{perr(kindPool, "broken", "spec.allocateTo.serviceSelectors[0]", v1beta1.ReasonInvalid,
				`invalid label selector: "?" is not a valid label selector operator`)},
		}},
	}, {
		name: "ranges that only touch do not overlap",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{
				ipPool("low", 0, "192.0.2.0-192.0.2.127"),
				ipPool("high", 1, "192.0.2.128-192.0.2.255"),
				ipPool("next", 2, "192.0.3.0/32"),
				ipPool("v6-low", 3, "fd00::-fd00::ffff"),
				ipPool("v6-high", 4, "fd00::1:0/112"),
			},
			want: []*Pool{
				model("high", 1, "192.0.2.128/25"),
				model("low", 0, "192.0.2.0/25"),
				model("next", 2, "192.0.3.0/32"),
				model("v6-high", 4, "fd00::1:0/112"),
				model("v6-low", 3, "fd00::/112"),
			},
		}},
	}, {
		name: "one address in common is an overlap",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{
				ipPool("low", 0, "192.0.2.0-192.0.2.128"),
				ipPool("high", 1, "192.0.2.128/25"),
			},
			want: []*Pool{model("low", 0, "192.0.2.0-192.0.2.128")},
			problems: []Problem{
				perr(kindPool, "high", "spec.addresses[0]", ovl, `overlaps pool "low" (192.0.2.0-192.0.2.128), which is older`),
				pwarn(kindPool, "low", "spec.addresses[0]", ovl, `overlaps pool "high" (192.0.2.128/25), which is not used`),
			},
		}},
	}, {
		name: "many pools on one range: the oldest wins, each loser is told once",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{
				ipPool("p3", 3, "192.0.2.0/24"),
				ipPool("p1", 1, "192.0.2.0/24"),
				ipPool("p2", 2, "192.0.2.0/24"),
				ipPool("p0", 0, "192.0.2.0/24"),
			},
			want: []*Pool{model("p0", 0, "192.0.2.0/24")},
			problems: []Problem{
				pwarn(kindPool, "p0", "spec.addresses[0]", ovl, `overlaps pool "p1" (192.0.2.0/24), which is not used`),
				pwarn(kindPool, "p0", "spec.addresses[0]", ovl, `overlaps pool "p2" (192.0.2.0/24), which is not used`),
				pwarn(kindPool, "p0", "spec.addresses[0]", ovl, `overlaps pool "p3" (192.0.2.0/24), which is not used`),
				perr(kindPool, "p1", "spec.addresses[0]", ovl, `overlaps pool "p0" (192.0.2.0/24), which is older`),
				pwarn(kindPool, "p1", "spec.addresses[0]", ovl, `overlaps pool "p2" (192.0.2.0/24), which is not used`),
				pwarn(kindPool, "p1", "spec.addresses[0]", ovl, `overlaps pool "p3" (192.0.2.0/24), which is not used`),
				perr(kindPool, "p2", "spec.addresses[0]", ovl, `overlaps pool "p0" (192.0.2.0/24), which is older`),
				perr(kindPool, "p2", "spec.addresses[0]", ovl,
					`overlaps pool "p1" (192.0.2.0/24), which is older (pool "p1" takes precedence even while it is not in use itself)`),
				pwarn(kindPool, "p2", "spec.addresses[0]", ovl, `overlaps pool "p3" (192.0.2.0/24), which is not used`),
				perr(kindPool, "p3", "spec.addresses[0]", ovl, `overlaps pool "p0" (192.0.2.0/24), which is older`),
				perr(kindPool, "p3", "spec.addresses[0]", ovl,
					`overlaps pool "p1" (192.0.2.0/24), which is older (pool "p1" takes precedence even while it is not in use itself)`),
				perr(kindPool, "p3", "spec.addresses[0]", ovl,
					`overlaps pool "p2" (192.0.2.0/24), which is older (pool "p2" takes precedence even while it is not in use itself)`),
			},
		}},
	}, {
		name: "changing fields other than addresses is not a change of place",
		steps: []step{{
			pools: []v1beta1.IPAddressPool{ipPool("a", 0, "192.0.2.0/24")},
			want:  []*Pool{model("a", 0, "192.0.2.0/24")},
		}, {
			pools: []v1beta1.IPAddressPool{
				modPool(ipPool("a", 0, "192.0.2.0/24"), func(p *v1beta1.IPAddressPool) { p.Spec.Disabled = true }),
				ipPool("b", -1, "192.0.2.0/24"),
			},
			want: []*Pool{modModel(model("a", 0, "192.0.2.0/24"), func(p *Pool) { p.Disabled = true })},
			problems: []Problem{
				pwarn(kindPool, "a", "spec.addresses[0]", ovl, `overlaps pool "b" (192.0.2.0/24), which is not used`),
				perr(kindPool, "b", "spec.addresses[0]", ovl, `overlaps pool "a" (192.0.2.0/24)`+inUse),
			},
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.steps) })
	}
}

// prevOverlap is the error on a pool whose last valid version gave way too.
func prevOverlap(pool, prev, other, otherRange string) Problem {
	return perr(kindPool, pool, "", ovl, fmt.Sprintf(
		"the last valid version (%s) overlaps pool %q (%s) as well, so it cannot stay in use either", prev, other, otherRange))
}

func TestPoolBecomesInvalid(t *testing.T) {
	good := modPool(ipPool("a", 0, "192.0.2.0/24"), func(p *v1beta1.IPAddressPool) {
		p.Spec.AllocateTo = &v1beta1.ServiceAllocation{Priority: ptr(int32(3))}
	})
	bad := modPool(good, func(p *v1beta1.IPAddressPool) {
		p.Spec.Addresses = []string{"192.0.2.0/24", "192.0.2.0-192.0.2.300"}
		p.Spec.AllocateTo = &v1beta1.ServiceAllocation{Priority: ptr(int32(1))}
	})
	wantGood := modModel(model("a", 0, "192.0.2.0/24"), func(p *Pool) { p.Priority = ptr(int32(3)) })
	badAddr := perr(kindPool, "a", "spec.addresses[1]", v1beta1.ReasonInvalid,
		`"192.0.2.0-192.0.2.300": not a CIDR or a first-last range: last address: ParseAddr("192.0.2.300"): IPv4 field has value >255`)
	runSteps(t, []step{{
		pools: []v1beta1.IPAddressPool{good},
		want:  []*Pool{wantGood},
	}, {
		// The whole last valid version stays, priority included.
		pools:    []v1beta1.IPAddressPool{bad},
		want:     []*Pool{wantGood},
		problems: []Problem{lastValid(kindPool, "a"), badAddr},
	}, {
		// It keeps being kept while the object stays invalid.
		pools:    []v1beta1.IPAddressPool{bad},
		want:     []*Pool{wantGood},
		problems: []Problem{lastValid(kindPool, "a"), badAddr},
	}, {
		// Deleting the object removes it, last valid version or not.
		pools: nil,
		want:  nil,
	}, {
		// Recreated invalid, it has nothing to fall back to.
		pools:    []v1beta1.IPAddressPool{bad},
		want:     nil,
		problems: []Problem{badAddr},
	}})
}

// A pool made invalid keeps its last valid version in a process that never
// saw it valid (a restarted controller, a new leader, a speaker started
// now): the version comes from the pool's status. Only a pool whose status
// was lost has nothing to fall back to.
func TestPoolInvalidAcrossRestart(t *testing.T) {
	valid := ipPool("a", 0, "192.0.2.0/24")
	c := mustFor(t, ClusterResources{Pools: []v1beta1.IPAddressPool{valid}}, nil)
	invalid := ClusterResources{Pools: []v1beta1.IPAddressPool{ipPool("a", 0)}}
	noAddresses := perr(kindPool, "a", "spec.addresses", v1beta1.ReasonInvalid, "no addresses")

	fresh, problems := For(recorded(invalid, c))
	diffProblems(t, problems, []Problem{lastValid(kindPool, "a"), noAddresses})
	if d := cmp.Diff([]*Pool{model("a", 0, "192.0.2.0/24")}, fresh.Pools(), cmpOpts); d != "" {
		t.Errorf("pools after a restart (-want +got):\n%s", d)
	}

	lost, problems := For(invalid)
	diffProblems(t, problems, []Problem{noAddresses})
	if len(lost.Pools()) != 0 {
		t.Errorf("pools without status: %v", lost.Pools())
	}
}

func TestPrecedence(t *testing.T) {
	// precedence must be a strict weak order for sorting: check it on every
	// pair of a mixed set of candidates.
	prev := model("p", 0, "192.0.2.0/24")
	cands := []*poolCandidate{
		{name: "new-old", created: created(0), current: model("new-old", 0, "10.0.0.0/8")},
		{name: "new-young", created: created(9), current: model("new-young", 9, "10.0.0.0/8")},
		{name: "est", created: created(5), current: model("est", 5, "192.0.2.0/24"), prev: prev, inUse: true},
		{name: "est-invalid", created: created(6), prev: prev, inUse: true},
		{name: "changed", created: created(1), current: model("changed", 1, "192.0.3.0/24"), prev: prev, inUse: true},
		{name: "remembered", created: created(2), current: model("remembered", 2, "192.0.2.0/24"), prev: prev},
		{name: "remembered-invalid", created: created(3), prev: prev},
	}
	wantTier := map[string]int{
		"new-old": tierNew, "new-young": tierNew, "est": tierEstablished, "est-invalid": tierEstablished,
		"changed": tierChanged, "remembered": tierChanged, "remembered-invalid": tierChanged,
	}
	for _, c := range cands {
		if got := c.tier(); got != wantTier[c.name] {
			t.Errorf("%s: tier %d, want %d", c.name, got, wantTier[c.name])
		}
		for _, d := range cands {
			if precedence(c, d) != -precedence(d, c) {
				t.Errorf("precedence(%s, %s) is not antisymmetric", c.name, d.name)
			}
		}
	}
}
