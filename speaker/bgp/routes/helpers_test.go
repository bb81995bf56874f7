package routes_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/announce"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func meta(name string, kv ...string) metav1.ObjectMeta {
	var l map[string]string
	if len(kv) > 0 {
		l = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
	}
	return metav1.ObjectMeta{Name: name, Labels: l}
}

func pool(name string, addrs ...string) v1beta1.IPAddressPool {
	return v1beta1.IPAddressPool{ObjectMeta: meta(name), Spec: v1beta1.IPAddressPoolSpec{Addresses: addrs}}
}

func peer(name string, myASN, peerASN int64, addr string, mod ...func(*v1beta1.BGPPeerSpec)) v1beta1.BGPPeer {
	p := v1beta1.BGPPeer{ObjectMeta: meta(name), Spec: v1beta1.BGPPeerSpec{MyASN: myASN, PeerASN: peerASN, PeerAddress: addr}}
	for _, f := range mod {
		f(&p.Spec)
	}
	return p
}

func adv(name string, mod func(*v1beta1.BGPAdvertisementSpec)) v1beta1.BGPAdvertisement {
	a := v1beta1.BGPAdvertisement{ObjectMeta: meta(name)}
	if mod != nil {
		mod(&a.Spec)
	}
	return a
}

func sel(kv ...string) []metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return []metav1.LabelSelector{{MatchLabels: m}}
}

func ptr[T any](v T) *T { return &v }

// build is config.For that fails the test on any error: these tests are
// about planning, not validation.
func build(t testing.TB, res config.ClusterResources) *config.Config {
	t.Helper()
	cfg, problems := config.For(res)
	for _, p := range problems {
		if !p.Warning {
			t.Fatalf("config: %v", p)
		}
	}
	return cfg
}

// eligible is a desired state eligible for every address given.
func eligible(addrs ...string) announce.Desired {
	d := announce.Desired{}
	for _, a := range addrs {
		d[netip.MustParseAddr(a)] = announce.Want{Eligible: true}
	}
	return d
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// cmpOpts compares plans: addresses and prefixes by value, nil and empty
// route lists alike.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.EquateEmpty(),
}
