package config

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/iprange"
)

// Two pools must never share an address, or two Services could be given the
// same one. When pools overlap, one takes precedence and the other gives way.
//
// Every Config remembers, for each pool object, its last valid version: the
// one in use, or the one it had before it gave way. Pools are ranked in
// tiers, then by age:
//
//  1. Established pools: in use in the previous Config, with the same
//     addresses now (or with errors now, so the version in use is what
//     counts).
//  2. Changed pools: with a last valid version, but not established: their
//     addresses changed, or they were not in use.
//  3. New pools: without a last valid version.
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
// Running For again on the same objects with its own result gives the same
// result: pools that won become established, which only moves them ahead of
// pools they do not overlap, and every other pool keeps its tier. That is
// why pools that gave way are remembered too, and why messages explain by
// age whenever age agrees with the outcome.
//
// Without a previous Config (after a restart) every pool is new and age alone
// decides. Where the tiers decided against age, the error on the pool that
// gave way says so, so that the overlap is fixed before a restart flips it.

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
	prev     *Pool       // the last valid version, if any
	inUse    bool        // prev was in use in the previous Config
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
// returns the pools in use and the last valid version of every pool, both by
// name, and the Problems of every candidate, including those found while
// validating them.
func resolvePools(cands []*poolCandidate) (inUse, lastValid map[string]*Pool, problems []Problem) {
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

	inUse, lastValid = make(map[string]*Pool), make(map[string]*Pool)
	for i, c := range cands {
		switch {
		case chosen[i] != nil:
			inUse[c.name], lastValid[c.name] = chosen[i], chosen[i]
		case c.prev != nil:
			lastValid[c.name] = c.prev
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
	return inUse, lastValid, problems
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
		s = "which was in use first; after a controller restart the older pool wins, so remove the overlap"
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
