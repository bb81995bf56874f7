package membership

import (
	"hash/fnv"
	"slices"
)

// verdict is what a speaker publishes about the others: which peers it
// does not count Stable, because they died and have not come back, or came
// back and are in their hold-down. It travels in memberlist metadata, so
// that when two sides of a partition meet, each node knows whether the
// other side counts it out, and which side was the larger.
//
// A peer is counted out when this speaker does not count it Stable: it
// died and has not come back (it is also counted dead), or it came back and
// is in its hold-down. Names are carried as 32-bit hashes, as many as fit;
// outCount and outMin cover all of them, so the comparison of two sides is
// exact even when the list is cut short.
type verdict struct {
	// starting: the publisher is in its own start-up period (after a start
	// or a start-over), in which it defers to everyone.
	starting bool
	// outCount is how many peers the publisher counts out, and outMin the
	// smallest of their hashes (0 when outCount is 0).
	outCount int
	outMin   uint32
	// outHashes are the hashes of the peers counted out, sorted; possibly
	// fewer than outCount. deadHashes, sorted, are those among them that
	// died (not merely held down).
	outHashes  []uint32
	deadHashes []uint32
}

func (v verdict) equal(o verdict) bool {
	return v.starting == o.starting && v.outCount == o.outCount && v.outMin == o.outMin &&
		slices.Equal(v.outHashes, o.outHashes) && slices.Equal(v.deadHashes, o.deadHashes)
}

// countsDead reports whether v counts name as dead: it died and has not
// come back, as the publisher saw it.
func (v verdict) countsDead(name string) bool {
	_, ok := slices.BinarySearch(v.deadHashes, nameHash(name))
	return ok
}

// countsOut reports whether v counts name out: dead, or back and held
// down.
func (v verdict) countsOut(name string) bool {
	_, ok := slices.BinarySearch(v.outHashes, nameHash(name))
	return ok
}

// outranks reports whether the side that published v is the one that stays
// when it meets the side that published o: the side that counts out fewer
// nodes, or, when both count out as many, the side that does not count out
// the node with the smallest hash. Two sides of one partition never count
// out the same nodes, so the result is the same wherever it is computed. A
// node in its start-up period outranks no one: it may have started over a
// moment ago, and its verdict no longer describes the side it was on.
func (v verdict) outranks(o verdict) bool {
	if v.starting {
		return false
	}
	if v.outCount != o.outCount {
		return v.outCount < o.outCount
	}
	return v.outMin > o.outMin
}

// nameHash is how a verdict carries a node name.
func nameHash(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32()
}
