package config

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const installNS = "portico-system"

func bgpPeer(name, addr string) v1beta1.BGPPeer {
	return v1beta1.BGPPeer{
		ObjectMeta: objectMeta(name, 0, nil),
		Spec:       v1beta1.BGPPeerSpec{MyASN: 64512, PeerASN: 64513, PeerAddress: addr},
	}
}

func modPeer(p v1beta1.BGPPeer, f func(*v1beta1.BGPPeerSpec)) v1beta1.BGPPeer {
	f(&p.Spec)
	return p
}

// peerModel is what For makes of bgpPeer(name, addr).
func peerModel(name, addr string) *BGPPeer {
	return &BGPPeer{
		Name: name, MyASN: 64512, PeerASN: 64513, Address: netip.MustParseAddr(addr),
		Port: 179, HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second,
	}
}

func modPeerModel(p *BGPPeer, f func(*BGPPeer)) *BGPPeer {
	f(p)
	return p
}

func secret(ns, name string, data map[string]string) corev1.Secret {
	s := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeBasicAuth}
	if data != nil {
		s.Data = map[string][]byte{}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
	}
	return s
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestPeerFromObject(t *testing.T) {
	const inv = v1beta1.ReasonInvalid
	secrets := []corev1.Secret{
		secret(installNS, "bgp", map[string]string{"password": "s3cret", "username": "ignored"}),
		secret("other", "bgp", map[string]string{"password": "elsewhere"}),
		secret(installNS, "nopw", map[string]string{"username": "u"}),
		secret(installNS, "emptypw", map[string]string{"password": ""}),
		{ObjectMeta: metav1.ObjectMeta{Namespace: installNS, Name: "stringdata"}, StringData: map[string]string{"password": "sd"}},
	}
	nodes := []corev1.Node{node("n1", "rack", "a"), node("n2", "rack", "b")}
	tests := []struct {
		name     string
		in       v1beta1.BGPPeer
		want     *BGPPeer
		problems []Problem
	}{{
		name: "defaults",
		in:   bgpPeer("p", "192.0.2.1"),
		want: peerModel("p", "192.0.2.1"),
	}, {
		name: "every field",
		in: modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
			s.MyASN, s.PeerASN = 4200000000, 1
			s.PeerPort = 1179
			s.SourceAddress = "192.0.2.10"
			s.RouterID = "10.0.0.1"
			s.HoldTime, s.KeepaliveTime, s.ConnectTime = dur(9*time.Second), dur(3*time.Second), dur(5*time.Second)
			s.EBGPMultiHop, s.GracefulRestart = true, true
			s.PasswordSecret = &v1beta1.SecretReference{Name: "bgp", Namespace: "other"}
			s.NodeSelectors = []metav1.LabelSelector{labelSelector("rack", "a")}
			s.BFD = &v1beta1.BGPPeerBFD{ReceiveInterval: dur(50 * time.Millisecond), TransmitInterval: dur(70 * time.Millisecond), DetectMultiplier: ptr(int32(5)), Passive: true}
		}),
		want: &BGPPeer{
			Name: "p", MyASN: 4200000000, PeerASN: 1, Address: netip.MustParseAddr("192.0.2.1"), Port: 1179,
			SourceAddress: netip.MustParseAddr("192.0.2.10"), RouterID: netip.MustParseAddr("10.0.0.1"),
			HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectTime: 5 * time.Second,
			EBGPMultiHop: true, GracefulRestart: true, Password: "elsewhere",
			NodeSelectors: []labels.Selector{mustSelector("rack=a")},
			BFD:           &BFD{ReceiveInterval: 50 * time.Millisecond, TransmitInterval: 70 * time.Millisecond, DetectMultiplier: 5, Passive: true, Multihop: true},
		},
	}, {
		name: "empty BFD block is BFD with its defaults",
		in:   modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) { s.BFD = &v1beta1.BGPPeerBFD{} }),
		want: modPeerModel(peerModel("p", "192.0.2.1"), func(p *BGPPeer) {
			p.BFD = &BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}
		}),
	}, {
		name:     "invalid BFD leaves the peer out",
		in:       modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) { s.BFD = &v1beta1.BGPPeerBFD{DetectMultiplier: ptr(int32(1))} }),
		problems: []Problem{perr(kindPeer, "p", "spec.bfd.detectMultiplier", inv, "1 must be between 2 and 255")},
	}, {
		name: "IPv6 peer with an IPv4 router ID",
		in: modPeer(bgpPeer("p", "fd00::1"), func(s *v1beta1.BGPPeerSpec) {
			s.SourceAddress, s.RouterID = "fd00::10", "10.0.0.1"
		}),
		want: modPeerModel(peerModel("p", "fd00::1"), func(p *BGPPeer) {
			p.SourceAddress, p.RouterID = netip.MustParseAddr("fd00::10"), netip.MustParseAddr("10.0.0.1")
		}),
	}, {
		name: "largest ASNs",
		in:   modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) { s.MyASN, s.PeerASN = 4294967295, 4294967295 }),
		want: modPeerModel(peerModel("p", "192.0.2.1"), func(p *BGPPeer) { p.MyASN, p.PeerASN = 4294967295, 4294967295 }),
	}, {
		name: "ASNs out of range",
		in:   modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) { s.MyASN, s.PeerASN = 0, 4294967296 }),
		problems: []Problem{
			perr(kindPeer, "p", "spec.myASN", inv, "0 is not an AS number (1 to 4294967295)"),
			perr(kindPeer, "p", "spec.peerASN", inv, "4294967296 is not an AS number (1 to 4294967295)"),
		},
	}, {
		name:     "negative ASN",
		in:       modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) { s.MyASN = -64512 }),
		problems: []Problem{perr(kindPeer, "p", "spec.myASN", inv, "-64512 is not an AS number (1 to 4294967295)")},
	}, {
		name:     "peer address is a name",
		in:       bgpPeer("p", "router.example"),
		problems: []Problem{perr(kindPeer, "p", "spec.peerAddress", inv, `"router.example" is not an IP address`)},
	}, {
		name:     "peer address missing",
		in:       bgpPeer("p", ""),
		problems: []Problem{perr(kindPeer, "p", "spec.peerAddress", inv, `"" is not an IP address`)},
	}, {
		name: "peer address with a zone",
		in:   bgpPeer("p", "fe80::1%eth0"),
		problems: []Problem{perr(kindPeer, "p", "spec.peerAddress", inv,
			`"fe80::1%eth0": zones and IPv4-mapped IPv6 addresses are not allowed`)},
	}, {
		name: "IPv4-mapped peer address",
		in:   bgpPeer("p", "::ffff:192.0.2.1"),
		problems: []Problem{perr(kindPeer, "p", "spec.peerAddress", inv,
			`"::ffff:192.0.2.1": zones and IPv4-mapped IPv6 addresses are not allowed`)},
	}, {
		name:     "unspecified peer address",
		in:       bgpPeer("p", "0.0.0.0"),
		problems: []Problem{perr(kindPeer, "p", "spec.peerAddress", inv, "0.0.0.0 is not a unicast address")},
	}, {
		name:     "multicast peer address",
		in:       bgpPeer("p", "ff02::5"),
		problems: []Problem{perr(kindPeer, "p", "spec.peerAddress", inv, "ff02::5 is not a unicast address")},
	}, {
		name:     "port out of range",
		in:       modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) { s.PeerPort = 65536 }),
		problems: []Problem{perr(kindPeer, "p", "spec.peerPort", inv, "65536 is not a TCP port")},
	}, {
		name:     "negative port",
		in:       modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) { s.PeerPort = -1 }),
		problems: []Problem{perr(kindPeer, "p", "spec.peerPort", inv, "-1 is not a TCP port")},
	}, {
		name: "source address of the other family",
		in:   modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) { s.SourceAddress = "fd00::1" }),
		problems: []Problem{perr(kindPeer, "p", "spec.sourceAddress", inv,
			"fd00::1 and the peer address 192.0.2.1 are of different families")},
	}, {
		name:     "source address garbage",
		in:       modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) { s.SourceAddress = "eth0" }),
		problems: []Problem{perr(kindPeer, "p", "spec.sourceAddress", inv, `"eth0" is not an IP address`)},
	}, {
		name: "source family not compared with a bad peer address",
		in: modPeer(bgpPeer("p", "nope"), func(s *v1beta1.BGPPeerSpec) {
			s.SourceAddress = "fd00::1"
		}),
		problems: []Problem{perr(kindPeer, "p", "spec.peerAddress", inv, `"nope" is not an IP address`)},
	}, {
		name: "IPv6 router ID",
		in:   modPeer(bgpPeer("p", "fd00::1"), func(s *v1beta1.BGPPeerSpec) { s.RouterID = "fd00::2" }),
		problems: []Problem{perr(kindPeer, "p", "spec.routerID", inv,
			"fd00::2 is not an IPv4 address; a router ID is 32 bits")},
	}, {
		name:     "router ID garbage",
		in:       modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) { s.RouterID = "1.2.3" }),
		problems: []Problem{perr(kindPeer, "p", "spec.routerID", inv, `"1.2.3" is not an IP address`)},
	}, {
		name: "timer errors",
		in: modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
			s.HoldTime, s.KeepaliveTime = dur(2*time.Second), dur(5*time.Second)
		}),
		problems: []Problem{
			perr(kindPeer, "p", "spec.holdTime", inv, "2s must be 0 or between 3s and 18h12m15s"),
			perr(kindPeer, "p", "spec.keepaliveTime", inv, "5s must be more than 0 and less than holdTime (2s)"),
		},
	}, {
		name: "password from the install namespace",
		in: modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
			s.PasswordSecret = &v1beta1.SecretReference{Name: "bgp"}
		}),
		want: modPeerModel(peerModel("p", "192.0.2.1"), func(p *BGPPeer) { p.Password = "s3cret" }),
	}, {
		name: "password from StringData",
		in: modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
			s.PasswordSecret = &v1beta1.SecretReference{Name: "stringdata"}
		}),
		want: modPeerModel(peerModel("p", "192.0.2.1"), func(p *BGPPeer) { p.Password = "sd" }),
	}, {
		name: "password Secret missing",
		in: modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
			s.PasswordSecret = &v1beta1.SecretReference{Name: "gone"}
		}),
		problems: []Problem{perr(kindPeer, "p", "spec.passwordSecret", v1beta1.ReasonSecretNotFound,
			`Secret "portico-system/gone" not found`)},
	}, {
		name: "password Secret in another namespace than named",
		in: modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
			s.PasswordSecret = &v1beta1.SecretReference{Name: "nopw", Namespace: "other"}
		}),
		problems: []Problem{perr(kindPeer, "p", "spec.passwordSecret", v1beta1.ReasonSecretNotFound,
			`Secret "other/nopw" not found`)},
	}, {
		name: "password Secret without the key",
		in: modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
			s.PasswordSecret = &v1beta1.SecretReference{Name: "nopw"}
		}),
		problems: []Problem{perr(kindPeer, "p", "spec.passwordSecret", inv,
			`Secret "portico-system/nopw" has no "password" key`)},
	}, {
		name: "empty password",
		in: modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
			s.PasswordSecret = &v1beta1.SecretReference{Name: "emptypw"}
		}),
		problems: []Problem{perr(kindPeer, "p", "spec.passwordSecret", inv,
			`Secret "portico-system/emptypw" has an empty "password"`)},
	}, {
		name: "password Secret without a name",
		in: modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
			s.PasswordSecret = &v1beta1.SecretReference{}
		}),
		problems: []Problem{perr(kindPeer, "p", "spec.passwordSecret.name", inv, "the Secret name is empty")},
	}, {
		name: "node selector that selects no node is a warning",
		in: modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
			s.NodeSelectors = []metav1.LabelSelector{labelSelector("rack", "b"), labelSelector("rack", "z")}
		}),
		want: modPeerModel(peerModel("p", "192.0.2.1"), func(p *BGPPeer) {
			p.NodeSelectors = []labels.Selector{mustSelector("rack=b"), mustSelector("rack=z")}
		}),
		problems: []Problem{pwarn(kindPeer, "p", "spec.nodeSelectors[1]", v1beta1.ReasonSelectsNothing, "selects no node (rack=z)")},
	}, {
		name: "invalid node selector",
		in: modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
			s.NodeSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Near"}}}}
		}),
		problems: []Problem{perr(kindPeer, "p", "spec.nodeSelectors[0]", inv,
			`invalid label selector: "Near" is not a valid label selector operator`)},
	}, {
		name: "every error at once, in field order",
		in: v1beta1.BGPPeer{ObjectMeta: objectMeta("p", 0, nil), Spec: v1beta1.BGPPeerSpec{
			PeerAddress: "x", PeerPort: 99999, RouterID: "y",
			HoldTime: dur(-time.Second), ConnectTime: dur(0),
			PasswordSecret: &v1beta1.SecretReference{Name: "none"},
			BFD:            &v1beta1.BGPPeerBFD{ReceiveInterval: dur(0)},
		}},
		problems: []Problem{
			perr(kindPeer, "p", "spec.myASN", inv, "0 is not an AS number (1 to 4294967295)"),
			perr(kindPeer, "p", "spec.peerASN", inv, "0 is not an AS number (1 to 4294967295)"),
			perr(kindPeer, "p", "spec.peerAddress", inv, `"x" is not an IP address`),
			perr(kindPeer, "p", "spec.peerPort", inv, "99999 is not a TCP port"),
			perr(kindPeer, "p", "spec.routerID", inv, `"y" is not an IP address`),
			perr(kindPeer, "p", "spec.holdTime", inv, "-1s must be 0 or between 3s and 18h12m15s"),
			perr(kindPeer, "p", "spec.connectTime", inv, "0s must be between 1s and 18h12m15s"),
			perr(kindPeer, "p", "spec.bfd.receiveInterval", inv, "0s must be between 10ms and 1m0s"),
			perr(kindPeer, "p", "spec.passwordSecret", v1beta1.ReasonSecretNotFound, `Secret "portico-system/none" not found`),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ClusterResources{BGPPeers: []v1beta1.BGPPeer{tt.in}, Secrets: secrets, Nodes: nodes, InstallNamespace: installNS}
			c, problems := For(res)
			diffProblems(t, problems, tt.problems)
			if d := cmp.Diff(tt.want, c.BGPPeer(tt.in.Name), cmpOpts); d != "" {
				t.Errorf("peer (-want +got):\n%s", d)
			}
			if tt.want == nil && len(c.BGPPeers()) != 0 {
				t.Errorf("BGPPeers() has %d peers, want none", len(c.BGPPeers()))
			}
		})
	}
}

func TestPeerNodeSelectorsWithoutNodes(t *testing.T) {
	// Without nodes in the snapshot there is nothing to judge selectors by.
	in := modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
		s.NodeSelectors = []metav1.LabelSelector{labelSelector("rack", "z")}
	})
	c := mustFor(t, ClusterResources{BGPPeers: []v1beta1.BGPPeer{in}}, nil)
	if c.BGPPeer("p") == nil {
		t.Fatal("peer left out")
	}
}

func TestPeerTimers(t *testing.T) {
	const inv = v1beta1.ReasonInvalid
	o := object{kindPeer, "p"}
	tests := []struct {
		name                    string
		hold, keepalive, conn   *metav1.Duration
		wantHold, wantKA, wantC time.Duration
		problems                []Problem
	}{
		{name: "all defaults", wantHold: 90 * time.Second, wantKA: 30 * time.Second},
		{name: "keepalive defaults to a third of hold", hold: dur(9 * time.Second), wantHold: 9 * time.Second, wantKA: 3 * time.Second},
		{name: "hold 0 means no keepalives", hold: dur(0)},
		{name: "hold 0, keepalive 0", hold: dur(0), keepalive: dur(0)},
		{name: "shortest hold", hold: dur(3 * time.Second), wantHold: 3 * time.Second, wantKA: time.Second},
		{name: "longest hold", hold: dur(65535 * time.Second), wantHold: 65535 * time.Second, wantKA: 21845 * time.Second},
		{name: "keepalive just below default hold", keepalive: dur(89 * time.Second), wantHold: 90 * time.Second, wantKA: 89 * time.Second},
		{name: "connect time", conn: dur(30 * time.Second), wantHold: 90 * time.Second, wantKA: 30 * time.Second, wantC: 30 * time.Second},
		{
			name: "hold below 3s", hold: dur(2999 * time.Millisecond), wantHold: 2999 * time.Millisecond, wantKA: 999666666,
			problems: []Problem{perr(kindPeer, "p", "spec.holdTime", inv, "2.999s must be 0 or between 3s and 18h12m15s")},
		},
		{
			name: "hold above 16 bits of seconds", hold: dur(65536 * time.Second), wantHold: 65536 * time.Second, wantKA: 65536 * time.Second / 3,
			problems: []Problem{perr(kindPeer, "p", "spec.holdTime", inv, "18h12m16s must be 0 or between 3s and 18h12m15s")},
		},
		{
			name: "keepalive with hold 0", hold: dur(0), keepalive: dur(time.Second), wantKA: time.Second,
			problems: []Problem{perr(kindPeer, "p", "spec.keepaliveTime", inv, "1s must be 0 when holdTime is 0")},
		},
		{
			name: "keepalive equal to hold", hold: dur(10 * time.Second), keepalive: dur(10 * time.Second),
			wantHold: 10 * time.Second, wantKA: 10 * time.Second,
			problems: []Problem{perr(kindPeer, "p", "spec.keepaliveTime", inv, "10s must be more than 0 and less than holdTime (10s)")},
		},
		{
			name: "keepalive 0 with a hold time", keepalive: dur(0), wantHold: 90 * time.Second,
			problems: []Problem{perr(kindPeer, "p", "spec.keepaliveTime", inv, "0s must be more than 0 and less than holdTime (1m30s)")},
		},
		{
			name: "negative keepalive", keepalive: dur(-time.Second), wantHold: 90 * time.Second, wantKA: -time.Second,
			problems: []Problem{perr(kindPeer, "p", "spec.keepaliveTime", inv, "-1s must be more than 0 and less than holdTime (1m30s)")},
		},
		{
			name: "connect time too short", conn: dur(500 * time.Millisecond),
			wantHold: 90 * time.Second, wantKA: 30 * time.Second, wantC: 500 * time.Millisecond,
			problems: []Problem{perr(kindPeer, "p", "spec.connectTime", inv, "500ms must be between 1s and 18h12m15s")},
		},
		{
			name: "connect time too long", conn: dur(65536 * time.Second),
			wantHold: 90 * time.Second, wantKA: 30 * time.Second, wantC: 65536 * time.Second,
			problems: []Problem{perr(kindPeer, "p", "spec.connectTime", inv, "18h12m16s must be between 1s and 18h12m15s")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &v1beta1.BGPPeerSpec{HoldTime: tt.hold, KeepaliveTime: tt.keepalive, ConnectTime: tt.conn}
			hold, ka, conn, problems := peerTimers(o, spec)
			if hold != tt.wantHold || ka != tt.wantKA || conn != tt.wantC {
				t.Errorf("peerTimers = %v, %v, %v; want %v, %v, %v", hold, ka, conn, tt.wantHold, tt.wantKA, tt.wantC)
			}
			diffProblems(t, problems, tt.problems)
		})
	}
}

// TestPeerBFD covers the defaults and every limit of the BFD block, which
// bfd checks again because recorded versions bypass the API server's rules.
func TestPeerBFD(t *testing.T) {
	const inv = v1beta1.ReasonInvalid
	o := object{kindPeer, "p"}
	ms := time.Millisecond
	def := func(f func(*BFD)) *BFD {
		b := &BFD{ReceiveInterval: 300 * ms, TransmitInterval: 300 * ms, DetectMultiplier: 3}
		if f != nil {
			f(b)
		}
		return b
	}
	tests := []struct {
		name     string
		in       *v1beta1.BGPPeerBFD
		multihop bool
		want     *BFD
		problems []Problem
	}{
		{name: "absent is no BFD"},
		{name: "absent with ebgpMultiHop is still no BFD", multihop: true},
		{name: "empty block: 300ms × 3", in: &v1beta1.BGPPeerBFD{}, want: def(nil)},
		{name: "ebgpMultiHop makes it multihop", in: &v1beta1.BGPPeerBFD{}, multihop: true, want: def(func(b *BFD) { b.Multihop = true })},
		{name: "passive", in: &v1beta1.BGPPeerBFD{Passive: true}, want: def(func(b *BFD) { b.Passive = true })},
		{
			name: "the lab's 50ms × 3",
			in:   &v1beta1.BGPPeerBFD{ReceiveInterval: dur(50 * ms), TransmitInterval: dur(50 * ms), DetectMultiplier: ptr(int32(3))},
			want: def(func(b *BFD) { b.ReceiveInterval, b.TransmitInterval = 50*ms, 50*ms }),
		},
		{
			name: "receive and transmit are independent",
			in:   &v1beta1.BGPPeerBFD{ReceiveInterval: dur(20 * ms)},
			want: def(func(b *BFD) { b.ReceiveInterval = 20 * ms }),
		},
		{
			name: "lower bounds",
			in:   &v1beta1.BGPPeerBFD{ReceiveInterval: dur(10 * ms), TransmitInterval: dur(10 * ms), DetectMultiplier: ptr(int32(2))},
			want: def(func(b *BFD) { b.ReceiveInterval, b.TransmitInterval, b.DetectMultiplier = 10*ms, 10*ms, 2 }),
		},
		{
			name: "upper bounds",
			in:   &v1beta1.BGPPeerBFD{ReceiveInterval: dur(time.Minute), TransmitInterval: dur(time.Minute), DetectMultiplier: ptr(int32(255))},
			want: def(func(b *BFD) {
				b.ReceiveInterval, b.TransmitInterval, b.DetectMultiplier = time.Minute, time.Minute, 255
			}),
		},
		{
			name: "whole microseconds",
			in:   &v1beta1.BGPPeerBFD{TransmitInterval: dur(12345 * time.Microsecond)},
			want: def(func(b *BFD) { b.TransmitInterval = 12345 * time.Microsecond }),
		},
		{
			name:     "receive interval below 10ms",
			in:       &v1beta1.BGPPeerBFD{ReceiveInterval: dur(9999 * time.Microsecond)},
			problems: []Problem{perr(kindPeer, "p", "spec.bfd.receiveInterval", inv, "9.999ms must be between 10ms and 1m0s")},
		},
		{
			name:     "transmit interval above 60s",
			in:       &v1beta1.BGPPeerBFD{TransmitInterval: dur(time.Minute + time.Microsecond)},
			problems: []Problem{perr(kindPeer, "p", "spec.bfd.transmitInterval", inv, "1m0.000001s must be between 10ms and 1m0s")},
		},
		{
			name:     "negative interval",
			in:       &v1beta1.BGPPeerBFD{TransmitInterval: dur(-50 * ms)},
			problems: []Problem{perr(kindPeer, "p", "spec.bfd.transmitInterval", inv, "-50ms must be between 10ms and 1m0s")},
		},
		{
			name:     "part of a microsecond",
			in:       &v1beta1.BGPPeerBFD{ReceiveInterval: dur(50*ms + 500)},
			problems: []Problem{perr(kindPeer, "p", "spec.bfd.receiveInterval", inv, "50.0005ms is not a whole number of microseconds, the unit of BFD intervals")},
		},
		{
			name:     "multiplier 0",
			in:       &v1beta1.BGPPeerBFD{DetectMultiplier: ptr(int32(0))},
			problems: []Problem{perr(kindPeer, "p", "spec.bfd.detectMultiplier", inv, "0 must be between 2 and 255")},
		},
		{
			name:     "multiplier above 8 bits",
			in:       &v1beta1.BGPPeerBFD{DetectMultiplier: ptr(int32(256))},
			problems: []Problem{perr(kindPeer, "p", "spec.bfd.detectMultiplier", inv, "256 must be between 2 and 255")},
		},
		{
			name: "every error at once, in field order",
			in:   &v1beta1.BGPPeerBFD{ReceiveInterval: dur(ms), TransmitInterval: dur(time.Hour), DetectMultiplier: ptr(int32(-3))},
			problems: []Problem{
				perr(kindPeer, "p", "spec.bfd.receiveInterval", inv, "1ms must be between 10ms and 1m0s"),
				perr(kindPeer, "p", "spec.bfd.transmitInterval", inv, "1h0m0s must be between 10ms and 1m0s"),
				perr(kindPeer, "p", "spec.bfd.detectMultiplier", inv, "-3 must be between 2 and 255"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := bfd(o, tt.in, tt.multihop)
			diffProblems(t, problems, tt.problems)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("bfd (-want +got):\n%s", d)
			}
		})
	}
}

func TestPeerBecomesInvalid(t *testing.T) {
	good := modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
		s.PasswordSecret = &v1beta1.SecretReference{Name: "bgp"}
	})
	sec := []corev1.Secret{secret(installNS, "bgp", map[string]string{"password": "old"})}
	want := modPeerModel(peerModel("p", "192.0.2.1"), func(p *BGPPeer) { p.Password = "old" })

	c1 := mustFor(t, ClusterResources{BGPPeers: []v1beta1.BGPPeer{good}, Secrets: sec, InstallNamespace: installNS}, nil)

	// The Secret goes away. The last valid version is recorded in status,
	// which never holds a password, so it cannot stand in: the peer is out,
	// and says why. Its recorded version stays for when the Secret is back.
	c2, problems := forAfter(ClusterResources{BGPPeers: []v1beta1.BGPPeer{good}, InstallNamespace: installNS}, c1)
	diffProblems(t, problems, []Problem{
		perr(kindPeer, "p", "spec.passwordSecret", v1beta1.ReasonSecretNotFound, `Secret "portico-system/bgp" not found`),
		perr(kindPeer, "p", "status.lastValid", v1beta1.ReasonInvalid,
			`the last valid version (generation 0) cannot be used either: spec.passwordSecret: Secret "portico-system/bgp" not found`),
	})
	if got := c2.BGPPeer("p"); got != nil {
		t.Errorf("peer without its password in the model: %+v", got)
	}
	if got := c2.Decisions().BGPPeers["p"]; got == nil || got.Spec.PasswordSecret == nil {
		t.Errorf("recorded version = %+v, want the last valid one kept", got)
	}

	// The Secret is back and an invalid edit is made: the recorded version
	// stands in, with the password read again.
	bad := modPeer(good, func(s *v1beta1.BGPPeerSpec) { s.PeerASN = 0 })
	c3, problems := forAfter(ClusterResources{BGPPeers: []v1beta1.BGPPeer{bad}, Secrets: sec, InstallNamespace: installNS}, c2)
	diffProblems(t, problems, []Problem{
		lastValid(kindPeer, "p"),
		perr(kindPeer, "p", "spec.peerASN", v1beta1.ReasonInvalid, "0 is not an AS number (1 to 4294967295)"),
	})
	if d := cmp.Diff(want, c3.BGPPeer("p"), cmpOpts); d != "" {
		t.Errorf("kept peer (-want +got):\n%s", d)
	}

	// A valid edit replaces it.
	fixed := modPeer(good, func(s *v1beta1.BGPPeerSpec) { s.PeerASN = 65001 })
	c4 := mustFor(t, ClusterResources{BGPPeers: []v1beta1.BGPPeer{fixed}, Secrets: sec, InstallNamespace: installNS}, c3)
	if got := c4.BGPPeer("p"); got == nil || got.PeerASN != 65001 {
		t.Errorf("after the fix, peer = %+v, want peerASN 65001", got)
	}

	// Deleting it removes it, even while invalid.
	c5, _ := forAfter(ClusterResources{}, c3)
	if got := c5.BGPPeers(); len(got) != 0 {
		t.Errorf("deleted peer still in the model: %+v", got)
	}
}

func TestPeersShareSecretsAndAddresses(t *testing.T) {
	// Two peers may use one Secret, and the same router address (from
	// different nodes, say); both are valid, each with its own model.
	withPW := func(p v1beta1.BGPPeer) v1beta1.BGPPeer {
		return modPeer(p, func(s *v1beta1.BGPPeerSpec) { s.PasswordSecret = &v1beta1.SecretReference{Name: "bgp"} })
	}
	res := ClusterResources{
		BGPPeers: []v1beta1.BGPPeer{
			withPW(bgpPeer("rack-a", "192.0.2.1")),
			withPW(modPeer(bgpPeer("rack-b", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) { s.PeerASN = 64600 })),
		},
		Secrets:          []corev1.Secret{secret(installNS, "bgp", map[string]string{"password": "shared"})},
		InstallNamespace: installNS,
	}
	c := mustFor(t, res, nil)
	want := []*BGPPeer{
		modPeerModel(peerModel("rack-a", "192.0.2.1"), func(p *BGPPeer) { p.Password = "shared" }),
		modPeerModel(peerModel("rack-b", "192.0.2.1"), func(p *BGPPeer) { p.Password, p.PeerASN = "shared", 64600 }),
	}
	if d := cmp.Diff(want, c.BGPPeers(), cmpOpts); d != "" {
		t.Errorf("peers (-want +got):\n%s", d)
	}
}

func TestPeerSecretWithoutInstallNamespace(t *testing.T) {
	// Without InstallNamespace, a reference without a namespace finds only
	// Secrets without one, as hand-made snapshots have; never another
	// namespace's Secret of the same name.
	ref := modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
		s.PasswordSecret = &v1beta1.SecretReference{Name: "bgp"}
	})
	res := ClusterResources{
		BGPPeers: []v1beta1.BGPPeer{ref},
		Secrets:  []corev1.Secret{secret("elsewhere", "bgp", map[string]string{"password": "wrong"})},
	}
	_, problems := For(res)
	diffProblems(t, problems, []Problem{
		perr(kindPeer, "p", "spec.passwordSecret", v1beta1.ReasonSecretNotFound, `Secret "/bgp" not found`),
	})
	res.Secrets = append(res.Secrets, secret("", "bgp", map[string]string{"password": "right"}))
	c := mustFor(t, res, nil)
	if got := c.BGPPeer("p").Password; got != "right" {
		t.Errorf("password = %q, want %q", got, "right")
	}
}

func TestPeerDoesNotAliasObject(t *testing.T) {
	in := modPeer(bgpPeer("p", "192.0.2.1"), func(s *v1beta1.BGPPeerSpec) {
		s.HoldTime = dur(9 * time.Second)
		s.NodeSelectors = []metav1.LabelSelector{labelSelector("rack", "a")}
	})
	c := mustFor(t, ClusterResources{BGPPeers: []v1beta1.BGPPeer{in}}, nil)
	in.Spec.HoldTime.Duration = time.Hour
	in.Spec.NodeSelectors[0].MatchLabels["rack"] = "z"
	p := c.BGPPeer("p")
	if p.HoldTime != 9*time.Second || p.NodeSelectors[0].String() != "rack=a" {
		t.Errorf("the model changed with the object it was built from: %+v", p)
	}
}
