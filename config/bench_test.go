package config

import (
	"fmt"
	"testing"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// benchSnapshot has n pools of a /28 each, a tenth of them overlapping a
// neighbour, n/10 advertisements of each kind and n/10 peers: more than any
// cluster we know of has, to show how For scales.
func benchSnapshot(n int) ClusterResources {
	var res ClusterResources
	for i := range n {
		addr := fmt.Sprintf("10.%d.%d.%d/28", i>>12&0xff, i>>4&0xff, i<<4&0xff)
		if i%10 == 9 {
			addr = fmt.Sprintf("10.%d.%d.%d/27", (i-1)>>12&0xff, (i-1)>>4&0xff, (i-1)<<4&0xe0)
		}
		p := ipPool(fmt.Sprintf("pool-%05d", i), i, addr, fmt.Sprintf("fd00::%x:0/112", i))
		p.Labels = map[string]string{"group": fmt.Sprint(i % 7)}
		res.Pools = append(res.Pools, p)
	}
	for i := range n / 10 {
		sel := []metav1.LabelSelector{labelSelector("group", fmt.Sprint(i%7))}
		res.L2Advertisements = append(res.L2Advertisements, l2Adv(fmt.Sprintf("l2-%04d", i), v1beta1.L2AdvertisementSpec{IPAddressPoolSelectors: sel}))
		res.BGPAdvertisements = append(res.BGPAdvertisements, bgpAdv(fmt.Sprintf("bgp-%04d", i), v1beta1.BGPAdvertisementSpec{
			IPAddressPoolSelectors: sel, Communities: []string{"65000:1", "no-export"},
		}))
		res.BGPPeers = append(res.BGPPeers, bgpPeer(fmt.Sprintf("peer-%04d", i), fmt.Sprintf("192.0.2.%d", i%250+1)))
	}
	return res
}

func BenchmarkFor(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		// The steady state: every object carries what the controller
		// recorded after the last build.
		res := benchSnapshot(n)
		prev, _ := For(res)
		res = recorded(res, prev)
		b.Run(fmt.Sprintf("pools=%d", n), func(b *testing.B) {
			for b.Loop() {
				For(res)
			}
		})
	}
}

func TestBenchSnapshot(t *testing.T) {
	// The benchmark measures what it says: a tenth of the pools give way.
	c, problems := For(benchSnapshot(100))
	if got := len(c.Pools()); got != 90 {
		t.Errorf("%d pools in use, want 90", got)
	}
	if len(problems) != 20 {
		t.Errorf("%d problems, want 20 (an error and a warning per overlap)", len(problems))
	}
}
