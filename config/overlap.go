package config

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/iprange"
	"k8s.io/apimachinery/pkg/api/equality"
)

// Two pools must never share an address, or two Services could be given the
// same one. When pools overlap, one takes precedence and the other gives way.
//
// Each pool object's status.lastValid records its last valid version (the
// one in use, or the one it had before it gave way) and whether that version
// was in use. The controller writes it after every build (Decisions); For
// only reads it, so every process that reads the same objects ranks them
// the same way. Pools are ranked in tiers, then by age:
//
//  1. Established pools: their recorded version is in use, with the same
//     addresses now (or with errors now, so the version in use is what
//     counts).
//  2. Changed pools: with a recorded version, but not established: their
//     addresses changed, or that version was not in use.
//  3. New pools: without a recorded version.
//
// and within a tier the older pool (creationTimestamp), then the name that
// sorts first, wins. So an edit or a new pool that overlaps a pool already
// handing out addresses never takes that pool down, and a pool that gives way
// after an edit keeps its last valid version, whose addresses new pools
// cannot take either.
//
// A pool claims the addresses of every version it tried, used or not, and
// pools further down must avoid all of them. Without that, whether a pool is
// used would depend on whether some other pool is, and deleting one pool
// could take another one down. With it, deleting a pool only ever lets
// others in.
//
// Running For again on the same objects with its own Decisions recorded
// gives the same result: pools that won become established, which only moves
// them ahead of pools they do not overlap, and every other pool keeps its
// tier. That is why pools that gave way are recorded too, why a controller
// that stops between building a model and recording it loses nothing, and
// why messages explain by age whenever age agrees with the outcome.
//
// Without any recorded version (objects restored from a backup without
// status) every pool is new and age alone decides. Where the tiers decided
// against age, the error on the pool that gave way says so.

// Tiers of poolCandidate, best first.
const (
	tierEstablished = iota
	tierChanged
	tierNew
)

// poolCandidate is one IPAddressPool object on its way into the model.
type poolCandidate struct {
	name     string
	created  time.Time
	current  *Pool       // nil when the object as written has errors
	spec     []specRange // current's ranges, with their spec.addresses index
	problems []Problem   // from validating the object as written
	prev     *Pool       // the recorded last valid version, if any
	inUse    bool        // prev was in use when it was recorded

	curVersion  *v1beta1.IPAddressPoolVersion // current as recorded, when valid
	prevVersion *v1beta1.IPAddressPoolVersion // status.lastValid as found
}

func newPoolCandidate(in *v1beta1.IPAddressPool) *poolCandidate {
	cur, spec, ps := buildPool(in)
	c := &poolCandidate{name: in.Name, created: in.CreationTimestamp.Time, current: cur, spec: spec, problems: ps}
	if cur != nil {
		c.curVersion = &v1beta1.IPAddressPoolVersion{Generation: in.Generation, Spec: *in.Spec.DeepCopy()}
	}
	if lv := in.Status.LastValid; lv != nil {
		c.prevVersion = lv.DeepCopy()
		// A recorded version that is not valid today (written by hand, or
		// by a Portico with other rules) counts as none.
		switch {
		case cur != nil && equality.Semantic.DeepEqual(lv.Spec, in.Spec):
			// The usual case, a recorded version as written: no need to
			// parse it twice.
			c.prev, c.inUse = cur, lv.InUse
		default:
			withSpec := *in
			withSpec.Spec = c.prevVersion.Spec
			if prev, _, _ := buildPool(&withSpec); prev != nil {
				c.prev, c.inUse = prev, lv.InUse
			}
		}
	}
	return c
}

// version is what the controller records for the candidate: the version
// chosen, in use; else the last valid version, not in use.
func (c *poolCandidate) version(chosen *Pool) *v1beta1.IPAddressPoolVersion {
	var v *v1beta1.IPAddressPoolVersion
	switch {
	case chosen != nil && chosen == c.current:
		v = c.curVersion.DeepCopy()
	case c.prevVersion != nil:
		v = c.prevVersion.DeepCopy()
	default:
		return nil
	}
	v.InUse = chosen != nil
	return v
}

func (c *poolCandidate) tier() int {
	switch {
	case c.prev == nil:
		return tierNew
	case c.inUse && (c.current == nil || slices.Equal(c.current.Ranges, c.prev.Ranges)):
		return tierEstablished
	default:
		return tierChanged
	}
}

func precedence(a, b *poolCandidate) int {
	return cmp.Or(cmp.Compare(a.tier(), b.tier()), byAge(a, b))
}

func byAge(a, b *poolCandidate) int {
	return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.name, b.name))
}

// claim is a range that a pool further up the precedence order tried to use.
type claim struct {
	owner int // index in precedence order
	r     iprange.Range
	index int // spec.addresses index in the owner's current version, or -1
}

// conflict is one of a candidate's ranges meeting an earlier claim.
type conflict struct {
	index int // spec.addresses index, or -1 for a last valid version
	r     iprange.Range
	claim claim
}

func findConflicts(claims []claim, ranges []specRange) []conflict {
	var out []conflict
	for _, s := range ranges {
		for _, c := range claims {
			if c.r.Overlaps(s.r) {
				out = append(out, conflict{index: s.index, r: s.r, claim: c})
			}
		}
	}
	return out
}

// resolvePools decides which version of which pool enters the model. It
// returns the pools in use and the version to record for every pool, both by
// name, and the Problems of every candidate, including those found while
// validating them.
func resolvePools(cands []*poolCandidate) (inUse map[string]*Pool, versions map[string]*v1beta1.IPAddressPoolVersion, problems []Problem) {
	slices.SortFunc(cands, precedence)
	var (
		claims []claim
		chosen = make([]*Pool, len(cands))
		// won collects warnings for pools that another pool gave way to;
		// they are found while looking at the pool that gave way.
		won = make([][]wonWarning, len(cands))
		own = make([][]Problem, len(cands))
	)
	for i, c := range cands {
		var mine []claim
		var curConflicts, prevConflicts []conflict
		if c.current != nil {
			for _, s := range c.spec {
				mine = append(mine, claim{owner: i, r: s.r, index: s.index})
			}
			if curConflicts = findConflicts(claims, c.spec); len(curConflicts) == 0 {
				chosen[i] = c.current
			}
		}
		// A last valid version with the addresses just tried would meet
		// the same conflicts.
		if chosen[i] == nil && c.prev != nil && (c.current == nil || !slices.Equal(c.current.Ranges, c.prev.Ranges)) {
			prevSpec := make([]specRange, len(c.prev.Ranges))
			for j, r := range c.prev.Ranges {
				prevSpec[j] = specRange{index: -1, r: r}
				mine = append(mine, claim{owner: i, r: r, index: -1})
			}
			if prevConflicts = findConflicts(claims, prevSpec); len(prevConflicts) == 0 {
				chosen[i] = c.prev
			}
		}
		claims = append(claims, mine...)

		o := object{kindPool, c.name}
		if chosen[i] != nil && chosen[i] != c.current {
			own[i] = append(own[i], o.lastValidInUse())
		}
		own[i] = append(own[i], c.problems...)
		own[i] = append(own[i], overlapErrors(o, cands, chosen, i, curConflicts, prevConflicts)...)
		for _, cf := range dedupe(curConflicts) {
			w := cf.claim.owner
			field := ""
			if cf.claim.index >= 0 {
				field = indexed("spec.addresses", cf.claim.index)
			}
			won[w] = append(won[w], wonWarning{cf.claim.index, c.name, object{kindPool, cands[w].name}.warnf(field, v1beta1.ReasonOverlap,
				"overlaps pool %q (%s), %s", c.name, cf.r, outcome(chosen[i]))})
		}
	}

	inUse, versions = make(map[string]*Pool), make(map[string]*v1beta1.IPAddressPoolVersion)
	for i, c := range cands {
		if chosen[i] != nil {
			inUse[c.name] = chosen[i]
		}
		if v := c.version(chosen[i]); v != nil {
			versions[c.name] = v
		}
		problems = append(problems, own[i]...)
		// Losers were met in precedence order, which changes once winners
		// become established; sort so the Problems do not change with it.
		slices.SortStableFunc(won[i], func(a, b wonWarning) int {
			return cmp.Or(cmp.Compare(a.index, b.index), cmp.Compare(a.loser, b.loser))
		})
		for _, w := range won[i] {
			problems = append(problems, w.p)
		}
	}
	return inUse, versions, problems
}

// wonWarning is a warning for a pool that another gave way to, with what it
// is sorted by.
type wonWarning struct {
	index int // the winner's spec.addresses index, or -1
	loser string
	p     Problem
}

// overlapErrors explains to the pool that gave way which pool it gave way to,
// and why that one takes precedence; and, when its last valid version could
// not stay either, what that version overlaps.
func overlapErrors(o object, cands []*poolCandidate, chosen []*Pool, i int, cur, prev []conflict) []Problem {
	// Sorted by entry, then by the other pool's name rather than by
	// precedence, which changes once the other pools become established.
	byEntry := func(a, b conflict) int {
		return cmp.Or(cmp.Compare(a.index, b.index), cmp.Compare(cands[a.claim.owner].name, cands[b.claim.owner].name))
	}
	cur, prev = dedupe(cur), dedupe(prev)
	slices.SortStableFunc(cur, byEntry)
	slices.SortStableFunc(prev, byEntry)
	var out []Problem
	for _, cf := range cur {
		w := cf.claim.owner
		out = append(out, o.errorf(indexed("spec.addresses", cf.index), v1beta1.ReasonOverlap,
			"overlaps pool %q (%s), %s", cands[w].name, cf.claim.r, why(cands[w], cands[i], chosen[w] != nil)))
	}
	if chosen[i] != nil {
		return out
	}
	for _, cf := range prev {
		w := cf.claim.owner
		out = append(out, o.errorf("", v1beta1.ReasonOverlap,
			"the last valid version (%s) overlaps pool %q (%s) as well, so it cannot stay in use either",
			cf.r, cands[w].name, cf.claim.r))
	}
	return out
}

// dedupe keeps the first conflict of each (entry, other pool) pair: one
// Problem per pair is enough to find and fix it.
func dedupe(cs []conflict) []conflict {
	type key struct{ index, owner int }
	seen := make(map[key]bool)
	var out []conflict
	for _, c := range cs {
		k := key{c.index, c.claim.owner}
		if !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	return out
}

// why explains the precedence by age whenever age agrees with the outcome,
// so that the message stays the same on the next For, when the winner has
// become established: conditions then do not change for nothing.
func why(winner, loser *poolCandidate, winnerUsed bool) string {
	var s string
	switch {
	case winner.created.Before(loser.created):
		s = "which is older"
	case winner.created.Equal(loser.created) && winner.name < loser.name:
		s = "which was created at the same time and sorts first by name"
	default:
		s = "which was in use first"
	}
	if !winnerUsed {
		s += fmt.Sprintf(" (pool %q takes precedence even while it is not in use itself)", winner.name)
	}
	return s
}

// outcome tells the pool that won what became of the one that gave way; a
// conflict of its current version means that version is not used.
func outcome(chosen *Pool) string {
	if chosen == nil {
		return "which is not used"
	}
	return "which keeps its last valid version instead"
}
