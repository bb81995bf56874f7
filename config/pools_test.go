package config

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestPoolFromObject(t *testing.T) {
	const inv = v1beta1.ReasonInvalid
	tests := []struct {
		name     string
		in       v1beta1.IPAddressPool
		want     *Pool // nil: the pool is left out
		problems []Problem
	}{{
		name: "one IPv4 CIDR, defaults",
		in:   ipPool("a", 0, "192.0.2.0/24"),
		want: model("a", 0, "192.0.2.0/24"),
	}, {
		name: "CIDR with host bits set",
		in:   ipPool("a", 0, "192.0.2.9/24"),
		problems: []Problem{perr(kindPool, "a", "spec.addresses[0]", inv,
			`"192.0.2.9/24": address has bits set beyond the prefix length; did you mean 192.0.2.0/24 or 192.0.2.9/32?`)},
	}, {
		name: "dual-stack and dash ranges are sorted, IPv4 first",
		in:   ipPool("a", 0, "fd00::/120", "198.51.100.10-198.51.100.20", "192.0.2.0/28"),
		want: model("a", 0, "192.0.2.0/28", "198.51.100.10-198.51.100.20", "fd00::/120"),
	}, {
		name: "adjacent ranges do not overlap",
		in:   ipPool("a", 0, "192.0.2.0/25", "192.0.2.128-192.0.2.255"),
		want: model("a", 0, "192.0.2.0/25", "192.0.2.128/25"),
	}, {
		name: "every field",
		in: v1beta1.IPAddressPool{
			ObjectMeta: objectMeta("a", 3, map[string]string{"zone": "east"}),
			Spec: v1beta1.IPAddressPoolSpec{
				Addresses:     []string{"192.0.2.0/24"},
				AutoAssign:    ptr(false),
				AvoidBuggyIPs: true,
				Disabled:      true,
				AllocateTo: &v1beta1.ServiceAllocation{
					Priority:           ptr(int32(-5)),
					Namespaces:         []string{"web", "api", "web"},
					NamespaceSelectors: []metav1.LabelSelector{labelSelector("team", "blue")},
					ServiceSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"edge", "front"}},
					}}},
				},
			},
		},
		want: &Pool{
			Name:               "a",
			Ranges:             model("", 0, "192.0.2.0/24").Ranges,
			AutoAssign:         false,
			AvoidBuggyIPs:      true,
			Disabled:           true,
			Priority:           ptr(int32(-5)),
			Namespaces:         []string{"api", "web"},
			NamespaceSelectors: []labels.Selector{mustSelector("team=blue")},
			ServiceSelectors:   []labels.Selector{mustSelector("tier in (edge,front)")},
			Labels:             map[string]string{"zone": "east"},
			CreationTimestamp:  created(3),
		},
	}, {
		name: "autoAssign true written out",
		in:   modPool(ipPool("a", 0, "192.0.2.0/24"), func(p *v1beta1.IPAddressPool) { p.Spec.AutoAssign = ptr(true) }),
		want: model("a", 0, "192.0.2.0/24"),
	}, {
		name: "empty allocateTo restricts nothing",
		in: modPool(ipPool("a", 0, "192.0.2.0/24"), func(p *v1beta1.IPAddressPool) {
			p.Spec.AllocateTo = &v1beta1.ServiceAllocation{}
		}),
		want: model("a", 0, "192.0.2.0/24"),
	}, {
		name:     "no addresses",
		in:       ipPool("a", 0),
		problems: []Problem{perr(kindPool, "a", "spec.addresses", inv, "no addresses")},
	}, {
		name: "a bare address is neither CIDR nor range",
		in:   ipPool("a", 0, "192.0.2.0/24", "192.0.2.1"),
		problems: []Problem{perr(kindPool, "a", "spec.addresses[1]", inv,
			`"192.0.2.1": not a CIDR or a first-last range`)},
	}, {
		name: "reversed range",
		in:   ipPool("a", 0, "192.0.2.20-192.0.2.10"),
		problems: []Problem{perr(kindPool, "a", "spec.addresses[0]", inv,
			`"192.0.2.20-192.0.2.10": first address is after last address`)},
	}, {
		name: "range across families",
		in:   ipPool("a", 0, "192.0.2.1-fd00::1"),
		problems: []Problem{perr(kindPool, "a", "spec.addresses[0]", inv,
			`"192.0.2.1-fd00::1": first and last address are of different families`)},
	}, {
		name: "prefix too long",
		in:   ipPool("a", 0, "192.0.2.0/33"),
		problems: []Problem{perr(kindPool, "a", "spec.addresses[0]", inv,
			`"192.0.2.0/33": not a CIDR or a first-last range: netip.ParsePrefix("192.0.2.0/33"): prefix length out of range`)},
	}, {
		name: "zone",
		in:   ipPool("a", 0, "fe80::1%eth0-fe80::2"),
		problems: []Problem{perr(kindPool, "a", "spec.addresses[0]", inv,
			`"fe80::1%eth0-fe80::2": not a CIDR or a first-last range: zones and IPv4-mapped IPv6 are not allowed`)},
	}, {
		name: "every bad entry is named, in order",
		in:   ipPool("a", 0, "x", "192.0.2.0/24", "", "y-z"),
		problems: []Problem{
			perr(kindPool, "a", "spec.addresses[0]", inv, `"x": not a CIDR or a first-last range`),
			perr(kindPool, "a", "spec.addresses[2]", inv, `"": not a CIDR or a first-last range`),
			perr(kindPool, "a", "spec.addresses[3]", inv,
				`"y-z": not a CIDR or a first-last range: first address: ParseAddr("y"): unable to parse IP`),
		},
	}, {
		name: "entries of one pool overlap",
		in:   ipPool("a", 0, "192.0.2.0/24", "198.51.100.0/24", "192.0.2.128/25"),
		problems: []Problem{perr(kindPool, "a", "spec.addresses[2]", inv,
			"192.0.2.128/25 overlaps spec.addresses[0] (192.0.2.0/24) of the same pool")},
	}, {
		name: "the same entry twice",
		in:   ipPool("a", 0, "fd00::/64", "fd00::/64"),
		problems: []Problem{perr(kindPool, "a", "spec.addresses[1]", inv,
			"fd00::/64 overlaps spec.addresses[0] (fd00::/64) of the same pool")},
	}, {
		name: "a range overlapping a CIDR of the same pool",
		in:   ipPool("a", 0, "192.0.2.0/28", "192.0.2.15-192.0.2.20"),
		problems: []Problem{perr(kindPool, "a", "spec.addresses[1]", inv,
			"192.0.2.15-192.0.2.20 overlaps spec.addresses[0] (192.0.2.0/28) of the same pool")},
	}, {
		name: "bad namespace selector operator",
		in: modPool(ipPool("a", 0, "192.0.2.0/24"), func(p *v1beta1.IPAddressPool) {
			p.Spec.AllocateTo = &v1beta1.ServiceAllocation{NamespaceSelectors: []metav1.LabelSelector{
				labelSelector("ok", "yes"),
				{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Bogus"}}},
			}}
		}),
		problems: []Problem{perr(kindPool, "a", "spec.allocateTo.namespaceSelectors[1]", inv,
			`invalid label selector: "Bogus" is not a valid label selector operator`)},
	}, {
		name: "bad service selector value",
		in: modPool(ipPool("a", 0, "192.0.2.0/24"), func(p *v1beta1.IPAddressPool) {
			p.Spec.AllocateTo = &v1beta1.ServiceAllocation{ServiceSelectors: []metav1.LabelSelector{
				{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: metav1.LabelSelectorOpIn}}},
			}}
		}),
		problems: []Problem{perr(kindPool, "a", "spec.allocateTo.serviceSelectors[0]", inv,
			`invalid label selector: values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty`)},
	}, {
		name: "bad namespace name",
		in: modPool(ipPool("a", 0, "192.0.2.0/24"), func(p *v1beta1.IPAddressPool) {
			p.Spec.AllocateTo = &v1beta1.ServiceAllocation{Namespaces: []string{"good", "Not_Good"}}
		}),
		problems: []Problem{perr(kindPool, "a", "spec.allocateTo.namespaces[1]", inv,
			`"Not_Good" is not a namespace name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`)},
	}, {
		name: "address and selector errors are all reported",
		in: modPool(ipPool("a", 0, "nope"), func(p *v1beta1.IPAddressPool) {
			p.Spec.AllocateTo = &v1beta1.ServiceAllocation{ServiceSelectors: []metav1.LabelSelector{
				{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Bogus"}}},
			}}
		}),
		problems: []Problem{
			perr(kindPool, "a", "spec.addresses[0]", inv, `"nope": not a CIDR or a first-last range`),
			perr(kindPool, "a", "spec.allocateTo.serviceSelectors[0]", inv,
				`invalid label selector: "Bogus" is not a valid label selector operator`),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, problems := For(ClusterResources{Pools: []v1beta1.IPAddressPool{tt.in}})
			diffProblems(t, problems, tt.problems)
			if d := cmp.Diff(tt.want, c.Pool(tt.in.Name), cmpOpts); d != "" {
				t.Errorf("pool (-want +got):\n%s", d)
			}
			if tt.want == nil && len(c.Pools()) != 0 {
				t.Errorf("Pools() = %v, want none", poolNames(c.Pools()))
			}
		})
	}
}

func TestPoolDoesNotAliasObject(t *testing.T) {
	in := v1beta1.IPAddressPool{
		ObjectMeta: objectMeta("a", 0, map[string]string{"k": "v"}),
		Spec: v1beta1.IPAddressPoolSpec{
			Addresses:  []string{"192.0.2.0/24"},
			AllocateTo: &v1beta1.ServiceAllocation{Priority: ptr(int32(1)), Namespaces: []string{"x"}},
		},
	}
	c := mustFor(t, ClusterResources{Pools: []v1beta1.IPAddressPool{in}}, nil)
	in.Labels["k"] = "changed"
	*in.Spec.AllocateTo.Priority = 9
	in.Spec.AllocateTo.Namespaces[0] = "y"
	p := c.Pool("a")
	if p.Labels["k"] != "v" || *p.Priority != 1 || p.Namespaces[0] != "x" {
		t.Errorf("the model changed with the object it was built from: %+v", p)
	}
}

func TestAllows(t *testing.T) {
	nsBlue := map[string]string{"team": "blue"}
	tests := []struct {
		name string
		pool *Pool
		svc  ServiceInfo
		want bool
	}{{
		name: "no restriction",
		pool: &Pool{},
		svc:  ServiceInfo{Namespace: "any"},
		want: true,
	}, {
		name: "listed namespace",
		pool: &Pool{Namespaces: []string{"api", "web"}},
		svc:  ServiceInfo{Namespace: "web"},
		want: true,
	}, {
		name: "unlisted namespace",
		pool: &Pool{Namespaces: []string{"api", "web"}},
		svc:  ServiceInfo{Namespace: "db"},
	}, {
		name: "namespace selected by label",
		pool: &Pool{NamespaceSelectors: []labels.Selector{mustSelector("team=blue")}},
		svc:  ServiceInfo{Namespace: "db", NamespaceLabels: nsBlue},
		want: true,
	}, {
		name: "namespace labels do not match",
		pool: &Pool{NamespaceSelectors: []labels.Selector{mustSelector("team=red")}},
		svc:  ServiceInfo{Namespace: "db", NamespaceLabels: nsBlue},
	}, {
		name: "namespace without labels",
		pool: &Pool{NamespaceSelectors: []labels.Selector{mustSelector("team=red")}},
		svc:  ServiceInfo{Namespace: "db"},
	}, {
		name: "listed or selected: listed is enough",
		pool: &Pool{Namespaces: []string{"db"}, NamespaceSelectors: []labels.Selector{mustSelector("team=red")}},
		svc:  ServiceInfo{Namespace: "db", NamespaceLabels: nsBlue},
		want: true,
	}, {
		name: "listed or selected: selected is enough",
		pool: &Pool{Namespaces: []string{"web"}, NamespaceSelectors: []labels.Selector{mustSelector("team=blue")}},
		svc:  ServiceInfo{Namespace: "db", NamespaceLabels: nsBlue},
		want: true,
	}, {
		name: "any of several namespace selectors",
		pool: &Pool{NamespaceSelectors: []labels.Selector{mustSelector("team=red"), mustSelector("team")}},
		svc:  ServiceInfo{Namespace: "db", NamespaceLabels: nsBlue},
		want: true,
	}, {
		name: "service selector matches",
		pool: &Pool{ServiceSelectors: []labels.Selector{mustSelector("tier=edge")}},
		svc:  ServiceInfo{Namespace: "db", Labels: map[string]string{"tier": "edge"}},
		want: true,
	}, {
		name: "service selector does not match",
		pool: &Pool{ServiceSelectors: []labels.Selector{mustSelector("tier=edge")}},
		svc:  ServiceInfo{Namespace: "db", Labels: map[string]string{"tier": "back"}},
	}, {
		name: "any of several service selectors",
		pool: &Pool{ServiceSelectors: []labels.Selector{mustSelector("tier=edge"), mustSelector("tier=back")}},
		svc:  ServiceInfo{Namespace: "db", Labels: map[string]string{"tier": "back"}},
		want: true,
	}, {
		name: "namespace and service must both match: namespace fails",
		pool: &Pool{Namespaces: []string{"web"}, ServiceSelectors: []labels.Selector{mustSelector("tier=edge")}},
		svc:  ServiceInfo{Namespace: "db", Labels: map[string]string{"tier": "edge"}},
	}, {
		name: "namespace and service must both match: service fails",
		pool: &Pool{Namespaces: []string{"web"}, ServiceSelectors: []labels.Selector{mustSelector("tier=edge")}},
		svc:  ServiceInfo{Namespace: "web", Labels: map[string]string{"tier": "back"}},
	}, {
		name: "namespace and service both match",
		pool: &Pool{Namespaces: []string{"web"}, ServiceSelectors: []labels.Selector{mustSelector("tier=edge")}},
		svc:  ServiceInfo{Namespace: "web", Labels: map[string]string{"tier": "edge"}},
		want: true,
	}, {
		name: "empty selector selects every namespace",
		pool: &Pool{NamespaceSelectors: []labels.Selector{labels.Everything()}},
		svc:  ServiceInfo{Namespace: "db"},
		want: true,
	}, {
		name: "disabled and autoAssign do not matter to Allows",
		pool: &Pool{Disabled: true, AutoAssign: false},
		svc:  ServiceInfo{Namespace: "db"},
		want: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pool.Allows(tt.svc); got != tt.want {
				t.Errorf("Allows(%+v) = %v, want %v", tt.svc, got, tt.want)
			}
		})
	}
}

func TestPoolAllowsFromObject(t *testing.T) {
	// Selectors parsed by For behave like the ones written by hand above.
	in := modPool(ipPool("a", 0, "192.0.2.0/24"), func(p *v1beta1.IPAddressPool) {
		p.Spec.AllocateTo = &v1beta1.ServiceAllocation{
			NamespaceSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"prod"}},
			}}},
			ServiceSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "public", Operator: metav1.LabelSelectorOpExists},
			}}},
		}
	})
	p := mustFor(t, ClusterResources{Pools: []v1beta1.IPAddressPool{in}}, nil).Pool("a")
	for _, tt := range []struct {
		svc  ServiceInfo
		want bool
	}{
		{ServiceInfo{NamespaceLabels: map[string]string{"env": "dev"}, Labels: map[string]string{"public": ""}}, true},
		{ServiceInfo{NamespaceLabels: map[string]string{"env": "prod"}, Labels: map[string]string{"public": ""}}, false},
		{ServiceInfo{NamespaceLabels: map[string]string{"env": "dev"}}, false},
		{ServiceInfo{Labels: map[string]string{"public": "yes"}}, true},
	} {
		if got := p.Allows(tt.svc); got != tt.want {
			t.Errorf("Allows(%+v) = %v, want %v", tt.svc, got, tt.want)
		}
	}
}

func TestPoolContains(t *testing.T) {
	p := model("a", 0, "192.0.2.0/28", "198.51.100.10-198.51.100.20", "fd00::/120")
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"192.0.2.0", true},
		{"192.0.2.15", true},
		{"192.0.2.16", false},
		{"198.51.100.9", false},
		{"198.51.100.10", true},
		{"198.51.100.20", true},
		{"198.51.100.21", false},
		{"fd00::ff", true},
		{"fd00::100", false},
		{"::ffff:192.0.2.1", false},
	} {
		if got := p.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}
