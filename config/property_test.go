package config

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The tests in this file check promises of For on random snapshots: many
// small pools crammed into 10.0.0.0/24 and fd00::/120 so that they overlap
// often, some of them invalid, with ages that often tie.

const propertyRounds = 300

// randomPools returns up to 8 pools named p0…p7.
func randomPools(rng *rand.Rand) []v1beta1.IPAddressPool {
	var pools []v1beta1.IPAddressPool
	for i := range rng.IntN(8) + 1 {
		var addrs []string
		for range rng.IntN(2) + 1 {
			addrs = append(addrs, randomAddress(rng))
		}
		p := ipPool(fmt.Sprintf("p%d", i), rng.IntN(4), addrs...)
		if rng.IntN(10) == 0 {
			// Valid addresses but an invalid selector: such a pool claims
			// nothing, and must not stop others.
			p.Spec.AllocateTo = &v1beta1.ServiceAllocation{ServiceSelectors: []metav1.LabelSelector{badOperator("Nope")}}
		}
		p.Labels = map[string]string{"half": fmt.Sprint(i % 2)}
		pools = append(pools, p)
	}
	return pools
}

func randomAddress(rng *rand.Rand) string {
	switch rng.IntN(12) {
	case 0:
		return "not-an-address"
	case 1:
		a := rng.IntN(256)
		return fmt.Sprintf("fd00::%x/%d", a&^0xf, 124+rng.IntN(5))
	case 2, 3, 4:
		bits := 26 + rng.IntN(7)
		a := rng.IntN(256) &^ (1<<(32-bits) - 1) // no host bits: iprange refuses them
		return fmt.Sprintf("10.0.0.%d/%d", a, bits)
	default:
		a := rng.IntN(256)
		b := min(255, a+rng.IntN(40))
		return fmt.Sprintf("10.0.0.%d-10.0.0.%d", a, b)
	}
}

// randomSnapshot is randomPools plus advertisements that select by name and
// label, and two peers, one of them invalid.
func randomSnapshot(rng *rand.Rand) ClusterResources {
	res := ClusterResources{
		Pools:    randomPools(rng),
		BGPPeers: []v1beta1.BGPPeer{bgpPeer("r1", "192.0.2.254"), bgpPeer("r-bad", "nope")},
		Nodes:    advFixture().Nodes,
	}
	res.L2Advertisements = []v1beta1.L2Advertisement{
		l2Adv("l2-all", v1beta1.L2AdvertisementSpec{}),
		l2Adv("l2-half", v1beta1.L2AdvertisementSpec{IPAddressPoolSelectors: []metav1.LabelSelector{labelSelector("half", "0")}}),
	}
	res.BGPAdvertisements = []v1beta1.BGPAdvertisement{
		bgpAdv("bgp-named", v1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"p1", "p3"}, AggregationLength: ptr(int32(30))}),
		bgpAdv("bgp-all", v1beta1.BGPAdvertisementSpec{Peers: []string{"r1", "r-bad"}}),
	}
	return res
}

// editPools changes some pools' addresses at random, as a user would.
func editPools(rng *rand.Rand, res ClusterResources) ClusterResources {
	res.Pools = slices.Clone(res.Pools)
	for i := range res.Pools {
		if rng.IntN(3) == 0 {
			res.Pools[i].Spec.Addresses = []string{randomAddress(rng)}
		}
	}
	if rng.IntN(2) == 0 {
		res.Pools = append(res.Pools, ipPool("late", rng.IntN(6), randomAddress(rng)))
	}
	return res
}

func TestPropertyInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range propertyRounds {
		res := randomSnapshot(rng)
		c0, p0 := For(res)
		checkModel(t, c0, p0)
		checkStatus(t, res, c0, p0)
		edited := editPools(rng, res)
		c1, p1 := forAfter(edited, c0)
		checkModel(t, c1, p1)
		checkStatus(t, edited, c1, p1)
		if t.Failed() {
			t.Fatalf("round %d", round)
		}
	}
}

// TestPropertyFixpoint: running For again on the same snapshot, with its own
// result as previous, changes nothing, Problems included. So the controller
// settles after one pass and does not rewrite conditions for nothing.
func TestPropertyFixpoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 9))
	for round := range propertyRounds {
		res := randomSnapshot(rng)
		c0, p0 := For(res)
		again, pAgain := forAfter(res, c0)
		if d := cmp.Diff(viewOf(c0, p0), viewOf(again, pAgain), cmpOpts); d != "" {
			t.Fatalf("round %d: a second For after a restart changed the result (-first +second):\n%s", round, d)
		}
		edited := editPools(rng, res)
		c1, p1 := forAfter(edited, c0)
		c2, p2 := forAfter(edited, c1)
		if d := cmp.Diff(viewOf(c1, p1), viewOf(c2, p2), cmpOpts); d != "" {
			t.Fatalf("round %d: a second For changed the result (-first +second):\n%s\nsnapshot: %v", round, d, addressesOf(edited))
		}
	}
}

// TestPropertyDeletionOnlyLetsIn: deleting a pool never takes addresses from
// another pool. Each remaining pool keeps the addresses it had, or moves to
// the ones it asks for now.
func TestPropertyDeletionOnlyLetsIn(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range propertyRounds {
		res := randomSnapshot(rng)
		c0, _ := For(res)
		edited := editPools(rng, res)
		c1, _ := forAfter(edited, c0)

		victim := rng.IntN(len(edited.Pools))
		after := edited
		after.Pools = slices.Delete(slices.Clone(edited.Pools), victim, victim+1)
		c2, _ := forAfter(after, c1)
		for _, p := range c1.Pools() {
			if p.Name == edited.Pools[victim].Name {
				continue
			}
			checkKeptOrCurrent(t, round, p, c2.Pool(p.Name), after, "deleting "+edited.Pools[victim].Name)
		}
	}
}

// TestPropertyInvalidEditKeepsEverything: making a pool invalid takes no
// addresses from any pool, itself included.
func TestPropertyInvalidEditKeepsEverything(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range propertyRounds {
		res := randomSnapshot(rng)
		c0, _ := For(res)
		edited := editPools(rng, res)
		c1, _ := forAfter(edited, c0)

		victim := rng.IntN(len(edited.Pools))
		broken := edited
		broken.Pools = slices.Clone(edited.Pools)
		broken.Pools[victim] = modPool(broken.Pools[victim], func(p *v1beta1.IPAddressPool) {
			p.Spec.Addresses = append(slices.Clone(p.Spec.Addresses), "broken")
		})
		c2, _ := forAfter(broken, c1)
		name := broken.Pools[victim].Name
		if before := c1.Pool(name); before != nil {
			if d := cmp.Diff(before.Ranges, rangesOf(c2.Pool(name)), cmpOpts); d != "" {
				t.Fatalf("round %d: pool %s made invalid lost its last valid addresses (-before +after):\n%s", round, name, d)
			}
		}
		for _, p := range c1.Pools() {
			checkKeptOrCurrent(t, round, p, c2.Pool(p.Name), broken, "breaking "+name)
		}
	}
}

func TestPropertyOrderDoesNotMatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for round := range propertyRounds / 3 {
		res := randomSnapshot(rng)
		c0, _ := For(res)
		edited := editPools(rng, res)
		c1, p1 := forAfter(edited, c0)
		want := viewOf(c1, p1)
		for range 3 {
			c, p := forAfter(shuffled(edited, rng), c0)
			if d := cmp.Diff(want, viewOf(c, p), cmpOpts); d != "" {
				t.Fatalf("round %d: order changed the result (-want +got):\n%s", round, d)
			}
		}
	}
}

// checkKeptOrCurrent fails unless after, the pool in the new model, has the
// addresses of before or the ones its object asks for now.
func checkKeptOrCurrent(t *testing.T, round int, before, after *Pool, res ClusterResources, what string) {
	t.Helper()
	if after == nil {
		t.Fatalf("round %d: %s took pool %s (%v) out of the model\nsnapshot: %v", round, what, before.Name, before.Ranges, addressesOf(res))
	}
	if cmp.Equal(before.Ranges, after.Ranges, cmpOpts) {
		return
	}
	for _, obj := range res.Pools {
		if obj.Name != before.Name {
			continue
		}
		cur, _, _ := buildPool(&obj)
		if cur != nil && cmp.Equal(cur.Ranges, after.Ranges, cmpOpts) {
			return
		}
	}
	t.Fatalf("round %d: %s moved pool %s from %v to %v, which is not what it asks for\nsnapshot: %v",
		round, what, before.Name, before.Ranges, after.Ranges, addressesOf(res))
}

func rangesOf(p *Pool) any {
	if p == nil {
		return nil
	}
	return p.Ranges
}

func addressesOf(res ClusterResources) []string {
	var out []string
	for _, p := range res.Pools {
		out = append(out, fmt.Sprintf("%s@%d%v", p.Name, p.CreationTimestamp.Minute(), p.Spec.Addresses))
	}
	return out
}

// checkStatus checks that the Problems tell the controller the truth about
// every pool object: one that is not in use has an error; one that is in use
// with an error says its last valid version is in use, first.
func checkStatus(t *testing.T, res ClusterResources, c *Config, problems []Problem) {
	t.Helper()
	for _, obj := range res.Pools {
		mine := problemsAbout(problems, kindPool, obj.Name)
		inUse := c.Pool(obj.Name) != nil
		switch {
		case !inUse && !hasError(mine):
			t.Fatalf("pool %s is not in use, but no error says why: %v", obj.Name, mine)
		case inUse && hasError(mine) && mine[0].Reason != v1beta1.ReasonLastValidInUse:
			t.Fatalf("pool %s is in use with errors, but does not say its last valid version is: %v", obj.Name, mine)
		case inUse && !hasError(mine) && !slices.Equal(c.Pool(obj.Name).Ranges, mustBuild(t, obj).Ranges):
			t.Fatalf("pool %s is in use without errors, but not as written", obj.Name)
		}
	}
}

func mustBuild(t *testing.T, obj v1beta1.IPAddressPool) *Pool {
	t.Helper()
	p, _, problems := buildPool(&obj)
	if p == nil {
		t.Fatalf("pool %s: %v", obj.Name, problems)
	}
	return p
}

// TestPropertyEveryProcessAgrees plays random sequences of edits. After
// each, the controller builds the model from the objects with the statuses
// it recorded before, and records the new Decisions. Whoever builds the
// model from API state at any moment must get the same one, Problems
// included:
//
//   - a restarted controller, a new leader or a speaker started now, which
//     read the statuses just recorded;
//   - the same when the controller stopped after writing only some of them;
//   - a speaker that was started long ago: it keeps nothing, so it is one of
//     the above.
//
// So the controller can stop between deciding and recording and lose
// nothing, and speakers started at different times elect the same pools.
func TestPropertyEveryProcessAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 17))
	for round := range propertyRounds / 3 {
		state := randomSnapshot(rng)
		for step := range 6 {
			edited := editPools(rng, state)
			// Names are unique in a cluster: a second "late" is a new
			// object only once the first is gone.
			seen := map[string]bool{}
			edited.Pools = slices.DeleteFunc(edited.Pools, func(p v1beta1.IPAddressPool) bool {
				dup := seen[p.Name]
				seen[p.Name] = true
				return dup
			})
			if rng.IntN(4) == 0 {
				edited = breakAdvertisements(rng, edited)
			}
			decided, problems := For(edited)
			checkModel(t, decided, problems)
			checkStatus(t, edited, decided, problems)
			want := viewOf(decided, problems)

			after := recorded(edited, decided)
			fresh, freshProblems := For(after)
			if d := cmp.Diff(want, viewOf(fresh, freshProblems), cmpOpts); d != "" {
				t.Fatalf("round %d step %d: a process started after the statuses were written disagrees (-controller +fresh):\n%s\nsnapshot: %v",
					round, step, d, addressesOf(edited))
			}
			partial := partlyRecorded(rng, edited, after)
			if c, p := For(partial); !cmp.Equal(want, viewOf(c, p), cmpOpts) {
				t.Fatalf("round %d step %d: with only some statuses written, a process disagrees (-controller +partial):\n%s\nsnapshot: %v",
					round, step, cmp.Diff(want, viewOf(c, p), cmpOpts), addressesOf(edited))
			}
			state = after
		}
	}
}

// partlyRecorded takes each object's status from after or from before at
// random, as when the controller stopped halfway through writing them.
func partlyRecorded(rng *rand.Rand, before, after ClusterResources) ClusterResources {
	out := after
	out.Pools = slices.Clone(after.Pools)
	for i := range out.Pools {
		if rng.IntN(2) == 0 {
			out.Pools[i].Status = before.Pools[i].Status
		}
	}
	out.L2Advertisements = slices.Clone(after.L2Advertisements)
	for i := range out.L2Advertisements {
		if rng.IntN(2) == 0 {
			out.L2Advertisements[i].Status = before.L2Advertisements[i].Status
		}
	}
	return out
}

// breakAdvertisements makes an advertisement invalid, so that its recorded
// version has to stand in.
func breakAdvertisements(rng *rand.Rand, res ClusterResources) ClusterResources {
	res.L2Advertisements = slices.Clone(res.L2Advertisements)
	res.BGPAdvertisements = slices.Clone(res.BGPAdvertisements)
	if rng.IntN(2) == 0 {
		res.L2Advertisements[1].Spec.Interfaces = []string{"not/valid"}
	} else {
		res.BGPAdvertisements[0].Spec.Communities = []string{"nope"}
	}
	return res
}
