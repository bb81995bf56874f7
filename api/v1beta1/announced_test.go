package v1beta1_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// The messages users have read since issue 6 keep their wording, and each
// parses back into the fields it was rendered from.
func TestAnnouncedMessage(t *testing.T) {
	v4, v6 := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7")
	for _, tt := range []struct {
		name string
		a    v1beta1.AnnouncedMessage
		msg  string
	}{{
		name: "announced on any interface",
		a:    v1beta1.AnnouncedMessage{IP: v4, Announced: true, Node: "node-1", Method: "ARP/NDP"},
		msg:  "203.0.113.7 is announced by node node-1 (ARP/NDP on any interface on its subnet)",
	}, {
		name: "announced on named interfaces",
		a:    v1beta1.AnnouncedMessage{IP: v6, Announced: true, Node: "node-2", Method: "ARP/NDP", Interfaces: []string{"eth0", "eth1"}},
		msg:  "2001:db8::7 is announced by node node-2 (ARP/NDP on eth0, eth1)",
	}, {
		name: "announced over BGP",
		a:    v1beta1.AnnouncedMessage{IP: v4, Announced: true, Node: "node-3", Method: v1beta1.MethodBGP},
		msg:  "203.0.113.7 is announced over BGP by every eligible node, node node-3 among them",
	}, {
		name: "elected node without an interface",
		a:    v1beta1.AnnouncedMessage{IP: v4, Node: "node-1", Why: "no Ethernet interface has a subnet containing it"},
		msg:  "203.0.113.7 is not announced: node node-1 is elected to announce it, but no Ethernet interface has a subnet containing it on node node-1",
	}, {
		name: "no node may",
		a:    v1beta1.AnnouncedMessage{IP: v6, Why: "no alive node is eligible"},
		msg:  "2001:db8::7 is not announced: no alive node is eligible",
	}, {
		name: "a why that starts like the elected form is kept whole",
		a:    v1beta1.AnnouncedMessage{IP: v4, Why: "node x is elected to announce it, but y on node z"},
		msg:  "203.0.113.7 is not announced: node x is elected to announce it, but y on node z",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.String(); got != tt.msg {
				t.Errorf("String() = %q, want %q", got, tt.msg)
			}
			got, err := v1beta1.ParseAnnouncedMessage(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.a, got, addrCmp); d != "" {
				t.Errorf("ParseAnnouncedMessage (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseAnnouncedMessageErrors(t *testing.T) {
	for _, tt := range []struct{ msg, want string }{
		{"", "neither"},
		{"node-1 is announced by node node-1 (ARP/NDP on eth0)", `ParseAddr("node-1")`},
		{"192.0.2.1 is announced by node node-1", "want"},
		{"192.0.2.1 is announced by node node 1 (ARP/NDP on eth0)", "want"},
		{"192.0.2.1 is announced by node node-1 (ARP/NDP)", `"(<method> on <interfaces>)"`},
		{"x is not announced: why", `ParseAddr("x")`},
	} {
		_, err := v1beta1.ParseAnnouncedMessage(tt.msg)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "announced message") {
			t.Errorf("ParseAnnouncedMessage(%q) = %v, want an error containing %q", tt.msg, err, tt.want)
		}
	}
}

func TestAnnouncingNode(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	svc := &corev1.Service{Status: corev1.ServiceStatus{Conditions: []metav1.Condition{{
		Type: v1beta1.ServiceConditionAnnouncedIPv4, Status: metav1.ConditionTrue,
		Message: v1beta1.AnnouncedMessage{IP: v4, Announced: true, Node: "node-1", Method: "ARP/NDP"}.String(),
	}, {
		Type: v1beta1.ServiceConditionAnnouncedIPv6, Status: metav1.ConditionFalse,
		Message: v1beta1.AnnouncedMessage{IP: v6, Node: "node-2", Why: "no interface"}.String(),
	}}}}
	for _, tt := range []struct {
		ip   netip.Addr
		want string
	}{
		{v4, "node-1"},
		{v6, ""},                               // not True
		{netip.MustParseAddr("192.0.2.9"), ""}, // another address of the family
	} {
		if got := v1beta1.AnnouncingNode(svc, tt.ip); got != tt.want {
			t.Errorf("AnnouncingNode(%s) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}

// FuzzParseAnnouncedMessage: parsing never panics, and whatever parses renders
// back to the same message (so the parser accepts nothing Message would not
// write, except "any interface on its subnet" spelled as a list).
func FuzzParseAnnouncedMessage(f *testing.F) {
	f.Add("203.0.113.7 is announced by node node-1 (ARP/NDP on any interface on its subnet)")
	f.Add("2001:db8::7 is announced by node node-2 (ARP/NDP on eth0, eth1)")
	f.Add("203.0.113.7 is not announced: node node-1 is elected to announce it, but no Ethernet interface has a subnet containing it on node node-1")
	f.Add("2001:db8::7 is not announced: no alive node is eligible")
	f.Add("203.0.113.7 is announced over BGP by every eligible node, node node-3 among them")
	f.Add("203.0.113.7 is announced over BGP by every eligible node, node  among them among them")
	f.Add("1.2.3.4 is announced by node n (a on b on c)") // " on " twice: the first splits
	f.Fuzz(func(t *testing.T, msg string) {
		a, err := v1beta1.ParseAnnouncedMessage(msg)
		if err != nil {
			return
		}
		again, err := v1beta1.ParseAnnouncedMessage(a.String())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose message %q does not parse: %v", msg, a, a.String(), err)
		}
		if d := cmp.Diff(a, again, addrCmp); d != "" {
			t.Errorf("%q: parse, render, parse differs (-first +second):\n%s", msg, d)
		}
	})
}
