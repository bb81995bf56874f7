package config_test

import (
	"fmt"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pool(name string, created int, prio *int32, addrs ...string) v1beta1.IPAddressPool {
	p := v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			CreationTimestamp: metav1.NewTime(time.Date(2025, 1, created, 0, 0, 0, 0, time.UTC)),
		},
		Spec: v1beta1.IPAddressPoolSpec{Addresses: addrs},
	}
	if prio != nil {
		p.Spec.AllocateTo = &v1beta1.ServiceAllocation{Priority: prio}
	}
	return p
}

// For builds the model; the Problems name the object and field at fault.
// Here "clash" overlaps the older pool "public", so it is not used.
func Example() {
	one := int32(1)
	res := config.ClusterResources{Pools: []v1beta1.IPAddressPool{
		pool("fallback", 1, nil, "198.51.100.0/24", "2001:db8::/120"),
		pool("public", 2, &one, "192.0.2.0/24"),
		pool("clash", 3, nil, "192.0.2.128/25"),
	}}
	cfg, problems := config.For(res)

	for _, p := range cfg.AutoPools(config.ServiceInfo{Namespace: "default"}) {
		fmt.Println(p.Name, p.Ranges)
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	// Output:
	// public [192.0.2.0/24]
	// fallback [198.51.100.0/24 2001:db8::/120]
	// IPAddressPool "clash": spec.addresses[0]: overlaps pool "public" (192.0.2.0/24), which is older
	// IPAddressPool "public": spec.addresses[0]: overlaps pool "clash" (192.0.2.128/25), which is not used
}

// An invalid edit does not take away what the last valid version gave out.
// The controller records what it decided in the pool's status.lastValid, so
// every process that reads the pool, restarted or not, keeps that version.
func Example_lastValidVersion() {
	res := config.ClusterResources{Pools: []v1beta1.IPAddressPool{pool("public", 1, nil, "192.0.2.0/24")}}
	cfg, _ := config.For(res)
	res.Pools[0].Status.LastValid = cfg.Decisions().Pools["public"]

	res.Pools[0].Spec.Addresses = []string{"192.0.2.0/24", "192.0.2.300/32"}
	cfg, problems := config.For(res)

	fmt.Println(cfg.Pool("public").Ranges)
	for _, p := range problems {
		fmt.Printf("%s: %v\n", p.Reason, p)
	}
	// Output:
	// [192.0.2.0/24]
	// LastValidConfigInUse: IPAddressPool "public": this version is not used; the last valid version stays in use until it is fixed
	// Invalid: IPAddressPool "public": spec.addresses[1]: "192.0.2.300/32": not a CIDR or a first-last range: netip.ParsePrefix("192.0.2.300/32"): ParseAddr("192.0.2.300"): IPv4 field has value >255
}

// The controller turns Problems into conditions on the objects they name:
// ReadyCondition for every kind (False on an error, with the first error's
// reason, LastValidConfigInUse when a last valid version is kept), and for
// pools Conflicting, True on both pools of an overlap.
func Example_conditions() {
	one := int32(1)
	res := config.ClusterResources{Pools: []v1beta1.IPAddressPool{
		pool("public", 1, &one, "192.0.2.0/24"),
		pool("clash", 2, nil, "192.0.2.128/25"),
		pool("edited", 3, nil, "198.51.100.0/24"),
	}}
	cfg, _ := config.For(res)
	for i := range res.Pools {
		res.Pools[i].Status.LastValid = cfg.Decisions().Pools[res.Pools[i].Name]
	}
	res.Pools[2].Spec.Addresses = []string{"198.51.100.0/24", "nonsense"}
	_, problems := config.For(res)

	byObject := map[string][]config.Problem{}
	for _, p := range problems {
		byObject[p.Name] = append(byObject[p.Name], p)
	}
	for _, obj := range res.Pools {
		ready := config.ReadyCondition(byObject[obj.Name], obj.Generation)
		conflicting := false
		for _, p := range byObject[obj.Name] {
			conflicting = conflicting || p.Reason == v1beta1.ReasonOverlap
		}
		fmt.Printf("%s: Ready=%s/%s Conflicting=%v\n", obj.Name, ready.Status, ready.Reason, conflicting)
	}
	// Output:
	// public: Ready=True/Overlap Conflicting=true
	// clash: Ready=False/Overlap Conflicting=true
	// edited: Ready=False/LastValidConfigInUse Conflicting=false
}

// A BGPAdvertisement in the model has its references resolved and its
// communities parsed, ready for the speaker.
func Example_bgpAdvertisement() {
	res := config.ClusterResources{
		Pools: []v1beta1.IPAddressPool{pool("public", 1, nil, "192.0.2.0/24")},
		BGPPeers: []v1beta1.BGPPeer{{
			ObjectMeta: metav1.ObjectMeta{Name: "tor"},
			Spec:       v1beta1.BGPPeerSpec{MyASN: 64512, PeerASN: 64500, PeerAddress: "192.0.2.254"},
		}},
		BGPAdvertisements: []v1beta1.BGPAdvertisement{{
			ObjectMeta: metav1.ObjectMeta{Name: "upstream"},
			Spec: v1beta1.BGPAdvertisementSpec{
				Communities: []string{"64512:100", "no-export", "large:64512:1:2", "64512:100"},
			},
		}},
	}
	cfg, problems := config.For(res)
	adv := cfg.BGPAdvertisements()[0]
	fmt.Println(adv.Pools, adv.Peers, adv.AggregationLength, adv.AggregationLengthV6)
	for _, c := range adv.Communities {
		fmt.Printf("%d:%d ", c>>16, c&0xFFFF)
	}
	fmt.Println(adv.LargeCommunities, len(problems))
	peer := cfg.BGPPeer("tor")
	fmt.Println(peer.Address, peer.Port, peer.HoldTime, peer.KeepaliveTime)
	// Output:
	// [public] [tor] 32 128
	// 64512:100 65535:65281 [[64512 1 2]] 0
	// 192.0.2.254 179 1m30s 30s
}

// An empty bfd block turns BFD on with its defaults, filled in here and
// nowhere else; ebgpMultiHop makes the session multihop (RFC 5883).
func Example_bfd() {
	peer := func(name string, bfd *v1beta1.BGPPeerBFD, multihop bool) v1beta1.BGPPeer {
		return v1beta1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1beta1.BGPPeerSpec{
			MyASN: 64512, PeerASN: 64513, PeerAddress: "192.0.2.1", EBGPMultiHop: multihop, BFD: bfd,
		}}
	}
	lab := &v1beta1.BGPPeerBFD{
		ReceiveInterval:  &metav1.Duration{Duration: 50 * time.Millisecond},
		TransmitInterval: &metav1.Duration{Duration: 50 * time.Millisecond},
	}
	cfg, _ := config.For(config.ClusterResources{BGPPeers: []v1beta1.BGPPeer{
		peer("plain", nil, false),
		peer("defaults", &v1beta1.BGPPeerBFD{}, false),
		peer("lab", lab, true),
	}})
	for _, p := range cfg.BGPPeers() {
		if p.BFD == nil {
			fmt.Println(p.Name, "no BFD")
			continue
		}
		fmt.Println(p.Name, p.BFD.ReceiveInterval, p.BFD.TransmitInterval, p.BFD.DetectMultiplier, "multihop:", p.BFD.Multihop)
	}
	// Output:
	// defaults 300ms 300ms 3 multihop: false
	// lab 50ms 50ms 3 multihop: true
	// plain no BFD
}
