package probe

import (
	"errors"
	"net/netip"
	"testing"
)

func TestRefuse(t *testing.T) {
	ranges := Ranges{
		Service: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("fd00:10:96::/112")},
		Pod:     []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		Node:    []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")},
	}
	tests := []struct {
		addr   string
		rule   Rule
		prefix string
		msg    string
	}{
		{"10.1.0.32", "", "", ""},
		{"2001:db8::32", "", "", ""},
		{"198.51.100.7", "", "", ""},
		{"0.0.0.0", RuleUnspecified, "", "target 0.0.0.0 refused: unspecified address"},
		{"::", RuleUnspecified, "", ""},
		{"127.0.0.1", RuleLoopback, "", "target 127.0.0.1 refused: loopback address"},
		{"127.255.0.9", RuleLoopback, "", ""},
		{"::1", RuleLoopback, "", ""},
		{"::ffff:127.0.0.1", RuleLoopback, "", "target ::ffff:127.0.0.1 refused: loopback address"},
		{"169.254.169.254", RuleLinkLocal, "", "target 169.254.169.254 refused: link-local address"},
		{"fe80::1", RuleLinkLocal, "", ""},
		{"fe80::1%eth0", RuleLinkLocal, "", ""},
		{"224.0.0.1", RuleLinkLocal, "", ""},
		{"ff02::1", RuleLinkLocal, "", ""},
		{"239.1.2.3", RuleMulticast, "", "target 239.1.2.3 refused: multicast address"},
		{"ff05::2", RuleMulticast, "", ""},
		{"255.255.255.255", RuleBroadcast, "", ""},
		{"10.96.0.10", RuleServiceRange, "10.96.0.0/12", "target 10.96.0.10 refused: in the cluster's Service range 10.96.0.0/12"},
		{"10.111.255.255", RuleServiceRange, "10.96.0.0/12", ""},
		{"10.112.0.0", "", "", ""},
		{"::ffff:10.96.0.1", RuleServiceRange, "10.96.0.0/12", ""},
		{"fd00:10:96::a", RuleServiceRange, "fd00:10:96::/112", ""},
		{"10.244.3.7", RulePodRange, "10.244.0.0/16", "target 10.244.3.7 refused: in the cluster's pod range 10.244.0.0/16"},
		{"192.168.10.11", RuleNodeRange, "192.168.10.0/24", "target 192.168.10.11 refused: in the cluster's node range 192.168.10.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := Refuse(netip.MustParseAddr(tt.addr), ranges)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *RefusedError for rule %s", err, tt.rule)
			}
			if re.Rule != tt.rule || re.Addr != netip.MustParseAddr(tt.addr) {
				t.Errorf("refused %s by %q, want %s by %q", re.Addr, re.Rule, tt.addr, tt.rule)
			}
			if want := tt.prefix; want != "" && re.Prefix != netip.MustParsePrefix(want) {
				t.Errorf("prefix %s, want %s", re.Prefix, want)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("message %q, want %q", err, tt.msg)
			}
		})
	}
	if err := Refuse(netip.Addr{}, Ranges{}); err == nil {
		t.Error("the zero Addr is accepted")
	}
}
