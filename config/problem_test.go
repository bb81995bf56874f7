package config

import (
	"testing"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

func TestHasError(t *testing.T) {
	w := pwarn(kindPool, "a", "", v1beta1.ReasonOverlap, "w")
	e := perr(kindPool, "a", "", v1beta1.ReasonInvalid, "e")
	for _, tt := range []struct {
		ps   []Problem
		want bool
	}{
		{nil, false},
		{[]Problem{w}, false},
		{[]Problem{w, w}, false},
		{[]Problem{e}, true},
		{[]Problem{w, e}, true},
	} {
		if got := hasError(tt.ps); got != tt.want {
			t.Errorf("hasError(%v) = %v, want %v", tt.ps, got, tt.want)
		}
	}
}

func TestSortProblems(t *testing.T) {
	// Kind, then name; within an object the order found is kept, so the
	// LastValidConfigInUse Problem stays first and fields stay in order.
	ps := []Problem{
		perr(kindPool, "b", "spec.addresses[0]", v1beta1.ReasonInvalid, "1"),
		lastValid(kindPool, "b"),
		perr(kindPeer, "z", "spec.myASN", v1beta1.ReasonInvalid, "2"),
		pwarn(kindL2Adv, "a", "spec.nodeSelectors[0]", v1beta1.ReasonSelectsNothing, "3"),
		perr(kindPool, "a", "spec.addresses[3]", v1beta1.ReasonInvalid, "4"),
		perr(kindPool, "a", "spec.addresses[1]", v1beta1.ReasonInvalid, "5"),
		perr(kindBGPAdv, "m", "spec.communities[0]", v1beta1.ReasonInvalid, "6"),
	}
	sortProblems(ps)
	var got []string
	for _, p := range ps {
		got = append(got, p.Kind+"/"+p.Name+":"+p.Message)
	}
	want := []string{
		"BGPAdvertisement/m:6",
		"BGPPeer/z:2",
		"IPAddressPool/a:4",
		"IPAddressPool/a:5",
		"IPAddressPool/b:1",
		"IPAddressPool/b:" + lastValidMsg,
		"L2Advertisement/a:3",
	}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Fatalf("sorted = %q, want %q", got, want)
		}
	}
}

func TestIndexed(t *testing.T) {
	if got := indexed("spec.addresses", 12); got != "spec.addresses[12]" {
		t.Errorf("indexed = %q", got)
	}
}

func TestObjectHelpers(t *testing.T) {
	o := object{kindPeer, "p"}
	if got, want := o.errorf("f", "R", "%d-%s", 1, "x"), perr(kindPeer, "p", "f", "R", "1-x"); got != want {
		t.Errorf("errorf = %+v, want %+v", got, want)
	}
	if got, want := o.warnf("f", "R", "m"), pwarn(kindPeer, "p", "f", "R", "m"); got != want {
		t.Errorf("warnf = %+v, want %+v", got, want)
	}
	if got := o.lastValidInUse(); got.Warning || got.Field != "" || got.Reason != v1beta1.ReasonLastValidInUse {
		t.Errorf("lastValidInUse = %+v", got)
	}
}
