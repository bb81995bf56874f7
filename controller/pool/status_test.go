package pool

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/controller/allocator"
)

func cond(t, status, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: t, Status: metav1.ConditionStatus(status), Reason: reason, Message: msg, ObservedGeneration: 3}
}

var (
	readyValid   = cond(v1beta1.ConditionReady, "True", v1beta1.ReasonValid, "valid and in use")
	noOverlap    = cond(v1beta1.ConditionConflicting, "False", v1beta1.ReasonNoOverlap, "overlaps no other pool")
	invalid      = config.Problem{Kind: "IPAddressPool", Name: "p", Field: "spec.addresses[0]", Reason: v1beta1.ReasonInvalid, Message: "bad"}
	overlap      = config.Problem{Kind: "IPAddressPool", Name: "p", Field: "spec.addresses[0]", Reason: v1beta1.ReasonOverlap, Message: `overlaps pool "q"`}
	readyInvalid = cond(v1beta1.ConditionReady, "False", v1beta1.ReasonInvalid, `IPAddressPool "p": spec.addresses[0]: bad`)
)

func TestDesiredStatus(t *testing.T) {
	lastValid := &v1beta1.IPAddressPoolVersion{Generation: 2, InUse: true}
	tests := []struct {
		name     string
		disabled bool
		status   v1beta1.IPAddressPoolStatus // as found
		usage    *allocator.Usage
		problems []config.Problem
		want     v1beta1.IPAddressPoolStatus
	}{{
		name:  "in use: counters per family and in all",
		usage: &allocator.Usage{AssignedV4: 2, AssignedV6: 1, AvailableV4: 14, AvailableV6: 255},
		want: v1beta1.IPAddressPoolStatus{Assigned: 3, AssignedIPv4: 2, AssignedIPv6: 1, AvailableIPv4: 14, AvailableIPv6: 255,
			Conditions: []metav1.Condition{readyValid, noOverlap}},
	}, {
		name:  "an IPv6 /64 saturates instead of wrapping",
		usage: &allocator.Usage{AvailableV6: math.MaxUint64},
		want:  v1beta1.IPAddressPoolStatus{AvailableIPv6: math.MaxInt64, Conditions: []metav1.Condition{readyValid, noOverlap}},
	}, {
		name:     "not in the model: no counters, Ready says why",
		problems: []config.Problem{invalid},
		want:     v1beta1.IPAddressPoolStatus{Conditions: []metav1.Condition{readyInvalid, noOverlap}},
	}, {
		name:     "disabled and valid says what disabled means",
		disabled: true,
		usage:    &allocator.Usage{},
		want: v1beta1.IPAddressPoolStatus{Conditions: []metav1.Condition{
			cond(v1beta1.ConditionReady, "True", v1beta1.ReasonValid, "valid; disabled: keeps the addresses it gave, gives no new ones"), noOverlap}},
	}, {
		name:     "an overlap sets Conflicting",
		problems: []config.Problem{overlap},
		want: v1beta1.IPAddressPoolStatus{Conditions: []metav1.Condition{
			cond(v1beta1.ConditionReady, "False", v1beta1.ReasonOverlap, `IPAddressPool "p": spec.addresses[0]: overlaps pool "q"`),
			cond(v1beta1.ConditionConflicting, "True", v1beta1.ReasonOverlap, `IPAddressPool "p": spec.addresses[0]: overlaps pool "q"`)}},
	}, {
		name: "lastValid and foreign conditions are kept",
		status: v1beta1.IPAddressPoolStatus{LastValid: lastValid, AssignedIPv4: 9,
			Conditions: []metav1.Condition{cond("Other", "True", "Mine", "not the writer's")}},
		usage: &allocator.Usage{},
		want: v1beta1.IPAddressPoolStatus{LastValid: lastValid,
			Conditions: []metav1.Condition{cond("Other", "True", "Mine", "not the writer's"), readyValid, noOverlap}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 3}, Status: tt.status}
			p.Spec.Disabled = tt.disabled
			got := desiredStatus(p, tt.usage, tt.problems)
			ignoreTime := cmp.Comparer(func(x, y metav1.Time) bool { return true })
			if d := cmp.Diff(tt.want, got, ignoreTime); d != "" {
				t.Errorf("desiredStatus (-want +got):\n%s", d)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	status := func(cs ...metav1.Condition) v1beta1.IPAddressPoolStatus {
		return v1beta1.IPAddressPoolStatus{Conditions: cs}
	}
	conflicting := cond(v1beta1.ConditionConflicting, "True", v1beta1.ReasonOverlap, "overlaps q")
	lastValidInUse := cond(v1beta1.ConditionReady, "False", v1beta1.ReasonLastValidInUse, "kept")
	tests := []struct {
		name          string
		before, after v1beta1.IPAddressPoolStatus
		want          []string // reasons
	}{
		{"valid: nothing to say", status(), status(readyValid, noOverlap), nil},
		{"newly invalid", status(readyValid, noOverlap), status(readyInvalid, noOverlap), []string{v1beta1.ReasonInvalid}},
		{"first pass, invalid", status(), status(readyInvalid, noOverlap), []string{v1beta1.ReasonInvalid}},
		{"still invalid, same message: once is enough", status(readyInvalid, noOverlap), status(readyInvalid, noOverlap), nil},
		{"still invalid, new message", status(readyInvalid, noOverlap),
			status(cond(v1beta1.ConditionReady, "False", v1beta1.ReasonInvalid, "other"), noOverlap), []string{v1beta1.ReasonInvalid}},
		{"newly conflicting", status(readyValid, noOverlap), status(readyValid, conflicting), []string{v1beta1.ReasonOverlap}},
		{"last valid version in use", status(readyValid, noOverlap), status(lastValidInUse, noOverlap), []string{v1beta1.ReasonLastValidInUse}},
		{"fixed: no warning", status(readyInvalid, conflicting), status(readyValid, noOverlap), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range warnings(tt.before, tt.after) {
				got = append(got, c.Reason)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("warnings (-want +got):\n%s", d)
			}
		})
	}
}
