package bench

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p ≤ 100) of ds by the
// nearest-rank method, and 0 for an empty slice. ds is not modified.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// ms formats d as milliseconds with one decimal.
func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
