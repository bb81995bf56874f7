package config

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/iprange"
)

func TestMinAggregation(t *testing.T) {
	for _, tt := range []struct {
		r    string
		want int
	}{
		{"192.0.2.0/24", 24},
		{"192.0.2.0/32", 32},
		{"0.0.0.0/0", 0},
		{"192.0.2.0-192.0.2.255", 24},
		{"192.0.2.0-192.0.3.255", 23},
		{"192.0.2.0-192.0.4.255", 24},   // /23 + /24: the /24 decides
		{"192.0.2.10-192.0.2.20", 32},   // ends on .20, a lone address
		{"192.0.2.10-192.0.2.21", 31},   // .10/31 … .20/31
		{"192.0.2.8-192.0.2.23", 29},    // .8/29 and .16/29
		{"192.0.2.128-192.0.3.127", 25}, // two /25s across a /24 boundary
		{"fd00::/64", 64},
		{"::/0", 0},
		{"fd00::-fd00::1:ffff", 111},
		{"fd00::1-fd00::ffff", 128},
		{"fd00::/127", 127},
	} {
		if got := minAggregation(mustRange(tt.r)); got != tt.want {
			t.Errorf("minAggregation(%s) = %d, want %d", tt.r, got, tt.want)
		}
	}
}

// TestMinAggregationExhaustive compares minAggregation with the definition,
// checked address by address, for every range inside 10.0.0.0/26: the /l
// around each address of the range must lie inside the range exactly when l
// is at least minAggregation.
func TestMinAggregationExhaustive(t *testing.T) {
	base := netip.MustParseAddr("10.0.0.0")
	at := func(i int) netip.Addr {
		a, _ := iprange.Add(base, uint64(i))
		return a
	}
	for first := range 64 {
		for last := first; last < 64; last++ {
			r := iprange.Range{First: at(first), Last: at(last)}
			got := minAggregation(r)
			for l := 24; l <= 32; l++ {
				fits := true
				for i := first; i <= last && fits; i++ {
					block := iprange.FromPrefix(netip.PrefixFrom(at(i), l))
					fits = r.First.Compare(block.First) <= 0 && block.Last.Compare(r.Last) <= 0
				}
				if fits != (l >= got) {
					t.Fatalf("%s: minAggregation = %d, but /%d fits = %v", r, got, l, fits)
				}
			}
		}
	}
}

func TestAggregationProblems(t *testing.T) {
	o := object{kindBGPAdv, "adv"}
	pool := model("p", 0, "192.0.2.0/24", "192.0.3.0/26", "fd00::/64", "fd00:0:0:100::/56")
	tests := []struct {
		v4, v6 int
		want   []Problem
	}{
		{v4: 32, v6: 128},
		{v4: 26, v6: 64},
		{v4: 25, v6: 64, want: []Problem{perr(kindBGPAdv, "adv", "spec.aggregationLength", v1beta1.ReasonInvalid,
			`/25 would announce addresses outside IPAddressPool "p": its range 192.0.3.0/26 needs at least /26`)}},
		{v4: 26, v6: 60, want: []Problem{perr(kindBGPAdv, "adv", "spec.aggregationLengthV6", v1beta1.ReasonInvalid,
			`/60 would announce addresses outside IPAddressPool "p": its range fd00::/64 needs at least /64`)}},
		{v4: 0, v6: 0, want: []Problem{
			perr(kindBGPAdv, "adv", "spec.aggregationLength", v1beta1.ReasonInvalid,
				`/0 would announce addresses outside IPAddressPool "p": its range 192.0.3.0/26 needs at least /26`),
			perr(kindBGPAdv, "adv", "spec.aggregationLengthV6", v1beta1.ReasonInvalid,
				`/0 would announce addresses outside IPAddressPool "p": its range fd00::/64 needs at least /64`),
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("/%d,/%d", tt.v4, tt.v6), func(t *testing.T) {
			a := &BGPAdvertisement{AggregationLength: tt.v4, AggregationLengthV6: tt.v6}
			diffProblems(t, aggregationProblems(o, a, pool), tt.want)
		})
	}
	// A pool of one family says nothing about the other length.
	v4only := model("v4", 0, "192.0.2.0/24")
	if ps := aggregationProblems(o, &BGPAdvertisement{AggregationLength: 24, AggregationLengthV6: 0}, v4only); len(ps) != 0 {
		t.Errorf("IPv6 length judged against an IPv4-only pool: %v", ps)
	}
	if ps := aggregationProblems(o, &BGPAdvertisement{}, nil); ps != nil {
		t.Errorf("problems for a missing pool: %v", ps)
	}
}

func TestAggregationAcrossPools(t *testing.T) {
	// Every pool the advertisement applies to is checked, each named.
	res := ClusterResources{
		Pools: []v1beta1.IPAddressPool{
			ipPool("wide", 0, "10.0.0.0/16"),
			ipPool("narrow", 1, "10.1.0.0/28"),
			ipPool("odd", 2, "10.2.0.3-10.2.0.6"),
		},
		BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAdv("adv", v1beta1.BGPAdvertisementSpec{AggregationLength: ptr(int32(16))})},
	}
	_, problems := For(res)
	diffProblems(t, problems, []Problem{
		perr(kindBGPAdv, "adv", "spec.aggregationLength", v1beta1.ReasonInvalid,
			`/16 would announce addresses outside IPAddressPool "narrow": its range 10.1.0.0/28 needs at least /28`),
		perr(kindBGPAdv, "adv", "spec.aggregationLength", v1beta1.ReasonInvalid,
			`/16 would announce addresses outside IPAddressPool "odd": its range 10.2.0.3-10.2.0.6 needs at least /32`),
	})

	res.BGPAdvertisements[0].Spec.IPAddressPools = []string{"wide"}
	c := mustFor(t, res, nil)
	want := []*BGPAdvertisement{{Name: "adv", Pools: []string{"wide"}, AggregationLength: 16, AggregationLengthV6: 128}}
	if d := cmp.Diff(want, c.BGPAdvertisements(), cmpOpts); d != "" {
		t.Errorf("advertisement (-want +got):\n%s", d)
	}
}
