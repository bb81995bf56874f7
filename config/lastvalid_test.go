package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestEveryErrorKeepsTheLastValidVersion breaks one valid object of each kind
// in every way For can find, and checks that each time the object's last
// valid version stays in the model and its Problems start with
// LastValidConfigInUse. Warnings alone must not trigger that.
func TestEveryErrorKeepsTheLastValidVersion(t *testing.T) {
	base := func() ClusterResources {
		res := advFixture()
		res.InstallNamespace = installNS
		res.Secrets = []corev1.Secret{secret(installNS, "bgp", map[string]string{"password": "pw"})}
		res.BGPPeers = append(res.BGPPeers, modPeer(bgpPeer("target-peer", "192.0.2.250"), func(s *v1beta1.BGPPeerSpec) {
			s.PasswordSecret = &v1beta1.SecretReference{Name: "bgp"}
			s.HoldTime = dur(30 * time.Second)
		}))
		res.Pools = append(res.Pools, modPool(ipPool("target-pool", 0, "172.16.0.0/24"), func(p *v1beta1.IPAddressPool) {
			p.Spec.AllocateTo = &v1beta1.ServiceAllocation{Namespaces: []string{"web"}}
		}))
		res.L2Advertisements = []v1beta1.L2Advertisement{l2Adv("target-l2", v1beta1.L2AdvertisementSpec{
			IPAddressPools: []string{"target-pool"}, Interfaces: []string{"eth0"},
		})}
		res.BGPAdvertisements = []v1beta1.BGPAdvertisement{bgpAdv("target-bgp", v1beta1.BGPAdvertisementSpec{
			IPAddressPools: []string{"target-pool"}, AggregationLength: ptr(int32(24)), Communities: []string{"65000:1"},
		})}
		return res
	}
	tests := []struct {
		name string
		kind string
		obj  string
		edit func(*ClusterResources)
		// warningOnly edits leave the object in use as written.
		warningOnly bool
	}{
		{name: "pool: bad address", kind: kindPool, obj: "target-pool", edit: func(r *ClusterResources) {
			r.Pools[len(r.Pools)-1].Spec.Addresses = []string{"172.16.0.0/24", "x"}
		}},
		{name: "pool: no addresses", kind: kindPool, obj: "target-pool", edit: func(r *ClusterResources) {
			r.Pools[len(r.Pools)-1].Spec.Addresses = nil
		}},
		{name: "pool: overlapping entries", kind: kindPool, obj: "target-pool", edit: func(r *ClusterResources) {
			r.Pools[len(r.Pools)-1].Spec.Addresses = []string{"172.16.0.0/24", "172.16.0.1-172.16.0.2"}
		}},
		{name: "pool: bad namespace", kind: kindPool, obj: "target-pool", edit: func(r *ClusterResources) {
			r.Pools[len(r.Pools)-1].Spec.AllocateTo.Namespaces = []string{"NOT OK"}
		}},
		{name: "pool: bad namespace selector", kind: kindPool, obj: "target-pool", edit: func(r *ClusterResources) {
			r.Pools[len(r.Pools)-1].Spec.AllocateTo.NamespaceSelectors = []metav1.LabelSelector{badOperator("?")}
		}},
		{name: "pool: bad service selector", kind: kindPool, obj: "target-pool", edit: func(r *ClusterResources) {
			r.Pools[len(r.Pools)-1].Spec.AllocateTo.ServiceSelectors = []metav1.LabelSelector{badOperator("?")}
		}},
		{name: "pool: moved onto an older pool", kind: kindPool, obj: "target-pool", edit: func(r *ClusterResources) {
			r.Pools[len(r.Pools)-1].Spec.Addresses = []string{"192.0.2.0/25"}
		}},
		{name: "L2: bad interface", kind: kindL2Adv, obj: "target-l2", edit: func(r *ClusterResources) {
			r.L2Advertisements[0].Spec.Interfaces = []string{"eth0", "way-too-long-for-linux"}
		}},
		{name: "L2: bad node selector", kind: kindL2Adv, obj: "target-l2", edit: func(r *ClusterResources) {
			r.L2Advertisements[0].Spec.NodeSelectors = []metav1.LabelSelector{badOperator("?")}
		}},
		{name: "L2: bad pool selector", kind: kindL2Adv, obj: "target-l2", edit: func(r *ClusterResources) {
			r.L2Advertisements[0].Spec.IPAddressPoolSelectors = []metav1.LabelSelector{badOperator("?")}
		}},
		{name: "L2: missing pool is only a warning", kind: kindL2Adv, obj: "target-l2", warningOnly: true, edit: func(r *ClusterResources) {
			r.L2Advertisements[0].Spec.IPAddressPools = []string{"target-pool", "missing"}
		}},
		{name: "L2: node selector selecting nothing is only a warning", kind: kindL2Adv, obj: "target-l2", warningOnly: true, edit: func(r *ClusterResources) {
			r.L2Advertisements[0].Spec.NodeSelectors = []metav1.LabelSelector{labelSelector("rack", "none")}
		}},
		{name: "BGP: aggregation too short for the pool", kind: kindBGPAdv, obj: "target-bgp", edit: func(r *ClusterResources) {
			r.BGPAdvertisements[0].Spec.AggregationLength = ptr(int32(20))
		}},
		{name: "BGP: aggregation out of range", kind: kindBGPAdv, obj: "target-bgp", edit: func(r *ClusterResources) {
			r.BGPAdvertisements[0].Spec.AggregationLengthV6 = ptr(int32(200))
		}},
		{name: "BGP: bad community", kind: kindBGPAdv, obj: "target-bgp", edit: func(r *ClusterResources) {
			r.BGPAdvertisements[0].Spec.Communities = []string{"65000:1", "no-such-name"}
		}},
		{name: "BGP: bad local preference", kind: kindBGPAdv, obj: "target-bgp", edit: func(r *ClusterResources) {
			r.BGPAdvertisements[0].Spec.LocalPref = ptr(int64(-5))
		}},
		{name: "BGP: bad node selector", kind: kindBGPAdv, obj: "target-bgp", edit: func(r *ClusterResources) {
			r.BGPAdvertisements[0].Spec.NodeSelectors = []metav1.LabelSelector{badOperator("?")}
		}},
		{name: "BGP: missing peer is only a warning", kind: kindBGPAdv, obj: "target-bgp", warningOnly: true, edit: func(r *ClusterResources) {
			r.BGPAdvertisements[0].Spec.Peers = []string{"r1", "missing"}
		}},
		{name: "peer: bad ASN", kind: kindPeer, obj: "target-peer", edit: func(r *ClusterResources) {
			r.BGPPeers[len(r.BGPPeers)-1].Spec.MyASN = 0
		}},
		{name: "peer: bad address", kind: kindPeer, obj: "target-peer", edit: func(r *ClusterResources) {
			r.BGPPeers[len(r.BGPPeers)-1].Spec.PeerAddress = "router"
		}},
		{name: "peer: bad port", kind: kindPeer, obj: "target-peer", edit: func(r *ClusterResources) {
			r.BGPPeers[len(r.BGPPeers)-1].Spec.PeerPort = 70000
		}},
		{name: "peer: source of another family", kind: kindPeer, obj: "target-peer", edit: func(r *ClusterResources) {
			r.BGPPeers[len(r.BGPPeers)-1].Spec.SourceAddress = "fd00::1"
		}},
		{name: "peer: IPv6 router ID", kind: kindPeer, obj: "target-peer", edit: func(r *ClusterResources) {
			r.BGPPeers[len(r.BGPPeers)-1].Spec.RouterID = "fd00::1"
		}},
		{name: "peer: keepalive above hold time", kind: kindPeer, obj: "target-peer", edit: func(r *ClusterResources) {
			r.BGPPeers[len(r.BGPPeers)-1].Spec.KeepaliveTime = dur(time.Minute)
		}},
		{name: "peer: BFD interval below 10ms", kind: kindPeer, obj: "target-peer", edit: func(r *ClusterResources) {
			r.BGPPeers[len(r.BGPPeers)-1].Spec.BFD = &v1beta1.BGPPeerBFD{TransmitInterval: dur(time.Millisecond)}
		}},
		{name: "peer: BFD multiplier 1", kind: kindPeer, obj: "target-peer", edit: func(r *ClusterResources) {
			r.BGPPeers[len(r.BGPPeers)-1].Spec.BFD = &v1beta1.BGPPeerBFD{DetectMultiplier: ptr(int32(1))}
		}},
		// A Secret deleted or emptied is not here: status never holds a
		// password, so no process can rebuild the last valid version
		// without it (TestPeerBecomesInvalid).
		{name: "peer: bad node selector", kind: kindPeer, obj: "target-peer", edit: func(r *ClusterResources) {
			r.BGPPeers[len(r.BGPPeers)-1].Spec.NodeSelectors = []metav1.LabelSelector{badOperator("?")}
		}},
		{name: "peer: node selector selecting nothing is only a warning", kind: kindPeer, obj: "target-peer", warningOnly: true, edit: func(r *ClusterResources) {
			r.BGPPeers[len(r.BGPPeers)-1].Spec.NodeSelectors = []metav1.LabelSelector{labelSelector("rack", "none")}
		}},
	}
	before := mustForKind(t, base())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := base()
			tt.edit(&res)
			after, problems := forAfter(res, before)
			mine := problemsAbout(problems, tt.kind, tt.obj)
			if len(mine) == 0 {
				t.Fatalf("no Problem about %s %q", tt.kind, tt.obj)
			}
			if tt.warningOnly {
				if hasError(mine) {
					t.Fatalf("errors where only warnings were expected: %v", mine)
				}
				return
			}
			if mine[0].Reason != v1beta1.ReasonLastValidInUse || mine[0].Warning {
				t.Errorf("first Problem = %v, want the LastValidConfigInUse error", mine[0])
			}
			if !hasError(mine[1:]) {
				t.Errorf("no error saying what is wrong: %v", mine)
			}
			if d := cmp.Diff(objectOf(before, tt.kind, tt.obj), objectOf(after, tt.kind, tt.obj), cmpOpts); d != "" {
				t.Errorf("the object changed in the model (-before +after):\n%s", d)
			}
		})
	}
}

// mustForKind builds the base Config and checks that the target objects are
// valid, so that every row above starts from a working setup.
func mustForKind(t *testing.T, res ClusterResources) *Config {
	t.Helper()
	c, problems := For(res)
	for _, target := range []string{"target-pool", "target-l2", "target-bgp", "target-peer"} {
		for _, p := range problems {
			if p.Name == target {
				t.Fatalf("the base setup has a Problem: %v", p)
			}
		}
	}
	return c
}

func problemsAbout(ps []Problem, kind, name string) []Problem {
	var out []Problem
	for _, p := range ps {
		if p.Kind == kind && p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// objectOf returns the model of one object, whatever its kind.
func objectOf(c *Config, kind, name string) any {
	switch kind {
	case kindPool:
		return c.Pool(name)
	case kindPeer:
		return c.BGPPeer(name)
	case kindL2Adv:
		for _, a := range c.L2Advertisements() {
			if a.Name == name {
				return a
			}
		}
	case kindBGPAdv:
		for _, a := range c.BGPAdvertisements() {
			if a.Name == name {
				return a
			}
		}
	}
	return nil
}

func TestLastValidVersionPerObject(t *testing.T) {
	// Two objects of a kind: breaking one keeps its own last valid version
	// and leaves the other alone, and fixing it takes the new version.
	res := ClusterResources{Pools: []v1beta1.IPAddressPool{
		ipPool("a", 0, "192.0.2.0/24"),
		ipPool("b", 1, "198.51.100.0/24"),
	}}
	c1 := mustFor(t, res, nil)

	res.Pools[0].Spec.Addresses = []string{"oops"}
	res.Pools[1].Spec.Addresses = []string{"198.51.100.0/25"}
	c2, problems := forAfter(res, c1)
	diffProblems(t, problems, []Problem{
		lastValid(kindPool, "a"),
		perr(kindPool, "a", "spec.addresses[0]", v1beta1.ReasonInvalid, `"oops": not a CIDR or a first-last range`),
	})
	if d := cmp.Diff([]*Pool{model("a", 0, "192.0.2.0/24"), model("b", 1, "198.51.100.0/25")}, c2.Pools(), cmpOpts); d != "" {
		t.Errorf("pools (-want +got):\n%s", d)
	}

	res.Pools[0].Spec.Addresses = []string{"192.0.2.0/26"}
	c3 := mustFor(t, res, c2)
	if d := cmp.Diff([]*Pool{model("a", 0, "192.0.2.0/26"), model("b", 1, "198.51.100.0/25")}, c3.Pools(), cmpOpts); d != "" {
		t.Errorf("pools (-want +got):\n%s", d)
	}
}

func TestLastValidVersionSurvivesOtherKinds(t *testing.T) {
	// A previous Config is per object: an L2Advertisement's last valid
	// version is found even when everything else in the snapshot changed.
	res := advFixture()
	res.L2Advertisements = []v1beta1.L2Advertisement{l2Adv("l2", v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"b"}})}
	c1, _ := For(res)

	res2 := ClusterResources{
		Pools:            []v1beta1.IPAddressPool{ipPool("b", 1, "198.51.100.0/26")},
		L2Advertisements: []v1beta1.L2Advertisement{l2Adv("l2", v1beta1.L2AdvertisementSpec{Interfaces: []string{"/"}})},
	}
	c2, _ := forAfter(res2, c1)
	want := []*L2Advertisement{{Name: "l2", Pools: []string{"b"}}}
	if d := cmp.Diff(want, c2.L2Advertisements(), cmpOpts); d != "" {
		t.Errorf("L2 (-want +got):\n%s", d)
	}
	if c2.BGPPeer("r1") != nil {
		t.Error("a deleted peer came back from the previous Config")
	}
}

// Statuses are API state like specs: For takes in whatever is recorded, by
// the controller or by hand, as long as it is valid today. A recorded
// version that is not (written by a Portico with other rules, or by hand)
// counts as none, and is kept in the Decisions only while nothing valid
// replaces it.
func TestRecordedVersionsFromElsewhere(t *testing.T) {
	old := modPool(ipPool("old", 0, "192.0.2.0/24"), func(p *v1beta1.IPAddressPool) {
		p.Spec.Addresses = []string{"not-valid"}
		// 0.0.0.0/0 was accepted before NotUnicast.
		p.Status.LastValid = &v1beta1.IPAddressPoolVersion{Generation: 1, InUse: true,
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"0.0.0.0/0"}}}
	})
	// A recorded version in use takes precedence over an older pool it
	// overlaps, whoever recorded it.
	young := modPool(ipPool("young", 5, "198.51.100.0/24"), func(p *v1beta1.IPAddressPool) {
		p.Status.LastValid = &v1beta1.IPAddressPoolVersion{Generation: 3, InUse: true,
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"198.51.100.0/24"}}}
	})
	elder := ipPool("elder", 1, "198.51.100.128/25")
	c, problems := For(ClusterResources{Pools: []v1beta1.IPAddressPool{old, young, elder}})
	if d := cmp.Diff([]*Pool{model("young", 5, "198.51.100.0/24")}, c.Pools(), cmpOpts); d != "" {
		t.Errorf("pools (-want +got):\n%s", d)
	}
	if mine := problemsAbout(problems, kindPool, "old"); len(mine) == 0 || mine[0].Reason == v1beta1.ReasonLastValidInUse {
		t.Errorf("old: %v, want its own error and no last valid version in use", mine)
	}
	d := c.Decisions()
	if got := d.Pools["old"]; got == nil || got.InUse || got.Spec.Addresses[0] != "0.0.0.0/0" {
		t.Errorf("old recorded as %+v, want the unusable version kept, not in use", got)
	}
	if got := d.Pools["young"]; got == nil || !got.InUse || got.Generation != 0 {
		t.Errorf("young recorded as %+v, want its current spec (generation 0) in use", got)
	}
}
