package election_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/election"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// cmpAddr lets cmp.Diff compare netip.Addr, whose fields are unexported.
var cmpAddr = cmpopts.EquateComparable(netip.Addr{})

func ipPool(name string, lbls map[string]string, addrs ...string) v1beta1.IPAddressPool {
	return v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: addrs},
	}
}

func l2(name string, spec v1beta1.L2AdvertisementSpec) v1beta1.L2Advertisement {
	return v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

// sel is a label selector matching key=value pairs.
func sel(kv ...string) metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return metav1.LabelSelector{MatchLabels: m}
}

func lbls(kv ...string) map[string]string { return sel(kv...).MatchLabels }

// buildConfig builds the model and fails the test on any error Problem: a
// test about the election must not silently run on a half-empty model.
func buildConfig(t testing.TB, pools []v1beta1.IPAddressPool, ads []v1beta1.L2Advertisement) *config.Config {
	t.Helper()
	cfg, problems := config.For(config.ClusterResources{Pools: pools, L2Advertisements: ads})
	for _, p := range problems {
		if !p.Warning {
			t.Fatalf("config: %v", p)
		}
	}
	return cfg
}

func alive(names ...string) []election.Node {
	out := make([]election.Node, len(names))
	for i, n := range names {
		out[i] = election.Node{Name: n, Alive: true}
	}
	return out
}

// nodeNames returns node-1 … node-n.
func nodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%d", i+1)
	}
	return out
}

// addrs returns n consecutive addresses from first.
func addrs(first string, n int) []netip.Addr {
	out := make([]netip.Addr, n)
	a := netip.MustParseAddr(first)
	for i := range out {
		out[i] = a
		a = a.Next()
	}
	return out
}

// oneServicePerIP gives each IP its own Service "default/svc-<ip>".
func oneServicePerIP(ips []netip.Addr, localOnly bool, ready ...string) []election.Service {
	out := make([]election.Service, len(ips))
	for i, ip := range ips {
		out[i] = election.Service{
			Key: "default/svc-" + ip.String(), IPs: []netip.Addr{ip},
			LocalOnly: localOnly, ReadyNodes: ready,
		}
	}
	return out
}

// winners maps each IP to its announcing node.
func winners(as []election.Announcement) map[netip.Addr]string {
	out := make(map[netip.Addr]string, len(as))
	for _, a := range as {
		out[a.IP] = a.Node
	}
	return out
}

// shuffled returns a shuffled copy, so callers' slices stay as they were.
func shuffled[T any](r *rand.Rand, in []T) []T {
	out := slices.Clone(in)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// shuffledInput reorders every slice of an Input, including the Nodes'
// ReadyNodes and the Services' IPs, without changing what it says.
func shuffledInput(r *rand.Rand, in election.Input) election.Input {
	out := in
	out.Nodes, out.Services = shuffled(r, in.Nodes), shuffled(r, in.Services)
	for i := range out.Services {
		s := &out.Services[i]
		s.IPs = shuffled(r, s.IPs)
		s.ReadyNodes = shuffled(r, s.ReadyNodes)
	}
	return out
}

// reversed returns a reversed copy.
func reversed[T any](in []T) []T {
	out := slices.Clone(in)
	slices.Reverse(out)
	return out
}
