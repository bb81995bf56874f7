package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/iprange"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// t0 is the creation time of the oldest object in the tests; objects are
// created a minute apart, so "age" 0 is older than age 1.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func created(age int) time.Time { return t0.Add(time.Duration(age) * time.Minute) }

func objectMeta(name string, age int, lbls map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created(age)), Labels: lbls}
}

// ipPool is an IPAddressPool with addresses and defaults for everything else.
func ipPool(name string, age int, addrs ...string) v1beta1.IPAddressPool {
	return v1beta1.IPAddressPool{
		ObjectMeta: objectMeta(name, age, nil),
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: addrs},
	}
}

// modPool returns p changed by f, so a table row reads as "this pool, but…".
func modPool(p v1beta1.IPAddressPool, f func(*v1beta1.IPAddressPool)) v1beta1.IPAddressPool {
	f(&p)
	return p
}

// model is the Pool For builds from ipPool(name, age, addrs...).
func model(name string, age int, addrs ...string) *Pool {
	p := &Pool{Name: name, AutoAssign: true, CreationTimestamp: created(age)}
	for _, a := range addrs {
		p.Ranges = append(p.Ranges, mustRange(a))
	}
	return p
}

func modModel(p *Pool, f func(*Pool)) *Pool {
	f(p)
	return p
}

func mustRange(s string) iprange.Range {
	r, err := iprange.Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

func mustSelector(s string) labels.Selector {
	sel, err := labels.Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

func labelSelector(kv ...string) metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return metav1.LabelSelector{MatchLabels: m}
}

func node(name string, kv ...string) corev1.Node {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: m}}
}

func ptr[T any](v T) *T { return &v }

// cmpOpts compares models: ranges and addresses by value, selectors by their
// canonical string, unexported bookkeeping ignored.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b iprange.Range) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b labels.Selector) bool {
		return fmt.Sprintf("%T %s", a, a) == fmt.Sprintf("%T %s", b, b)
	}),
	cmpopts.IgnoreUnexported(L2Advertisement{}, BGPAdvertisement{}),
	// labels.Everything() is an empty slice underneath: leave selectors to
	// the comparer above, or the two options would both apply.
	cmp.FilterPath(func(p cmp.Path) bool { return p.Last().Type() != reflect.TypeFor[labels.Selector]() }, cmpopts.EquateEmpty()),
}

// problem builders, so expected Problems read like the objects they name.
func perr(kind, name, field, reason, msg string) Problem {
	return Problem{Kind: kind, Name: name, Field: field, Reason: reason, Message: msg}
}

func pwarn(kind, name, field, reason, msg string) Problem {
	p := perr(kind, name, field, reason, msg)
	p.Warning = true
	return p
}

func lastValid(kind, name string) Problem {
	return perr(kind, name, "", v1beta1.ReasonLastValidInUse, lastValidMsg)
}

// recorded returns a copy of res in which every object's status.lastValid
// is what the controller records after building prev: the API state every
// process reads once the controller has written its Decisions. A nil prev
// records nothing, as for objects that were never built.
func recorded(res ClusterResources, prev *Config) ClusterResources {
	d := prev.Decisions()
	res.Pools = slices.Clone(res.Pools)
	for i := range res.Pools {
		res.Pools[i].Status.LastValid = d.Pools[res.Pools[i].Name]
	}
	res.L2Advertisements = slices.Clone(res.L2Advertisements)
	for i := range res.L2Advertisements {
		res.L2Advertisements[i].Status.LastValid = d.L2Advertisements[res.L2Advertisements[i].Name]
	}
	res.BGPAdvertisements = slices.Clone(res.BGPAdvertisements)
	for i := range res.BGPAdvertisements {
		res.BGPAdvertisements[i].Status.LastValid = d.BGPAdvertisements[res.BGPAdvertisements[i].Name]
	}
	res.BGPPeers = slices.Clone(res.BGPPeers)
	for i := range res.BGPPeers {
		res.BGPPeers[i].Status.LastValid = d.BGPPeers[res.BGPPeers[i].Name]
	}
	return res
}

// forAfter is For on res once the controller has recorded prev's Decisions.
func forAfter(res ClusterResources, prev *Config) (*Config, []Problem) {
	return For(recorded(res, prev))
}

// mustFor builds a Config and fails on any Problem.
func mustFor(t *testing.T, res ClusterResources, prev *Config) *Config {
	t.Helper()
	c, problems := forAfter(res, prev)
	if len(problems) > 0 {
		t.Fatalf("For: unexpected problems: %v", problems)
	}
	return c
}

func poolNames(ps []*Pool) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func diffProblems(t *testing.T, got, want []Problem) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
}
