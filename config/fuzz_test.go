package config

import (
	"testing"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzFor builds snapshots from fuzzed strings (pool addresses, a community,
// a peer address, a label key) and runs For three times: the second time on
// an edited snapshot with the first Config's decisions recorded, the third
// with forged statuses. For must not panic, and
// the model must keep its promises whatever the input.
func FuzzFor(f *testing.F) {
	for _, seed := range [][6]string{
		{"192.0.2.0/24", "192.0.2.128/25", "fd00::/64", "65000:1", "192.0.2.1", "zone"},  // overlap between pools
		{"192.0.2.0/24", "192.0.2.0/24", "192.0.2.0/24", "large:1:2:3", "fd00::1", "a"},  // all the same
		{"10.0.0.1-10.0.0.0", "::/0", "0.0.0.0/0", "no-export", "::ffff:1.2.3.4", "k"},   // reversed; everything
		{"", "garbage", "1.2.3.4/33", "1:2:3", "", "bad key!"},                           // nothing valid
		{"fe80::1%eth0/64", "::ffff:10.0.0.0/120", "10.0.0.0/8", "", "fe80::1%eth0", ""}, // zones, IPv4-mapped
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], seed[4], seed[5])
	}
	f.Fuzz(func(t *testing.T, a1, a2, a3, community, peerAddr, key string) {
		snapshot := func(first, second string) ClusterResources {
			sel := []metav1.LabelSelector{{MatchLabels: map[string]string{key: "x"}}}
			return ClusterResources{
				Pools: []v1beta1.IPAddressPool{
					ipPool("p0", 0, first, second),
					ipPool("p1", 1, a3),
					modPool(ipPool("p2", 2, second), func(p *v1beta1.IPAddressPool) {
						p.Labels = map[string]string{"zone": key}
						p.Spec.AllocateTo = &v1beta1.ServiceAllocation{NamespaceSelectors: sel}
					}),
				},
				BGPPeers: []v1beta1.BGPPeer{bgpPeer("peer", peerAddr)},
				L2Advertisements: []v1beta1.L2Advertisement{l2Adv("l2", v1beta1.L2AdvertisementSpec{
					IPAddressPoolSelectors: sel, Interfaces: []string{key},
				})},
				BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAdv("bgp", v1beta1.BGPAdvertisementSpec{
					Communities: []string{community}, AggregationLength: ptr(int32(24)), Peers: []string{"peer"},
				})},
			}
		}
		c1, p1 := For(snapshot(a1, a2))
		checkModel(t, c1, p1)
		c2, p2 := forAfter(snapshot(a2, a1), c1)
		checkModel(t, c2, p2)

		// Statuses are input too, and anyone allowed to write them may
		// write garbage: recorded versions made of the fuzzed strings,
		// all claiming to be in use, must not break the promises either.
		forged := snapshot(a3, a1)
		for i := range forged.Pools {
			forged.Pools[i].Status.LastValid = &v1beta1.IPAddressPoolVersion{Generation: int64(i), InUse: true,
				Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{a2, forged.Pools[(i+1)%len(forged.Pools)].Spec.Addresses[0]}}}
		}
		forged.L2Advertisements[0].Status.LastValid = &v1beta1.L2AdvertisementVersion{Spec: v1beta1.L2AdvertisementSpec{Interfaces: []string{community}}}
		// The forged peer's BFD interval is as long as a1 in
		// milliseconds: below the 10ms floor for short strings.
		forged.BGPPeers[0].Status.LastValid = &v1beta1.BGPPeerVersion{Spec: v1beta1.BGPPeerSpec{PeerAddress: a1, MyASN: 1, PeerASN: 2,
			BFD: &v1beta1.BGPPeerBFD{ReceiveInterval: dur(time.Duration(len(a1)) * time.Millisecond)}}}
		forged.BGPAdvertisements[0].Status.LastValid = &v1beta1.BGPAdvertisementVersion{Spec: v1beta1.BGPAdvertisementSpec{Communities: []string{key}}}
		c3, p3 := For(forged)
		checkModel(t, c3, p3)
	})
}

// checkModel checks what every Config promises: pools do not overlap, ranges
// are well formed and sorted, advertisements only name what is in the model,
// and every Problem names an object and says something.
func checkModel(t *testing.T, c *Config, problems []Problem) {
	t.Helper()
	pools := c.Pools()
	for i, p := range pools {
		for j, r := range p.Ranges {
			if r.Last.Less(r.First) || r.First.BitLen() != r.Last.BitLen() || r.First.Zone() != "" {
				t.Fatalf("pool %s has a malformed range %v", p.Name, r)
			}
			if j > 0 && r.First.Compare(p.Ranges[j-1].Last) <= 0 && r.Is4() == p.Ranges[j-1].Is4() {
				t.Fatalf("pool %s ranges unsorted or overlapping: %v", p.Name, p.Ranges)
			}
		}
		for _, q := range pools[i+1:] {
			for _, r := range p.Ranges {
				for _, s := range q.Ranges {
					if r.Overlaps(s) {
						t.Fatalf("pools %s and %s overlap: %v, %v", p.Name, q.Name, r, s)
					}
				}
			}
		}
	}
	for _, a := range c.L2Advertisements() {
		for _, name := range a.Pools {
			if c.Pool(name) == nil {
				t.Fatalf("L2Advertisement %s names pool %q, which is not in the model", a.Name, name)
			}
		}
	}
	for _, a := range c.BGPAdvertisements() {
		for _, name := range a.Pools {
			if c.Pool(name) == nil {
				t.Fatalf("BGPAdvertisement %s names pool %q, which is not in the model", a.Name, name)
			}
			if ps := aggregationProblems(object{}, a, c.Pool(name)); len(ps) > 0 {
				t.Fatalf("BGPAdvertisement %s does not fit pool %s: %v", a.Name, name, ps)
			}
		}
		for _, name := range a.Peers {
			if c.BGPPeer(name) == nil {
				t.Fatalf("BGPAdvertisement %s names peer %q, which is not in the model", a.Name, name)
			}
		}
	}
	for _, p := range c.BGPPeers() {
		if b := p.BFD; b != nil && (b.ReceiveInterval < 10*time.Millisecond || b.TransmitInterval < 10*time.Millisecond ||
			b.ReceiveInterval > time.Minute || b.TransmitInterval > time.Minute || b.DetectMultiplier < 2) {
			t.Fatalf("BGPPeer %s has BFD timers outside RFC 5880's sense and FRR's range: %+v", p.Name, b)
		}
	}
	for _, p := range problems {
		if p.Kind == "" || p.Name == "" || p.Reason == "" || p.Message == "" {
			t.Fatalf("incomplete Problem %#v", p)
		}
	}
}

// FuzzPeer builds a BGPPeer from fuzzed fields. For must not panic, and a peer
// it accepts must be usable as is: addresses valid and of one family, a
// port, timers that a BGP session accepts, and BFD timers that fit the wire
// (whole microseconds, a multiplier of 8 bits) and RFC 5880's sense.
func FuzzPeer(f *testing.F) {
	// The last six arguments are the BFD block: present, receive and
	// transmit intervals, multiplier, passive, and ebgpMultiHop.
	f.Add("192.0.2.1", "", "", int64(64512), int32(0), int64(-1), int64(-1), int64(-1), false, int64(-1), int64(-1), int32(-1), false, false)                       // defaults, no BFD
	f.Add("192.0.2.1", "", "", int64(64512), int32(0), int64(-1), int64(-1), int64(-1), true, int64(-1), int64(-1), int32(-1), false, false)                        // BFD with its defaults
	f.Add("fd00::1", "fd00::2", "10.0.0.1", int64(4294967295), int32(1179), int64(9e9), int64(3e9), int64(1e9), true, int64(5e7), int64(5e7), int32(3), true, true) // every field, the lab's BFD, multihop
	f.Add("192.0.2.1", "fd00::2", "fd00::3", int64(0), int32(70000), int64(2e9), int64(5e9), int64(0), true, int64(9e6), int64(61e9), int32(256), false, false)     // every error
	f.Add("fe80::1%eth0", "::ffff:1.2.3.4", "0.0.0.0", int64(-1), int32(-1), int64(0), int64(1), int64(-1), true, int64(1e7+1), int64(0), int32(1), false, true)    // odd addresses, part of a microsecond
	f.Fuzz(func(t *testing.T, addr, source, routerID string, asn int64, port int32, hold, keepalive, connect int64,
		withBFD bool, rx, tx int64, mult int32, passive, multihop bool) {
		d := func(ns int64) *metav1.Duration {
			if ns < 0 {
				return nil // unset
			}
			return dur(time.Duration(ns))
		}
		in := v1beta1.BGPPeer{ObjectMeta: objectMeta("p", 0, nil), Spec: v1beta1.BGPPeerSpec{
			MyASN: asn, PeerASN: 64513, PeerAddress: addr, PeerPort: port, SourceAddress: source, RouterID: routerID,
			HoldTime: d(hold), KeepaliveTime: d(keepalive), ConnectTime: d(connect), EBGPMultiHop: multihop,
		}}
		if withBFD {
			in.Spec.BFD = &v1beta1.BGPPeerBFD{ReceiveInterval: d(rx), TransmitInterval: d(tx), Passive: passive}
			if mult >= 0 {
				in.Spec.BFD.DetectMultiplier = &mult
			}
		}
		c, problems := For(ClusterResources{BGPPeers: []v1beta1.BGPPeer{in}})
		p := c.BGPPeer("p")
		if p == nil {
			if !hasError(problems) {
				t.Fatalf("peer left out without an error: %v", problems)
			}
			return
		}
		switch {
		case len(problems) != 0:
			t.Fatalf("peer in use with problems: %v", problems)
		case p.MyASN == 0 || p.PeerASN == 0 || p.Port == 0:
			t.Fatalf("zero ASN or port: %+v", p)
		case !p.Address.IsValid() || p.Address.Zone() != "" || p.Address.Is4In6():
			t.Fatalf("bad peer address: %+v", p)
		case p.SourceAddress.IsValid() && p.SourceAddress.Is4() != p.Address.Is4():
			t.Fatalf("source of another family: %+v", p)
		case p.RouterID.IsValid() && !p.RouterID.Is4():
			t.Fatalf("router ID not IPv4: %+v", p)
		case p.HoldTime != 0 && (p.HoldTime < 3*time.Second || p.KeepaliveTime <= 0 || p.KeepaliveTime >= p.HoldTime):
			t.Fatalf("timers a session would refuse: %+v", p)
		case p.HoldTime == 0 && p.KeepaliveTime != 0:
			t.Fatalf("keepalives without a hold time: %+v", p)
		case p.ConnectTime < 0:
			t.Fatalf("negative connect time: %+v", p)
		case (p.BFD != nil) != withBFD:
			t.Fatalf("BFD block present %v, BFD in the model %+v", withBFD, p.BFD)
		}
		if b := p.BFD; b != nil {
			for _, iv := range []time.Duration{b.ReceiveInterval, b.TransmitInterval} {
				// RFC 5880 §6.8.1: intervals are 32-bit microseconds,
				// and a zero receive interval would mean "send me
				// nothing", which the peer's model must not say.
				if iv < 10*time.Millisecond || iv > time.Minute || iv%time.Microsecond != 0 {
					t.Fatalf("BFD interval %v does not fit: %+v", iv, b)
				}
			}
			switch {
			case b.DetectMultiplier < 2:
				t.Fatalf("BFD multiplier %d would drop BGP for one lost packet, or never detect: %+v", b.DetectMultiplier, b)
			case b.Passive != passive || b.Multihop != multihop:
				t.Fatalf("BFD passive/multihop not carried: %+v, want passive %v multihop %v", b, passive, multihop)
			}
		}
	})
}
