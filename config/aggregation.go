package config

import (
	"math/bits"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/iprange"
)

// A BGPAdvertisement with an aggregation length shorter than /32 (/128)
// announces the covering prefix of each address instead of the address. That
// prefix must lie inside the pool, or routers would send the cluster traffic
// for addresses that are not the pool's. MetalLB only compares the length with
// the widest CIDR of the pool; this checks every range, so a pool of
// 192.0.2.0/24 and 192.0.3.0/26 needs at least /26.

// checkAggregation reports every pool a's aggregation lengths do not fit.
func checkAggregation(o object, a *BGPAdvertisement, pools map[string]*Pool) []Problem {
	var problems []Problem
	for _, name := range a.Pools {
		problems = append(problems, aggregationProblems(o, a, pools[name])...)
	}
	return problems
}

// aggregationProblems reports, per address family, the range of p that needs
// the longest aggregation length when a's is shorter than that.
func aggregationProblems(o object, a *BGPAdvertisement, p *Pool) []Problem {
	if p == nil {
		return nil
	}
	var problems []Problem
	for _, fam := range []struct {
		v4     bool
		field  string
		length int
	}{{true, "spec.aggregationLength", a.AggregationLength}, {false, "spec.aggregationLengthV6", a.AggregationLengthV6}} {
		need, worst := -1, iprange.Range{}
		for _, r := range p.Ranges {
			if r.Is4() != fam.v4 {
				continue
			}
			if n := minAggregation(r); n > need {
				need, worst = n, r
			}
		}
		if fam.length < need {
			problems = append(problems, o.errorf(fam.field, v1beta1.ReasonInvalid,
				"/%d would announce addresses outside IPAddressPool %q: its range %s needs at least /%d",
				fam.length, p.Name, worst, need))
		}
	}
	return problems
}

// minAggregation returns the shortest prefix length l such that, for every
// address of r, the /l around it lies inside r. That holds exactly when r
// starts and ends on /l boundaries: when First ends in at least 32-l (128-l)
// zero bits and Last in as many one bits.
func minAggregation(r iprange.Range) int {
	var first, last []byte
	if r.First.Is4() {
		f, l := r.First.As4(), r.Last.As4()
		first, last = f[:], l[:]
	} else {
		f, l := r.First.As16(), r.Last.As16()
		first, last = f[:], l[:]
	}
	host := 0
	for i := len(first) - 1; i >= 0; i-- {
		n := min(bits.TrailingZeros8(first[i]), bits.TrailingZeros8(^last[i]))
		host += n
		if n < 8 {
			break
		}
	}
	return len(first)*8 - host
}
