package ipam

import (
	"fmt"
	"testing"
)

// BenchmarkDecide decides a dual-stack Service afresh and again (the
// common, keeping case) among 1,000 others holding addresses.
func BenchmarkDecide(b *testing.B) {
	m := newIPAM(b, pool("v4", "10.0.0.0/16"), pool("v6", "2001:db8::/64"))
	for i := range 1000 {
		if d, _ := m.Decide(req(fmt.Sprintf("ns/s%d", i), families(true, false, true))); !d.Assigned {
			b.Fatal(d.Message)
		}
	}
	r := req("ns/bench", families(true, false, true))
	b.Run("fresh", func(b *testing.B) {
		for b.Loop() {
			if d, _ := m.Decide(r); !d.Assigned {
				b.Fatal(d.Message)
			}
			m.Forget(r.Owner.Key)
		}
	})
	b.Run("again", func(b *testing.B) {
		for b.Loop() {
			if d, _ := m.Decide(r); !d.Assigned {
				b.Fatal(d.Message)
			}
		}
	})
}
