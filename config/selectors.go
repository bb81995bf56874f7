package config

import (
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// parseSelectors converts a list of label selectors, naming each one that does
// not parse. It returns nil for an empty list, so that "no selectors" stays
// distinguishable from "selectors that match nothing".
func parseSelectors(o object, field string, in []metav1.LabelSelector) ([]labels.Selector, []Problem) {
	if len(in) == 0 {
		return nil, nil
	}
	var problems []Problem
	out := make([]labels.Selector, 0, len(in))
	for i := range in {
		s, err := metav1.LabelSelectorAsSelector(&in[i])
		if err != nil {
			problems = append(problems, o.errorf(indexed(field, i), v1beta1.ReasonInvalid, "invalid label selector: %v", err))
			continue
		}
		out = append(out, s)
	}
	return out, problems
}

// matchesAny reports whether any selector matches set.
func matchesAny(sels []labels.Selector, set map[string]string) bool {
	for _, s := range sels {
		if s.Matches(labels.Set(set)) {
			return true
		}
	}
	return false
}

// nodeSelectorWarnings warns about node selectors that select no node, which
// is almost always a typo in a label. Without nodes in the snapshot there is
// nothing to judge by, so it says nothing.
func nodeSelectorWarnings(o object, in []metav1.LabelSelector, sels []labels.Selector, nodes []corev1.Node) []Problem {
	if len(nodes) == 0 || len(sels) != len(in) {
		// A selector that failed to parse already has an error; indices
		// would no longer line up with the spec.
		return nil
	}
	var problems []Problem
	for i, s := range sels {
		found := false
		for j := range nodes {
			if s.Matches(labels.Set(nodes[j].Labels)) {
				found = true
				break
			}
		}
		if !found {
			problems = append(problems, o.warnf(indexed("spec.nodeSelectors", i), v1beta1.ReasonSelectsNothing,
				"selects no node (%s)", describeSelector(s)))
		}
	}
	return problems
}

func describeSelector(s labels.Selector) string {
	if s.Empty() {
		return "empty selector"
	}
	return s.String()
}
