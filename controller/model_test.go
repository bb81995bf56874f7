package controller_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/google/go-cmp/cmp"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
)

// The model is a function of API state alone. After each kind of invalid
// edit, the controller keeps what worked; then its leader stops and a
// standby replica takes over, and then that one is replaced by a freshly
// started controller. Neither may change any Service's address (or write to
// it at all), any recorded status, or the model; and a speaker that builds
// the model from the API server at any of those moments must get the one
// the controller uses: every Service address in the pool it came from, and
// the same decisions the controller recorded.
func TestModelSurvivesFailoverAndRestart(t *testing.T) {
	tests := []struct {
		name string
		// edit makes one object invalid and returns it: its Ready
		// condition must then say that its last valid version is in use.
		edit func(t *testing.T, f *modelFixture) client.Object
	}{{
		name: "newer pool edited to overlap the older",
		edit: func(t *testing.T, f *modelFixture) client.Object {
			update(t, f.newer, func(p *v1beta1.IPAddressPool) { p.Spec.Addresses = []string{f.olderCIDR} })
			return f.newer
		},
	}, {
		name: "older pool edited to overlap the newer",
		edit: func(t *testing.T, f *modelFixture) client.Object {
			update(t, f.older, func(p *v1beta1.IPAddressPool) { p.Spec.Addresses = []string{f.olderCIDR, f.newerCIDR} })
			return f.older
		},
	}, {
		name: "pool edited to overlapping entries",
		edit: func(t *testing.T, f *modelFixture) client.Object {
			update(t, f.newer, func(p *v1beta1.IPAddressPool) {
				p.Spec.Addresses = []string{f.newerCIDR, firstHalf(f.newerCIDR)}
			})
			return f.newer
		},
	}, {
		name: "pool edited to a non-unicast range",
		edit: func(t *testing.T, f *modelFixture) client.Object {
			update(t, f.older, func(p *v1beta1.IPAddressPool) { p.Spec.Addresses = []string{"126.0.0.0-128.0.0.0"} })
			return f.older
		},
	}, {
		name: "L2Advertisement edited to an invalid pool selector",
		edit: func(t *testing.T, f *modelFixture) client.Object {
			update(t, f.l2, func(a *v1beta1.L2Advertisement) {
				a.Spec.IPAddressPoolSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "zone", Operator: "Near"}}}}
			})
			return f.l2
		},
	}, {
		name: "BGPAdvertisement edited to an aggregation its pool does not fit",
		edit: func(t *testing.T, f *modelFixture) client.Object {
			update(t, f.bgp, func(a *v1beta1.BGPAdvertisement) { a.Spec.AggregationLength = ptr.To(int32(16)) })
			return f.bgp
		},
	}, {
		name: "BGPPeer edited to an invalid node selector",
		edit: func(t *testing.T, f *modelFixture) client.Object {
			update(t, f.peer, func(p *v1beta1.BGPPeer) {
				p.Spec.NodeSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "rack", Operator: "Near"}}}}
			})
			return f.peer
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lease := "model-" + newNamespace(t, nil)
			first := startReplica(t, lease)
			waitElected(t, first)
			standby := startReplica(t, lease)

			f := newModelFixture(t)
			before := f.snapshot(t)
			target := tt.edit(t, f)
			waitLastValidInUse(t, target)
			edited := f.snapshot(t)
			f.compare(t, "after the edit", before, edited, false)

			first.stop()
			waitElected(t, standby)
			f.serveOneMore(t, "after-failover")
			f.compare(t, "after a leader failover", edited, f.snapshot(t), true)

			standby.stop()
			fresh := startReplica(t, lease)
			waitElected(t, fresh)
			f.serveOneMore(t, "after-restart")
			f.compare(t, "after a restart", edited, f.snapshot(t), true)
		})
	}
}

// modelFixture is two pools, one a second older than the other, with a
// Service each; an L2Advertisement of both, a BGPAdvertisement of the older
// one and a BGPPeer.
type modelFixture struct {
	ns                   string
	olderCIDR, newerCIDR string
	older, newer         *v1beta1.IPAddressPool
	l2                   *v1beta1.L2Advertisement
	bgp                  *v1beta1.BGPAdvertisement
	peer                 *v1beta1.BGPPeer
	services             map[string]string // name → pool name
}

func newModelFixture(t *testing.T) *modelFixture {
	t.Helper()
	f := &modelFixture{ns: newNamespace(t, nil), olderCIDR: subnet4(), newerCIDR: subnet4(), services: map[string]string{}}
	f.older = newPool(t, f.ns, v1beta1.IPAddressPoolSpec{Addresses: []string{f.olderCIDR}})
	// creationTimestamp has one-second resolution: make the ages differ.
	time.Sleep(1100 * time.Millisecond)
	f.newer = newPool(t, f.ns, v1beta1.IPAddressPoolSpec{Addresses: []string{f.newerCIDR}})
	f.l2 = &v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{GenerateName: "l2-"},
		Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []string{f.older.Name, f.newer.Name}}}
	f.bgp = &v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{GenerateName: "bgp-"},
		Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []string{f.older.Name}, AggregationLength: ptr.To(int32(24))}}
	f.peer = &v1beta1.BGPPeer{ObjectMeta: metav1.ObjectMeta{GenerateName: "peer-"},
		Spec: v1beta1.BGPPeerSpec{MyASN: 64512, PeerASN: 64513, PeerAddress: "192.0.2.1"}}
	for _, o := range []client.Object{f.l2, f.bgp, f.peer} {
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), o) })
	}
	for _, p := range []*v1beta1.IPAddressPool{f.older, f.newer} {
		for i := range 2 {
			name := fmt.Sprintf("%s-%d", p.Name, i)
			newService(t, f.ns, name, withAnnotation(v1beta1.AnnotationAddressPool, p.Name))
			f.services[name] = p.Name
		}
	}
	for name := range f.services {
		waitAssigned(t, f.ns, name)
	}
	for _, o := range []client.Object{f.older, f.newer, f.l2, f.bgp, f.peer} {
		eventually(t, "Ready and recorded on "+o.GetName(), func() (bool, string) {
			if err := k8s.Get(context.Background(), clientKey(o), o); err != nil {
				return false, err.Error()
			}
			c, lv := readyAndLastValid(o)
			return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == o.GetGeneration() && lv != nil,
				fmt.Sprintf("Ready %+v, lastValid %v", c, lv)
		})
	}
	return f
}

// modelState is what must not change: the Services' addresses and
// resourceVersions, the objects' recorded statuses and Ready conditions,
// and the model a speaker builds from API state.
type modelState struct {
	services map[string]string // name → "ip@resourceVersion"
	statuses map[string]any    // object name → its status
	ready    map[string]string // object name → Ready status/reason
	model    modelView
}

type modelView struct {
	Pools map[string]string   // name → ranges in use
	L2    map[string][]string // name → pools announced
	BGP   map[string][]string
	Peers map[string]string // name → address
}

func (f *modelFixture) snapshot(t *testing.T) modelState {
	t.Helper()
	s := modelState{services: map[string]string{}, statuses: map[string]any{}, ready: map[string]string{}}
	for name := range f.services {
		svc := getService(t, f.ns, name)
		s.services[name] = fmt.Sprintf("%v@%s", ingressIPs(svc), svc.ResourceVersion)
	}
	for _, o := range []client.Object{f.older, f.newer, f.l2, f.bgp, f.peer} {
		if err := k8s.Get(context.Background(), clientKey(o), o); err != nil {
			t.Fatal(err)
		}
		c, lv := readyAndLastValid(o)
		s.statuses[o.GetName()] = lv
		if c != nil {
			s.ready[o.GetName()] = fmt.Sprintf("%s/%s gen %d", c.Status, c.Reason, c.ObservedGeneration)
		}
	}

	// What a speaker started now builds: the API state, nothing else.
	res, objs := listResources(t)
	cfg, _ := config.For(res)
	s.model = modelView{Pools: map[string]string{}, L2: map[string][]string{}, BGP: map[string][]string{}, Peers: map[string]string{}}
	for _, name := range []string{f.older.Name, f.newer.Name} {
		if p := cfg.Pool(name); p != nil {
			s.model.Pools[name] = fmt.Sprint(p.Ranges)
		}
	}
	for _, a := range cfg.L2Advertisements() {
		if a.Name == f.l2.Name {
			s.model.L2[a.Name] = a.Pools
		}
	}
	for _, a := range cfg.BGPAdvertisements() {
		if a.Name == f.bgp.Name {
			s.model.BGP[a.Name] = a.Pools
		}
	}
	if p := cfg.BGPPeer(f.peer.Name); p != nil {
		s.model.Peers[p.Name] = p.Address.String()
	}
	// Every Service's address is in the pool it came from, in that model.
	for name, pool := range f.services {
		for _, ip := range ingressIPs(getService(t, f.ns, name)) {
			got := cfg.PoolContaining(netip.MustParseAddr(ip))
			if got == nil || got.Name != pool {
				t.Errorf("a speaker's model puts %s/%s's %s in pool %v, not %s", f.ns, name, ip, got, pool)
			}
		}
	}
	// And it would record what the controller recorded: it is the
	// controller's model.
	d := cfg.Decisions()
	for name, obj := range objs {
		var decided any
		switch obj.(type) {
		case *v1beta1.IPAddressPool:
			decided = d.Pools[name]
		case *v1beta1.L2Advertisement:
			decided = d.L2Advertisements[name]
		case *v1beta1.BGPAdvertisement:
			decided = d.BGPAdvertisements[name]
		case *v1beta1.BGPPeer:
			decided = d.BGPPeers[name]
		}
		if _, recorded := readyAndLastValid(obj); !equality.Semantic.DeepEqual(decided, recorded) {
			t.Errorf("%s: the controller recorded %+v, a speaker's model decides %+v", name, recorded, decided)
		}
	}
	return s
}

// compare fails when after differs from before; without services, Service
// writes are allowed (an edit may rewrite conditions, not addresses).
func (f *modelFixture) compare(t *testing.T, when string, before, after modelState, services bool) {
	t.Helper()
	if d := cmp.Diff(before.model, after.model); d != "" {
		t.Errorf("%s: the model changed (-before +after):\n%s", when, d)
	}
	if services {
		if d := cmp.Diff(before.services, after.services); d != "" {
			t.Errorf("%s: Services changed (-before +after):\n%s", when, d)
		}
		if d := cmp.Diff(before.ready, after.ready); d != "" {
			t.Errorf("%s: Ready conditions changed (-before +after):\n%s", when, d)
		}
		if !equality.Semantic.DeepEqual(before.statuses, after.statuses) {
			t.Errorf("%s: recorded versions changed:\nbefore %+v\nafter  %+v", when, before.statuses, after.statuses)
		}
	}
}

// serveOneMore creates a Service and waits for its address: the controller
// that just took over is past its start-up.
func (f *modelFixture) serveOneMore(t *testing.T, name string) {
	t.Helper()
	newService(t, f.ns, name, withAnnotation(v1beta1.AnnotationAddressPool, f.older.Name))
	waitAssigned(t, f.ns, name)
	// Let the batched pool status and the configuration pass run: what
	// they would change must show.
	time.Sleep(time.Second)
}

func readyAndLastValid(o client.Object) (*metav1.Condition, any) {
	switch o := o.(type) {
	case *v1beta1.IPAddressPool:
		return findCondition(o.Status.Conditions, v1beta1.ConditionReady), o.Status.LastValid
	case *v1beta1.L2Advertisement:
		return findCondition(o.Status.Conditions, v1beta1.ConditionReady), o.Status.LastValid
	case *v1beta1.BGPAdvertisement:
		return findCondition(o.Status.Conditions, v1beta1.ConditionReady), o.Status.LastValid
	case *v1beta1.BGPPeer:
		return findCondition(o.Status.Conditions, v1beta1.ConditionReady), o.Status.LastValid
	}
	return nil, nil
}

// listResources lists what config.For reads, as the speaker and the
// controller do, and returns the objects by name too.
func listResources(t *testing.T) (config.ClusterResources, map[string]client.Object) {
	t.Helper()
	var (
		pools   v1beta1.IPAddressPoolList
		l2      v1beta1.L2AdvertisementList
		bgp     v1beta1.BGPAdvertisementList
		peers   v1beta1.BGPPeerList
		nodes   corev1.NodeList
		secrets corev1.SecretList
	)
	for _, l := range []client.ObjectList{&pools, &l2, &bgp, &peers, &nodes} {
		if err := k8s.List(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	if err := k8s.List(context.Background(), &secrets, client.InNamespace(systemNamespace)); err != nil {
		t.Fatal(err)
	}
	res := config.ClusterResources{Pools: pools.Items, L2Advertisements: l2.Items, BGPAdvertisements: bgp.Items,
		BGPPeers: peers.Items, Nodes: nodes.Items, Secrets: secrets.Items, InstallNamespace: systemNamespace}
	objs := map[string]client.Object{}
	for i := range res.Pools {
		objs[res.Pools[i].Name] = &res.Pools[i]
	}
	for i := range res.L2Advertisements {
		objs[res.L2Advertisements[i].Name] = &res.L2Advertisements[i]
	}
	for i := range res.BGPAdvertisements {
		objs[res.BGPAdvertisements[i].Name] = &res.BGPAdvertisements[i]
	}
	for i := range res.BGPPeers {
		objs[res.BGPPeers[i].Name] = &res.BGPPeers[i]
	}
	return res, objs
}

// waitLastValidInUse waits until the controller has taken in the edit of o:
// its Ready condition, for the current generation, says the last valid
// version is in use.
func waitLastValidInUse(t *testing.T, o client.Object) {
	t.Helper()
	eventually(t, o.GetName()+" keeping its last valid version", func() (bool, string) {
		if err := k8s.Get(context.Background(), clientKey(o), o); err != nil {
			return false, err.Error()
		}
		c, _ := readyAndLastValid(o)
		return c != nil && c.Reason == v1beta1.ReasonLastValidInUse && c.ObservedGeneration == o.GetGeneration(), fmt.Sprintf("%+v", c)
	})
}

type replica struct {
	stop func()
	mgr  ctrl.Manager
}

// startReplica starts a controller replica that competes for the lease
// named id, with short lease timings; a replica that stops releases it.
func startReplica(t *testing.T, id string) replica {
	t.Helper()
	stop, mgr := startManager(t, func(o *ctrl.Options) {
		o.LeaderElection = true
		o.LeaderElectionID = id
		o.LeaderElectionNamespace = systemNamespace
		o.LeaderElectionReleaseOnCancel = true
		o.LeaseDuration = ptr.To(3 * time.Second)
		o.RenewDeadline = ptr.To(2 * time.Second)
		o.RetryPeriod = ptr.To(200 * time.Millisecond)
	})
	return replica{stop: stop, mgr: mgr}
}

func waitElected(t *testing.T, r replica) {
	t.Helper()
	select {
	case <-r.mgr.Elected():
	case <-time.After(20 * time.Second):
		t.Fatal("the replica was not elected in 20s")
	}
}

// firstHalf returns the lower half of an IPv4 /24, as a /25.
func firstHalf(cidr string) string {
	return netip.PrefixFrom(netip.MustParsePrefix(cidr).Addr(), 25).String()
}
