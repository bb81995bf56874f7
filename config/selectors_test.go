package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestParseSelectors(t *testing.T) {
	o := object{kindPool, "p"}
	tests := []struct {
		name     string
		in       []metav1.LabelSelector
		want     []labels.Selector
		problems []Problem
	}{{
		name: "none",
	}, {
		name: "empty selector matches everything",
		in:   []metav1.LabelSelector{{}},
		want: []labels.Selector{labels.Everything()},
	}, {
		name: "labels and expressions",
		in: []metav1.LabelSelector{
			labelSelector("a", "1", "b", "2"),
			{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "c", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"x", "y"}},
				{Key: "d", Operator: metav1.LabelSelectorOpDoesNotExist},
			}},
		},
		want: []labels.Selector{mustSelector("a=1,b=2"), mustSelector("c notin (x,y),!d")},
	}, {
		name: "each bad selector is named by its index",
		in: []metav1.LabelSelector{
			badOperator("One"),
			labelSelector("ok", "yes"),
			{MatchLabels: map[string]string{"bad key": "v"}},
		},
		want: []labels.Selector{mustSelector("ok=yes")},
		problems: []Problem{
			perr(kindPool, "p", "spec.x[0]", v1beta1.ReasonInvalid, `invalid label selector: "One" is not a valid label selector operator`),
			perr(kindPool, "p", "spec.x[2]", v1beta1.ReasonInvalid,
				`invalid label selector: key: Invalid value: "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := parseSelectors(o, "spec.x", tt.in)
			diffProblems(t, problems, tt.problems)
			if d := cmp.Diff(tt.want, got, cmpOpts); d != "" {
				t.Errorf("selectors (-want +got):\n%s", d)
			}
		})
	}
}

func TestNodeSelectorWarnings(t *testing.T) {
	o := object{kindL2Adv, "l2"}
	nodes := []corev1.Node{node("n1", "rack", "a", "role", "edge"), node("n2", "rack", "b")}
	in := []metav1.LabelSelector{
		labelSelector("rack", "a"),
		labelSelector("rack", "c"),
		labelSelector("role", "edge", "rack", "b"),
		{},
	}
	sels, problems := parseSelectors(o, "spec.nodeSelectors", in)
	diffProblems(t, problems, nil)
	diffProblems(t, nodeSelectorWarnings(o, in, sels, nodes), []Problem{
		pwarn(kindL2Adv, "l2", "spec.nodeSelectors[1]", v1beta1.ReasonSelectsNothing, "selects no node (rack=c)"),
		pwarn(kindL2Adv, "l2", "spec.nodeSelectors[2]", v1beta1.ReasonSelectsNothing, "selects no node (rack=b,role=edge)"),
	})
	// Without nodes there is nothing to judge by.
	diffProblems(t, nodeSelectorWarnings(o, in, sels, nil), nil)
	// When a selector failed to parse, indices no longer line up: say nothing
	// rather than name the wrong one.
	diffProblems(t, nodeSelectorWarnings(o, in, sels[1:], nodes), nil)
}

func TestDescribeSelector(t *testing.T) {
	if got := describeSelector(labels.Everything()); got != "empty selector" {
		t.Errorf("describeSelector(Everything) = %q", got)
	}
	if got := describeSelector(mustSelector("a in (1,2)")); got != "a in (1,2)" {
		t.Errorf("describeSelector = %q", got)
	}
}

func TestChoosePoolsAndPeers(t *testing.T) {
	o := object{kindBGPAdv, "adv"}
	a := &Pool{Name: "a", Labels: map[string]string{"zone": "east"}}
	b := &Pool{Name: "b", Labels: map[string]string{"zone": "west"}}
	c := &Pool{Name: "c"}
	env := advInputs{
		pools:       map[string]*Pool{"a": a, "b": b, "c": c},
		poolList:    []*Pool{a, b, c},
		poolObjects: map[string]bool{"a": true, "b": true, "c": true, "off": true},
		peers:       map[string]*BGPPeer{"r1": {Name: "r1"}, "r2": {Name: "r2"}},
		peerObjects: map[string]bool{"r1": true, "r2": true, "down": true},
	}
	tests := []struct {
		name      string
		src       poolSource
		peers     []string
		wantPools []string
		wantPeers []string
		problems  []Problem
	}{{
		name:      "nothing named: everything in use",
		wantPools: []string{"a", "b", "c"},
		wantPeers: []string{"r1", "r2"},
	}, {
		name:      "names and selectors overlap: each pool once",
		src:       poolSource{names: []string{"a", "a"}, selectors: []labels.Selector{mustSelector("zone"), mustSelector("zone=east")}},
		peers:     []string{"r2", "r2"},
		wantPools: []string{"a", "b"},
		wantPeers: []string{"r2"},
	}, {
		name:  "nothing found",
		src:   poolSource{names: []string{"off", "never"}, selectors: []labels.Selector{labels.Everything().Add(mustRequirement("zone", "north"))}},
		peers: []string{"down", "never"},
		problems: []Problem{
			pwarn(kindBGPAdv, "adv", "spec.ipAddressPools[0]", v1beta1.ReasonPoolNotFound, `IPAddressPool "off" is not in use (see its status)`),
			pwarn(kindBGPAdv, "adv", "spec.ipAddressPools[1]", v1beta1.ReasonPoolNotFound, `IPAddressPool "never" not found`),
			pwarn(kindBGPAdv, "adv", "spec.ipAddressPoolSelectors[0]", v1beta1.ReasonSelectsNothing, "selects no IPAddressPool in use (zone=north)"),
			pwarn(kindBGPAdv, "adv", "spec.peers[0]", v1beta1.ReasonPeerNotFound, `BGPPeer "down" is not in use (see its status)`),
			pwarn(kindBGPAdv, "adv", "spec.peers[1]", v1beta1.ReasonPeerNotFound, `BGPPeer "never" not found`),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pools, ps := choosePools(o, tt.src, env)
			peers, ps2 := choosePeers(o, tt.peers, env)
			diffProblems(t, append(ps, ps2...), tt.problems)
			if d := cmp.Diff(tt.wantPools, pools, cmpOpts); d != "" {
				t.Errorf("pools (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantPeers, peers, cmpOpts); d != "" {
				t.Errorf("peers (-want +got):\n%s", d)
			}
		})
	}
}

func mustRequirement(key, value string) labels.Requirement {
	r, err := labels.NewRequirement(key, "=", []string{value})
	if err != nil {
		panic(err)
	}
	return *r
}
