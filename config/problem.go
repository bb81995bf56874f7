package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Problem is one thing wrong with one object. The controller turns Problems
// into status conditions and Events on the object they name, so every
// Problem carries the object, the field and a reason constant.
//
// An error (Warning false) means the object, as written, is not used: it is
// left out of the model, or its last valid version is kept. In that second
// case the object's Problems start with one whose Reason is
// v1beta1.ReasonLastValidInUse. A warning leaves the object in use.
type Problem struct {
	// Kind is the object's kind: IPAddressPool, L2Advertisement, BGPPeer or
	// BGPAdvertisement.
	Kind string
	// Name is the object's name.
	Name string
	// Field is the path of the offending field, such as
	// "spec.addresses[1]"; empty when the Problem is about the whole object.
	Field string
	// Reason is a CamelCase reason for conditions and Events.
	Reason string
	// Message says what is wrong, in words for people.
	Message string
	// Warning is true when the object is still used as written.
	Warning bool
}

// Error formats the Problem as `Kind "name": field: message`.
func (p Problem) Error() string {
	if p.Field == "" {
		return fmt.Sprintf("%s %q: %s", p.Kind, p.Name, p.Message)
	}
	return fmt.Sprintf("%s %q: %s: %s", p.Kind, p.Name, p.Field, p.Message)
}

var _ error = Problem{}

// Kinds as the API server spells them; Problems are matched to objects by them.
const (
	kindPool     = "IPAddressPool"
	kindL2Adv    = "L2Advertisement"
	kindPeer     = "BGPPeer"
	kindBGPAdv   = "BGPAdvertisement"
	lastValidMsg = "this version is not used; the last valid version stays in use until it is fixed"
)

// object names the object Problems are about, so validation code does not
// repeat kind and name on every line.
type object struct{ kind, name string }

func (o object) errorf(field, reason, format string, args ...any) Problem {
	return Problem{Kind: o.kind, Name: o.name, Field: field, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func (o object) warnf(field, reason, format string, args ...any) Problem {
	p := o.errorf(field, reason, format, args...)
	p.Warning = true
	return p
}

func (o object) lastValidInUse() Problem {
	return o.errorf("", v1beta1.ReasonLastValidInUse, lastValidMsg)
}

// hasError reports whether any of ps stops the object from being used.
func hasError(ps []Problem) bool {
	return slices.ContainsFunc(ps, func(p Problem) bool { return !p.Warning })
}

// sortProblems orders Problems by kind and name. The sort is stable so that
// each object's Problems keep the order they were found in: the
// LastValidConfigInUse one first, then by field.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
}

// indexed names element i of a list field, as in "spec.addresses[2]".
func indexed(field string, i int) string {
	return fmt.Sprintf("%s[%d]", field, i)
}

// ReadyCondition is the Ready condition of an object with these Problems
// (all about it, in For's order), for every kind alike. With an error it is
// False, with the first error's reason: LastValidConfigInUse when the last
// valid version stands in, which then still serves. The message holds every
// error, so the cause shows next to that. With warnings only it is True,
// with the first warning's reason and all of them in the message.
func ReadyCondition(problems []Problem, generation int64) metav1.Condition {
	c := metav1.Condition{Type: v1beta1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1beta1.ReasonValid,
		Message: "valid and in use", ObservedGeneration: generation}
	var errs, warnings []string
	for _, p := range problems {
		if p.Warning {
			warnings = append(warnings, p.Error())
			continue
		}
		if len(errs) == 0 {
			c.Status, c.Reason = metav1.ConditionFalse, p.Reason
		}
		errs = append(errs, p.Error())
	}
	switch {
	case len(errs) > 0:
		c.Message = strings.Join(errs, "; ")
	case len(warnings) > 0:
		c.Reason = problems[0].Reason
		c.Message = "in use, with warnings: " + strings.Join(warnings, "; ")
	}
	return c
}
