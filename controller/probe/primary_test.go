package probe

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

var (
	db1  = netip.MustParseAddrPort("10.1.0.31:3306")
	db2  = netip.MustParseAddrPort("10.1.0.32:3306")
	db3  = netip.MustParseAddrPort("[2001:db8::33]:3306")
	none netip.AddrPort
)

func cand(a netip.AddrPort, up bool, role v1beta1.TargetRole) Candidate {
	return Candidate{Addr: a, Up: up, Role: role}
}

func TestElect(t *testing.T) {
	P, R, U := v1beta1.RolePrimary, v1beta1.RoleReplica, v1beta1.RoleUnknown
	tests := []struct {
		name       string
		current    netip.AddrPort
		candidates []Candidate
		want       Election
	}{
		{"no candidates", none, nil, Election{}},
		{"one primary", none, []Candidate{cand(db1, true, P), cand(db2, true, R)}, Election{Primary: db1, Claimants: []netip.AddrPort{db1}}},
		{"current stays", db1, []Candidate{cand(db1, true, P), cand(db2, true, R)}, Election{Primary: db1, Claimants: []netip.AddrPort{db1}}},
		{"primary moves", db1, []Candidate{cand(db1, true, R), cand(db2, true, P)}, Election{Primary: db2, Claimants: []netip.AddrPort{db2}}},
		{"current down, other claims", db1, []Candidate{cand(db1, false, P), cand(db2, true, P)}, Election{Primary: db2, Claimants: []netip.AddrPort{db2}}},
		{"split brain keeps current", db2, []Candidate{cand(db1, true, P), cand(db2, true, P), cand(db3, true, R)}, Election{Primary: db2, Claimants: []netip.AddrPort{db1, db2}, SplitBrain: true}},
		{"split brain without current elects none", none, []Candidate{cand(db3, true, P), cand(db1, true, P)}, Election{Claimants: []netip.AddrPort{db1, db3}, SplitBrain: true}},
		{"split brain, current gone, elects none", db3, []Candidate{cand(db1, true, P), cand(db2, true, P), cand(db3, true, R)}, Election{Claimants: []netip.AddrPort{db1, db2}, SplitBrain: true}},
		{"nobody writable", db1, []Candidate{cand(db1, true, R), cand(db2, true, U)}, Election{}},
		{"down primary is no claimant", none, []Candidate{cand(db1, false, P)}, Election{}},
		{"current no longer a candidate", db1, []Candidate{cand(db2, true, R)}, Election{}},
		{"duplicate candidate counts once", none, []Candidate{cand(db1, true, P), cand(db1, true, P)}, Election{Primary: db1, Claimants: []netip.AddrPort{db1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Elect(tt.current, tt.candidates), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Errorf("Elect (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNeverTwoPrimaries drives trackers for three targets with random result
// sequences, electing after every probe as the reconciler does, and checks
// that what is published is at most one primary, that it is always a live
// claimant, and that a live claimant that is published stays published.
func TestNeverTwoPrimaries(t *testing.T) {
	addrs := []netip.AddrPort{db1, db2, db3}
	outcomes := []Result{
		{Outcome: Success, Role: v1beta1.RolePrimary},
		{Outcome: Success, Role: v1beta1.RoleReplica},
		{Outcome: Failure},
		{Outcome: AuthFailure},
	}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		th := Thresholds{Healthy: 1 + rng.IntN(3), Unhealthy: 1 + rng.IntN(3)}
		trackers := make([]*Tracker, len(addrs))
		for i := range trackers {
			trackers[i] = NewTracker(th)
		}
		var published netip.AddrPort
		for step := range 200 {
			i := rng.IntN(len(addrs))
			trackers[i].Observe(outcomes[rng.IntN(len(outcomes))])
			var cands []Candidate
			for j, tr := range trackers {
				cands = append(cands, Candidate{Addr: addrs[j], Up: tr.Up(), Role: tr.Role()})
			}
			e := Elect(published, cands)
			if e.Primary.IsValid() && !slices.Contains(e.Claimants, e.Primary) {
				t.Fatalf("seed %d step %d: primary %s is not a claimant %v", seed, step, e.Primary, e.Claimants)
			}
			if published.IsValid() && slices.Contains(e.Claimants, published) && e.Primary != published {
				t.Fatalf("seed %d step %d: primary moved from %s, still a claimant, to %s", seed, step, published, e.Primary)
			}
			if len(e.Claimants) > 1 && !slices.Contains(e.Claimants, published) && e.Primary.IsValid() {
				t.Fatalf("seed %d step %d: picked %s among claimants %v, none of them the current primary %s", seed, step, e.Primary, e.Claimants, published)
			}
			ready := 0
			for j, tr := range trackers {
				// What the reconciler publishes as ready under Primary routing.
				if addrs[j] == e.Primary && tr.Up() && tr.Role() == v1beta1.RolePrimary {
					ready++
				}
			}
			if ready > 1 || (e.Primary.IsValid() && ready != 1) {
				t.Fatalf("seed %d step %d: %d ready primaries for election %+v", seed, step, ready, e)
			}
			published = e.Primary
		}
	}
}
