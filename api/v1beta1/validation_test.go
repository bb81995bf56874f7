package v1beta1_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/kubeapi"
)

func pool(addrs ...string) *v1beta1.IPAddressPool {
	return &v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "pool-"},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: addrs},
	}
}

func poolWith(mutate func(*v1beta1.IPAddressPoolSpec)) *v1beta1.IPAddressPool {
	p := pool("192.0.2.0/24")
	mutate(&p.Spec)
	return p
}

func l2(spec v1beta1.L2AdvertisementSpec) *v1beta1.L2Advertisement {
	return &v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{GenerateName: "l2-"}, Spec: spec}
}

// peer returns a valid eBGP peer changed by mutate.
func peer(mutate func(*v1beta1.BGPPeerSpec)) *v1beta1.BGPPeer {
	p := &v1beta1.BGPPeer{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "peer-"},
		Spec:       v1beta1.BGPPeerSpec{MyASN: 64512, PeerASN: 64513, PeerAddress: "192.0.2.1"},
	}
	if mutate != nil {
		mutate(&p.Spec)
	}
	return p
}

func bgpAdv(spec v1beta1.BGPAdvertisementSpec) *v1beta1.BGPAdvertisement {
	return &v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{GenerateName: "bgpadv-"}, Spec: spec}
}

// raw builds an object the Go types cannot express, such as a malformed
// duration or a null list.
func raw(kind string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(v1beta1.GroupVersion.String())
	u.SetKind(kind)
	u.SetGenerateName(strings.ToLower(kind) + "-")
	return u
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// TestAdmissionRejects creates invalid objects (dry run) and checks that the
// API server refuses each with a message naming the field and the fix.
func TestAdmissionRejects(t *testing.T) {
	kubeapi.NeedServer(t, k8s != nil, noServer)
	tests := []struct {
		name string
		obj  client.Object
		want string // a fragment of the error
	}{
		// IPAddressPool
		{"empty addresses", &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{GenerateName: "pool-"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{}}}, "spec.addresses: Invalid value: 0: spec.addresses in body should have at least 1 items"},
		{"no addresses", pool(), "spec.addresses: Required value"},
		{"no spec", raw("IPAddressPool", nil), "spec: Required value"},
		{"prefix too long", pool("192.0.2.0/33"), `spec.addresses: "192.0.2.0/33" is not a CIDR`},
		{"not an address", pool("pool-a"), `spec.addresses: "pool-a" is not a CIDR`},
		{"bare address", pool("192.0.2.7"), `"192.0.2.7" is not a CIDR (192.0.2.0/24, 2001:db8::/120) or a range`},
		{"IPv4 octet out of range", pool("192.0.2.256/32"), `"192.0.2.256/32" is not a CIDR`},
		{"leading zero", pool("192.0.2.010/32"), `"192.0.2.010/32" is not a CIDR`},
		{"zone", pool("fe80::1%eth0/128"), `"fe80::1%eth0/128" is not a CIDR`},
		{"IPv4-mapped IPv6", pool("::ffff:192.0.2.0/120"), `"::ffff:192.0.2.0/120" is not a CIDR`},
		{"range of three", pool("192.0.2.1-192.0.2.5-192.0.2.9"), `"192.0.2.1-192.0.2.5-192.0.2.9" is not a CIDR`},
		{"range end is a CIDR", pool("192.0.2.1-192.0.2.0/24"), `"192.0.2.1-192.0.2.0/24" is not a CIDR`},
		{"range end with zone", pool("fe80::1-fe80::9%eth0"), `"fe80::1-fe80::9%eth0" is not a CIDR`},
		{"host bits set", pool("192.0.2.9/24"), `spec.addresses: "192.0.2.9/24" has bits set after the prefix length`},
		{"IPv6 host bits set", pool("2001:db8::1/64"), `"2001:db8::1/64" has bits set after the prefix length`},
		{"reversed IPv4 range", pool("192.0.2.20-192.0.2.10"), `spec.addresses: range "192.0.2.20-192.0.2.10" starts after it ends`},
		{"reversed IPv4 range across octets", pool("10.0.1.0-10.0.0.255"), `range "10.0.1.0-10.0.0.255" starts after it ends`},
		{"reversed IPv4 range, not lexically", pool("10.0.0.0-9.255.255.255"), `range "10.0.0.0-9.255.255.255" starts after it ends`},
		{"mixed-family range", pool("192.0.2.1-2001:db8::1"), `spec.addresses: range "192.0.2.1-2001:db8::1" mixes IPv4 and IPv6`},
		{"whole IPv4 space", pool("0.0.0.0/0"), `spec.addresses: "0.0.0.0/0" includes addresses that are not unicast`},
		{"whole IPv6 space", pool("::/0"), `spec.addresses: "::/0" includes addresses that are not unicast`},
		{"unspecified", pool("0.0.0.0/32"), `"0.0.0.0/32" includes addresses that are not unicast`},
		{"loopback", pool("127.0.0.0/24"), `"127.0.0.0/24" includes addresses that are not unicast`},
		{"IPv6 loopback", pool("::1/128"), `"::1/128" includes addresses that are not unicast`},
		{"link-local", pool("169.254.0.0/16"), `"169.254.0.0/16" includes addresses that are not unicast`},
		{"IPv6 link-local", pool("fe80::/64"), `"fe80::/64" includes addresses that are not unicast`},
		{"multicast", pool("239.1.0.0/16"), `"239.1.0.0/16" includes addresses that are not unicast`},
		{"IPv6 multicast", pool("ff02::/16"), `"ff02::/16" includes addresses that are not unicast`},
		{"broadcast", pool("255.255.255.255/32"), `"255.255.255.255/32" includes addresses that are not unicast`},
		{"CIDR around multicast", pool("192.0.0.0/2"), `"192.0.0.0/2" includes addresses that are not unicast`},
		{"CIDR around IPv6 link-local", pool("fe00::/7"), `"fe00::/7" includes addresses that are not unicast`},
		{"range ending in loopback", pool("126.255.255.0-127.0.0.5"), `range "126.255.255.0-127.0.0.5" starts or ends at an address that is not unicast`},
		{"range starting unspecified", pool("0.0.0.0-0.0.0.9"), `range "0.0.0.0-0.0.0.9" starts or ends at an address that is not unicast`},
		{"duplicate entry", pool("192.0.2.0/24", "192.0.2.0/24"), `spec.addresses[1]: Duplicate value: "192.0.2.0/24"`},
		{"entry too long", pool(strings.Repeat("1", 101)), "spec.addresses[0]: Too long"},
		{"negative priority", poolWith(func(s *v1beta1.IPAddressPoolSpec) {
			s.AllocateTo = &v1beta1.ServiceAllocation{Priority: ptr.To[int32](-1)}
		}), "spec.allocateTo.priority in body should be greater than or equal to 0"},
		{"namespace not a DNS label", poolWith(func(s *v1beta1.IPAddressPoolSpec) {
			s.AllocateTo = &v1beta1.ServiceAllocation{Namespaces: []string{"Shop_Prod"}}
		}), `spec.allocateTo.namespaces: "Shop_Prod" is not a namespace name`},

		// L2Advertisement
		{"interface with slash", l2(v1beta1.L2AdvertisementSpec{Interfaces: []string{"eth0/1"}}), `spec.interfaces: "eth0/1" is not a Linux interface name`},
		{"interface with space", l2(v1beta1.L2AdvertisementSpec{Interfaces: []string{"eth 0"}}), `spec.interfaces: "eth 0" is not a Linux interface name`},
		{"interface alias", l2(v1beta1.L2AdvertisementSpec{Interfaces: []string{"eth0:1"}}), `spec.interfaces: "eth0:1" is not a Linux interface name`},
		{"interface dot", l2(v1beta1.L2AdvertisementSpec{Interfaces: []string{".."}}), `spec.interfaces: ".." is not a Linux interface name`},
		{"interface too long", l2(v1beta1.L2AdvertisementSpec{Interfaces: []string{"enp3s0f0np0vlan1"}}), "spec.interfaces[0]: Too long: may not be more than 15"},
		{"interface too many bytes", l2(v1beta1.L2AdvertisementSpec{Interfaces: []string{"ethéééééééé"}}), `spec.interfaces: "ethéééééééé" is not a Linux interface name (1 to 15 bytes`},
		{"empty interface", l2(v1beta1.L2AdvertisementSpec{Interfaces: []string{""}}), "spec.interfaces[0] in body should be at least 1 chars long"},
		{"L2 pool name", l2(v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"Pool_A"}}), `spec.ipAddressPools: "Pool_A" is not an IPAddressPool name`},

		// BGPPeer
		{"ASN 0", peer(func(s *v1beta1.BGPPeerSpec) { s.MyASN = 0 }), "spec.myASN in body should be greater than or equal to 1"},
		{"ASN above 32 bits", peer(func(s *v1beta1.BGPPeerSpec) { s.PeerASN = 1 << 32 }), "spec.peerASN in body should be less than or equal to 4294967295"},
		{"peer address a name", peer(func(s *v1beta1.BGPPeerSpec) { s.PeerAddress = "tor-1" }), `spec.peerAddress: "tor-1" is not the unicast IPv4 or IPv6 address of a router`},
		{"peer address with zone", peer(func(s *v1beta1.BGPPeerSpec) { s.PeerAddress = "fe80::1%eth0" }), `spec.peerAddress: "fe80::1%eth0" is not`},
		{"peer address multicast", peer(func(s *v1beta1.BGPPeerSpec) { s.PeerAddress = "224.0.0.5" }), `spec.peerAddress: "224.0.0.5" is not`},
		{"peer address unspecified", peer(func(s *v1beta1.BGPPeerSpec) { s.PeerAddress = "::" }), `spec.peerAddress: "::" is not`},
		{"peer port 0 via raw", raw("BGPPeer", map[string]any{"myASN": 1, "peerASN": 2, "peerAddress": "192.0.2.1", "peerPort": 0}), "spec.peerPort in body should be greater than or equal to 1"},
		{"peer port above 65535", peer(func(s *v1beta1.BGPPeerSpec) { s.PeerPort = 70000 }), "spec.peerPort in body should be less than or equal to 65535"},
		{"source address bad", peer(func(s *v1beta1.BGPPeerSpec) { s.SourceAddress = "192.0.2" }), `spec.sourceAddress: "192.0.2" is not a unicast IPv4 or IPv6 address`},
		{"source address other family", peer(func(s *v1beta1.BGPPeerSpec) { s.SourceAddress = "2001:db8::2" }), "spec.sourceAddress must be of the same IP family as spec.peerAddress"},
		{"router ID IPv6", peer(func(s *v1beta1.BGPPeerSpec) { s.RouterID = "2001:db8::1" }), `spec.routerID: "2001:db8::1" is not a router ID`},
		{"router ID zero", peer(func(s *v1beta1.BGPPeerSpec) { s.RouterID = "0.0.0.0" }), `spec.routerID: "0.0.0.0" is not a router ID`},
		{"hold time 2s", peer(func(s *v1beta1.BGPPeerSpec) { s.HoldTime = dur(2 * time.Second) }), "spec.holdTime: 2s is not a valid BGP hold time; use 0, or 3s to 65535s"},
		{"hold time above 16 bits", peer(func(s *v1beta1.BGPPeerSpec) { s.HoldTime = dur(65536 * time.Second) }), "spec.holdTime: 18h12m16s is not a valid BGP hold time"},
		{"hold time negative", peer(func(s *v1beta1.BGPPeerSpec) { s.HoldTime = dur(-3 * time.Second) }), `spec.holdTime: "-3s" is not a duration`},
		{"hold time not a duration", raw("BGPPeer", map[string]any{"myASN": 1, "peerASN": 2, "peerAddress": "192.0.2.1", "holdTime": "90"}), `spec.holdTime: "90" is not a duration such as 90s`},
		{"keepalive equals hold", peer(func(s *v1beta1.BGPPeerSpec) { s.HoldTime, s.KeepaliveTime = dur(9*time.Second), dur(9*time.Second) }), "spec.keepaliveTime must be more than 0 and less than spec.holdTime"},
		{"keepalive above default hold", peer(func(s *v1beta1.BGPPeerSpec) { s.KeepaliveTime = dur(2 * time.Minute) }), "less than spec.holdTime (90s when unset)"},
		{"keepalive 0 with hold", peer(func(s *v1beta1.BGPPeerSpec) { s.HoldTime, s.KeepaliveTime = dur(9*time.Second), dur(0) }), "spec.keepaliveTime must be more than 0"},
		{"keepalive with hold 0", peer(func(s *v1beta1.BGPPeerSpec) { s.HoldTime, s.KeepaliveTime = dur(0), dur(3*time.Second) }), "spec.keepaliveTime must be 0 or unset when spec.holdTime is 0"},
		{"keepalive not a duration", raw("BGPPeer", map[string]any{"myASN": 1, "peerASN": 2, "peerAddress": "192.0.2.1", "keepaliveTime": "thirty seconds"}), `spec.keepaliveTime: "thirty seconds" is not a duration`},
		{"connect time 500ms", peer(func(s *v1beta1.BGPPeerSpec) { s.ConnectTime = dur(500 * time.Millisecond) }), "spec.connectTime: 500ms is out of range; use 1s to 65535s"},
		{"password secret name", peer(func(s *v1beta1.BGPPeerSpec) { s.PasswordSecret = &v1beta1.SecretReference{Name: "TOR_Password"} }), `spec.passwordSecret.name: "TOR_Password" is not a Secret name`},
		{"password secret namespace", peer(func(s *v1beta1.BGPPeerSpec) {
			s.PasswordSecret = &v1beta1.SecretReference{Name: "tor", Namespace: "kube.system"}
		}), `spec.passwordSecret.namespace: "kube.system" is not a namespace name`},

		{"BFD receive interval 9ms", peer(func(s *v1beta1.BGPPeerSpec) { s.BFD = &v1beta1.BGPPeerBFD{ReceiveInterval: dur(9 * time.Millisecond)} }), "spec.bfd.receiveInterval: 9ms is out of range; use 10ms to 60s"},
		{"BFD receive interval above 60s", peer(func(s *v1beta1.BGPPeerSpec) {
			s.BFD = &v1beta1.BGPPeerBFD{ReceiveInterval: dur(time.Minute + time.Millisecond)}
		}), "spec.bfd.receiveInterval: 1m0.001s is out of range; use 10ms to 60s"},
		{"BFD receive interval 0", peer(func(s *v1beta1.BGPPeerSpec) { s.BFD = &v1beta1.BGPPeerBFD{ReceiveInterval: dur(0)} }), "spec.bfd.receiveInterval: 0s is out of range"},
		{"BFD receive interval negative", peer(func(s *v1beta1.BGPPeerSpec) {
			s.BFD = &v1beta1.BGPPeerBFD{ReceiveInterval: dur(-50 * time.Millisecond)}
		}), `spec.bfd.receiveInterval: "-50ms" is not a duration such as 300ms`},
		{"BFD receive interval not a duration", raw("BGPPeer", map[string]any{"myASN": 1, "peerASN": 2, "peerAddress": "192.0.2.1", "bfd": map[string]any{"receiveInterval": "300"}}), `spec.bfd.receiveInterval: "300" is not a duration such as 300ms`},
		{"BFD transmit interval 9ms", peer(func(s *v1beta1.BGPPeerSpec) { s.BFD = &v1beta1.BGPPeerBFD{TransmitInterval: dur(9 * time.Millisecond)} }), "spec.bfd.transmitInterval: 9ms is out of range; use 10ms to 60s"},
		{"BFD transmit interval above 60s", peer(func(s *v1beta1.BGPPeerSpec) { s.BFD = &v1beta1.BGPPeerBFD{TransmitInterval: dur(2 * time.Minute)} }), "spec.bfd.transmitInterval: 2m0s is out of range; use 10ms to 60s"},
		{"BFD transmit interval not a duration", raw("BGPPeer", map[string]any{"myASN": 1, "peerASN": 2, "peerAddress": "192.0.2.1", "bfd": map[string]any{"transmitInterval": "fast"}}), `spec.bfd.transmitInterval: "fast" is not a duration such as 300ms`},
		{"BFD detect multiplier 1", peer(func(s *v1beta1.BGPPeerSpec) { s.BFD = &v1beta1.BGPPeerBFD{DetectMultiplier: ptr.To[int32](1)} }), "spec.bfd.detectMultiplier in body should be greater than or equal to 2"},
		{"BFD detect multiplier 0 via raw", raw("BGPPeer", map[string]any{"myASN": 1, "peerASN": 2, "peerAddress": "192.0.2.1", "bfd": map[string]any{"detectMultiplier": 0}}), "spec.bfd.detectMultiplier in body should be greater than or equal to 2"},
		{"BFD detect multiplier 256", peer(func(s *v1beta1.BGPPeerSpec) { s.BFD = &v1beta1.BGPPeerBFD{DetectMultiplier: ptr.To[int32](256)} }), "spec.bfd.detectMultiplier in body should be less than or equal to 255"},
		{"BFD passive not a bool", raw("BGPPeer", map[string]any{"myASN": 1, "peerASN": 2, "peerAddress": "192.0.2.1", "bfd": map[string]any{"passive": "yes"}}), "spec.bfd.passive: Invalid value"},

		// BGPAdvertisement
		{"aggregation 33", bgpAdv(v1beta1.BGPAdvertisementSpec{AggregationLength: ptr.To[int32](33)}), "spec.aggregationLength in body should be less than or equal to 32"},
		{"aggregation negative", bgpAdv(v1beta1.BGPAdvertisementSpec{AggregationLength: ptr.To[int32](-1)}), "spec.aggregationLength in body should be greater than or equal to 0"},
		{"IPv6 aggregation 129", bgpAdv(v1beta1.BGPAdvertisementSpec{AggregationLengthV6: ptr.To[int32](129)}), "spec.aggregationLengthV6 in body should be less than or equal to 128"},
		{"local pref negative", bgpAdv(v1beta1.BGPAdvertisementSpec{LocalPref: ptr.To[int64](-1)}), "spec.localPref in body should be greater than or equal to 0"},
		{"local pref above 32 bits", bgpAdv(v1beta1.BGPAdvertisementSpec{LocalPref: ptr.To[int64](1 << 32)}), "spec.localPref in body should be less than or equal to 4294967295"},
		{"community above 16 bits", bgpAdv(v1beta1.BGPAdvertisementSpec{Communities: []string{"65536:1"}}), `spec.communities: "65536:1" is not a BGP community; write a:b with a and b from 0 to 65535`},
		{"community one number", bgpAdv(v1beta1.BGPAdvertisementSpec{Communities: []string{"65000"}}), `spec.communities: "65000" is not a BGP community`},
		{"community negative", bgpAdv(v1beta1.BGPAdvertisementSpec{Communities: []string{"-1:100"}}), `spec.communities: "-1:100" is not a BGP community`},
		{"misspelt well-known community", bgpAdv(v1beta1.BGPAdvertisementSpec{Communities: []string{"no-exports"}}), `"no-exports" is not a BGP community; write a:b with a and b from 0 to 65535 (65000:100), large:a:b:c (large:65000:1:2), or a well-known name (no-export, `},
		{"well-known community upper case", bgpAdv(v1beta1.BGPAdvertisementSpec{Communities: []string{"NO_EXPORT"}}), `"NO_EXPORT" is not a BGP community`},
		{"large community of two", bgpAdv(v1beta1.BGPAdvertisementSpec{Communities: []string{"large:1:2"}}), `spec.communities: "large:1:2" is not a large community; write large:a:b:c`},
		{"large community above 32 bits", bgpAdv(v1beta1.BGPAdvertisementSpec{Communities: []string{"large:4294967296:1:1"}}), `"large:4294967296:1:1" is not a large community`},
		{"duplicate community", bgpAdv(v1beta1.BGPAdvertisementSpec{Communities: []string{"65000:1", "65000:1"}}), `spec.communities[1]: Duplicate value: "65000:1"`},
		{"peer name", bgpAdv(v1beta1.BGPAdvertisementSpec{Peers: []string{"ToR 1"}}), `spec.peers: "ToR 1" is not a BGPPeer name`},
		{"BGP pool name", bgpAdv(v1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"-pool"}}), `spec.ipAddressPools: "-pool" is not an IPAddressPool name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tt.obj, client.DryRunAll)
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tt.want)
			}
			t.Log(err)
			if !apierrors.IsInvalid(err) {
				t.Errorf("error is %v (reason %s), want Invalid", err, apierrors.ReasonForError(err))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not contain %q:\n%v", tt.want, err)
			}
		})
	}
}

// TestAdmissionAccepts creates valid objects for real and checks what the
// API server stored, defaults included.
func TestAdmissionAccepts(t *testing.T) {
	kubeapi.NeedServer(t, k8s != nil, noServer)
	ctx := context.Background()
	create := func(t *testing.T, obj client.Object) {
		t.Helper()
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatalf("refused: %v", err)
		}
		t.Cleanup(func() {
			if err := k8s.Delete(ctx, obj); err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("pools", func(t *testing.T) {
		for _, addrs := range [][]string{
			{"192.0.2.0/24"},
			{"198.51.100.7/32", "203.0.113.0/28"},
			{"192.0.2.10-192.0.2.20"},
			{"192.0.2.10 - 192.0.2.20"},
			{"192.0.2.5-192.0.2.5"},
			{"10.0.0.255-10.0.1.0"},
			{"9.255.255.255-10.0.0.0"},
			{"240.0.0.0/8"},
			// A range around a whole block passes CEL; the config package
			// refuses it on the pool (Ready=False, NotUnicast).
			{"126.0.0.0-128.0.0.0"},
			{"2001:db8::/64"},
			{"2001:db8::7/128"},
			{"2001:DB8:0:0::/64"},
			{"2001:db8::10-2001:db8::ff"},
			{"64:ff9b::192.0.2.1-64:ff9b::192.0.2.9"},
			{"fd00::/120", "192.0.2.0/24", "198.51.100.1-198.51.100.3"},
			// CEL cannot order IPv6 addresses; the config package reports
			// this reversed range on the pool (Ready=False, Invalid).
			{"2001:db8::ff-2001:db8::10"},
		} {
			t.Run(strings.Join(addrs, ","), func(t *testing.T) {
				p := pool(addrs...)
				create(t, p)
				if p.Spec.AutoAssign == nil || !*p.Spec.AutoAssign {
					t.Errorf("autoAssign = %v, want the default true", p.Spec.AutoAssign)
				}
				if diff := cmp.Diff(addrs, p.Spec.Addresses); diff != "" {
					t.Errorf("addresses changed (-sent +stored):\n%s", diff)
				}
			})
		}
	})

	t.Run("pool with every field", func(t *testing.T) {
		p := poolWith(func(s *v1beta1.IPAddressPoolSpec) {
			s.AutoAssign = ptr.To(false)
			s.AvoidBuggyIPs = true
			s.Disabled = true
			s.AllocateTo = &v1beta1.ServiceAllocation{
				Priority:           ptr.To[int32](0),
				Namespaces:         []string{"shop", "kube-system", "a"},
				NamespaceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"team": "web"}}},
				ServiceSelectors:   []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"edge"}}}}},
			}
		})
		create(t, p)
		if *p.Spec.AutoAssign {
			t.Error("autoAssign false was replaced by the default")
		}
	})

	t.Run("L2 advertisements", func(t *testing.T) {
		empty := l2(v1beta1.L2AdvertisementSpec{})
		create(t, empty)
		full := l2(v1beta1.L2AdvertisementSpec{
			IPAddressPools:         []string{"pool-a", "lan.v6"},
			IPAddressPoolSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"l2": "yes"}}},
			NodeSelectors:          []metav1.LabelSelector{{MatchLabels: map[string]string{"kubernetes.io/hostname": "node-1"}}},
			Interfaces:             []string{"eth0", "bond0.100", "br-lan", "enp3s0f0np0", "wlp0s20f3_abcd"},
		})
		create(t, full)
	})

	t.Run("BGP peers", func(t *testing.T) {
		for name, p := range map[string]*v1beta1.BGPPeer{
			"minimal": peer(nil),
			"IPv6 with IPv6 source": peer(func(s *v1beta1.BGPPeerSpec) {
				s.PeerAddress, s.SourceAddress, s.RouterID = "2001:db8::1", "2001:db8::2", "192.0.2.9"
			}),
			"largest ASNs and port":        peer(func(s *v1beta1.BGPPeerSpec) { s.MyASN, s.PeerASN, s.PeerPort = 4294967295, 4294967295, 65535 }),
			"hold 0 without keepalive":     peer(func(s *v1beta1.BGPPeerSpec) { s.HoldTime = dur(0) }),
			"hold 0 and keepalive 0":       peer(func(s *v1beta1.BGPPeerSpec) { s.HoldTime, s.KeepaliveTime = dur(0), dur(0) }),
			"hold 3s keepalive 1s":         peer(func(s *v1beta1.BGPPeerSpec) { s.HoldTime, s.KeepaliveTime = dur(3*time.Second), dur(time.Second) }),
			"hold 65535s":                  peer(func(s *v1beta1.BGPPeerSpec) { s.HoldTime = dur(65535 * time.Second) }),
			"keepalive below default hold": peer(func(s *v1beta1.BGPPeerSpec) { s.KeepaliveTime = dur(30 * time.Second) }),
			"BFD with defaults":            peer(func(s *v1beta1.BGPPeerSpec) { s.BFD = &v1beta1.BGPPeerBFD{} }),
			"BFD at the lower bounds": peer(func(s *v1beta1.BGPPeerSpec) {
				s.BFD = &v1beta1.BGPPeerBFD{ReceiveInterval: dur(10 * time.Millisecond), TransmitInterval: dur(10 * time.Millisecond), DetectMultiplier: ptr.To[int32](2)}
			}),
			"BFD at the upper bounds": peer(func(s *v1beta1.BGPPeerSpec) {
				s.BFD = &v1beta1.BGPPeerBFD{ReceiveInterval: dur(time.Minute), TransmitInterval: dur(time.Minute), DetectMultiplier: ptr.To[int32](255), Passive: true}
			}),
			"BFD multihop, the lab's timers": peer(func(s *v1beta1.BGPPeerSpec) {
				s.EBGPMultiHop = true
				s.BFD = &v1beta1.BGPPeerBFD{ReceiveInterval: dur(50 * time.Millisecond), TransmitInterval: dur(50 * time.Millisecond), DetectMultiplier: ptr.To[int32](3)}
			}),
			"everything": peer(func(s *v1beta1.BGPPeerSpec) {
				s.HoldTime, s.KeepaliveTime, s.ConnectTime = dur(90*time.Second), dur(30*time.Second), dur(10*time.Second)
				s.EBGPMultiHop, s.GracefulRestart = true, true
				s.PasswordSecret = &v1beta1.SecretReference{Name: "tor-1.password", Namespace: "portico-system"}
				s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "r1"}}}
			}),
		} {
			t.Run(name, func(t *testing.T) {
				create(t, p)
				if p.Spec.PeerPort == 0 {
					t.Error("peerPort not defaulted")
				}
				if name == "minimal" && p.Spec.PeerPort != 179 {
					t.Errorf("peerPort = %d, want the default 179", p.Spec.PeerPort)
				}
				// BFD's defaults live in the config package alone: the API
				// server stores an absent block as absent and an empty one
				// as empty.
				if name == "minimal" && p.Spec.BFD != nil {
					t.Errorf("bfd = %+v, want it absent", p.Spec.BFD)
				}
				if name == "BFD with defaults" && (p.Spec.BFD == nil || *p.Spec.BFD != (v1beta1.BGPPeerBFD{})) {
					t.Errorf("bfd = %+v, want the empty block as sent", p.Spec.BFD)
				}
			})
		}
	})

	t.Run("BGP advertisements", func(t *testing.T) {
		empty := bgpAdv(v1beta1.BGPAdvertisementSpec{})
		create(t, empty)
		if got := empty.Spec.AggregationLength; got == nil || *got != 32 {
			t.Errorf("aggregationLength = %v, want the default 32", got)
		}
		if got := empty.Spec.AggregationLengthV6; got == nil || *got != 128 {
			t.Errorf("aggregationLengthV6 = %v, want the default 128", got)
		}
		full := bgpAdv(v1beta1.BGPAdvertisementSpec{
			IPAddressPools:      []string{"pool-a"},
			Peers:               []string{"tor-1", "tor-2"},
			AggregationLength:   ptr.To[int32](0),
			AggregationLengthV6: ptr.To[int32](64),
			LocalPref:           ptr.To[int64](4294967295),
			Communities: []string{
				"0:0", "65000:100", "65535:65535",
				"no-export", "no-advertise", "no-export-subconfed", "local-as", "no-peer",
				"blackhole", "graceful-shutdown", "accept-own", "llgr-stale", "no-llgr",
				"large:0:0:0", "large:4294967295:4294967295:4294967295", "large:65000:1:2",
			},
		})
		create(t, full)
		if got := *full.Spec.AggregationLength; got != 0 {
			t.Errorf("aggregationLength 0 was replaced by %d", got)
		}
	})
}
