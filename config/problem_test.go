package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// One Ready condition for every kind: errors make it False with the first
// error's reason and every error in the message, so a kept last valid
// version still says what is wrong; warnings alone keep it True.
func TestReadyCondition(t *testing.T) {
	o := object{kindPool, "p"}
	tests := []struct {
		name     string
		problems []Problem
		want     metav1.Condition
	}{{
		name: "valid",
		want: metav1.Condition{Status: metav1.ConditionTrue, Reason: v1beta1.ReasonValid, Message: "valid and in use"},
	}, {
		name: "warnings",
		problems: []Problem{
			o.warnf("spec.addresses[0]", v1beta1.ReasonNodeAddress, "contains 192.0.2.1"),
			o.warnf("spec.addresses[1]", v1beta1.ReasonOverlap, "overlaps pool \"q\""),
		},
		want: metav1.Condition{Status: metav1.ConditionTrue, Reason: v1beta1.ReasonNodeAddress,
			Message: `in use, with warnings: IPAddressPool "p": spec.addresses[0]: contains 192.0.2.1; IPAddressPool "p": spec.addresses[1]: overlaps pool "q"`},
	}, {
		name: "last valid version kept",
		problems: []Problem{
			o.lastValidInUse(),
			o.warnf("spec.addresses[0]", v1beta1.ReasonNodeAddress, "contains 192.0.2.1"),
			o.errorf("spec.addresses[1]", v1beta1.ReasonNotUnicast, "0.0.0.0/0 includes the unspecified address"),
		},
		want: metav1.Condition{Status: metav1.ConditionFalse, Reason: v1beta1.ReasonLastValidInUse,
			Message: `IPAddressPool "p": ` + lastValidMsg + `; IPAddressPool "p": spec.addresses[1]: 0.0.0.0/0 includes the unspecified address`},
	}, {
		name:     "not used",
		problems: []Problem{o.errorf("spec.addresses", v1beta1.ReasonInvalid, "no addresses")},
		want:     metav1.Condition{Status: metav1.ConditionFalse, Reason: v1beta1.ReasonInvalid, Message: `IPAddressPool "p": spec.addresses: no addresses`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Type, tt.want.ObservedGeneration = v1beta1.ConditionReady, 7
			if d := cmp.Diff(tt.want, ReadyCondition(tt.problems, 7)); d != "" {
				t.Errorf("ReadyCondition (-want +got):\n%s", d)
			}
		})
	}
}

// TestReadyConditionFromFor: the Ready condition of a pool, built by the one
// builder from the Problems For reports, in the three states a user meets:
// valid; invalid while the last valid version stays in use; invalid with no
// usable last valid version (none recorded, or one invalid itself).
// "Last valid in use" is For's decision alone, carried by its Problem;
// ReadyCondition infers nothing.
func TestReadyConditionFromFor(t *testing.T) {
	valid := v1beta1.IPAddressPoolSpec{Addresses: []string{"192.0.2.0/28"}}
	invalid := v1beta1.IPAddressPoolSpec{Addresses: []string{"192.0.2.x"}}
	tests := []struct {
		name      string
		spec      v1beta1.IPAddressPoolSpec
		lastValid *v1beta1.IPAddressPoolVersion
		inUse     bool // the model still has pool p
		want      metav1.Condition
	}{{
		name: "valid", spec: valid, inUse: true,
		want: metav1.Condition{Status: metav1.ConditionTrue, Reason: v1beta1.ReasonValid, Message: "valid and in use"},
	}, {
		name: "invalid, last valid version in use", spec: invalid, inUse: true,
		lastValid: &v1beta1.IPAddressPoolVersion{Generation: 1, Spec: valid, InUse: true},
		want: metav1.Condition{Status: metav1.ConditionFalse, Reason: v1beta1.ReasonLastValidInUse,
			Message: `IPAddressPool "p": ` + lastValidMsg + `; IPAddressPool "p": spec.addresses[0]: "192.0.2.x": not a CIDR or a first-last range`},
	}, {
		name: "invalid, no last valid version", spec: invalid,
		want: metav1.Condition{Status: metav1.ConditionFalse, Reason: v1beta1.ReasonInvalid,
			Message: `IPAddressPool "p": spec.addresses[0]: "192.0.2.x": not a CIDR or a first-last range`},
	}, {
		// A pool's recorded version that is invalid today counts as none
		// (overlap.go); the other kinds name it (lastValidUnusable).
		name: "invalid, recorded last valid version invalid too", spec: invalid,
		lastValid: &v1beta1.IPAddressPoolVersion{Generation: 1, Spec: invalid, InUse: true},
		want: metav1.Condition{Status: metav1.ConditionFalse, Reason: v1beta1.ReasonInvalid,
			Message: `IPAddressPool "p": spec.addresses[0]: "192.0.2.x": not a CIDR or a first-last range`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 2}, Spec: tt.spec}
			p.Status.LastValid = tt.lastValid
			cfg, problems := For(ClusterResources{Pools: []v1beta1.IPAddressPool{p}})
			if got := cfg.Pool("p") != nil; got != tt.inUse {
				t.Errorf("pool in use = %v, want %v", got, tt.inUse)
			}
			tt.want.Type, tt.want.ObservedGeneration = v1beta1.ConditionReady, 2
			if d := cmp.Diff(tt.want, ReadyCondition(problems, 2)); d != "" {
				t.Errorf("ReadyCondition (-want +got):\n%s", d)
			}
		})
	}
}
