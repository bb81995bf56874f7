package probe

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDNSPolicyDefaults(t *testing.T) {
	tests := []struct {
		name     string
		in, want DNSPolicy
	}{
		{"zero", DNSPolicy{}, DNSPolicy{MinTTL: 5 * time.Second, MaxTTL: 5 * time.Minute, Grace: 10 * time.Minute}},
		{"set", DNSPolicy{MinTTL: time.Second, MaxTTL: time.Minute, Grace: time.Hour}, DNSPolicy{MinTTL: time.Second, MaxTTL: time.Minute, Grace: time.Hour}},
		{"crossed", DNSPolicy{MinTTL: time.Minute, MaxTTL: time.Second}, DNSPolicy{MinTTL: time.Minute, MaxTTL: time.Minute, Grace: 10 * time.Minute}},
		{"min above default max", DNSPolicy{MinTTL: time.Hour}, DNSPolicy{MinTTL: time.Hour, MaxTTL: time.Hour, Grace: 10 * time.Minute}},
		{"negative grace means none", DNSPolicy{Grace: -1}, DNSPolicy{MinTTL: 5 * time.Second, MaxTTL: 5 * time.Minute, Grace: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.in.withDefaults()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestNameTracker(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	fail := errors.New("SERVFAIL")
	type lookup struct {
		at    time.Duration
		addrs []netip.Addr
		ttl   time.Duration
		err   error
		want  Resolution
	}
	policy := DNSPolicy{MinTTL: 2 * time.Second, MaxTTL: time.Minute, Grace: 30 * time.Second}
	tests := []struct {
		name    string
		lookups []lookup
	}{
		{"TTL within bounds", []lookup{{0, addrs("10.1.0.41", "10.1.0.42"), 10 * time.Second, nil, Resolution{Addrs: addrs("10.1.0.41", "10.1.0.42"), Next: 10 * time.Second}}}},
		{"TTL 0 clamped to min", []lookup{{0, addrs("10.1.0.41"), 0, nil, Resolution{Addrs: addrs("10.1.0.41"), Next: 2 * time.Second}}}},
		{"TTL a day clamped to max", []lookup{{0, addrs("10.1.0.41"), 24 * time.Hour, nil, Resolution{Addrs: addrs("10.1.0.41"), Next: time.Minute}}}},
		{"sorted and deduplicated", []lookup{{0, addrs("2001:db8::1", "10.1.0.42", "10.1.0.41", "10.1.0.42"), 5 * time.Second, nil, Resolution{Addrs: addrs("10.1.0.41", "10.1.0.42", "2001:db8::1"), Next: 5 * time.Second}}}},
		{"never resolved", []lookup{{0, nil, 0, fail, Resolution{Next: 2 * time.Second}}}},
		{"failure keeps last addresses through the grace", []lookup{
			{0, addrs("10.1.0.41"), 10 * time.Second, nil, Resolution{Addrs: addrs("10.1.0.41"), Next: 10 * time.Second}},
			{10 * time.Second, nil, 0, fail, Resolution{Addrs: addrs("10.1.0.41"), Stale: true, Until: at(30 * time.Second), Next: 2 * time.Second}},
			{29 * time.Second, nil, 0, nil, Resolution{Addrs: addrs("10.1.0.41"), Stale: true, Until: at(30 * time.Second), Next: time.Second}},
			{30 * time.Second, nil, 0, fail, Resolution{Next: 2 * time.Second}},
			{32 * time.Second, nil, 0, fail, Resolution{Next: 2 * time.Second}},
			{34 * time.Second, addrs("10.1.0.43"), 3 * time.Second, nil, Resolution{Addrs: addrs("10.1.0.43"), Next: 3 * time.Second}},
		}},
		{"a new answer replaces the old one", []lookup{
			{0, addrs("10.1.0.41", "10.1.0.42"), 3 * time.Second, nil, Resolution{Addrs: addrs("10.1.0.41", "10.1.0.42"), Next: 3 * time.Second}},
			{3 * time.Second, addrs("10.1.0.42"), 7 * time.Second, nil, Resolution{Addrs: addrs("10.1.0.42"), Next: 7 * time.Second}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := NewNameTracker(policy)
			for i, l := range tt.lookups {
				got := n.Update(at(l.at), l.addrs, l.ttl, l.err)
				if diff := cmp.Diff(l.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
					t.Errorf("lookup %d at %v (-want +got):\n%s", i, l.at, diff)
				}
			}
		})
	}
}

func TestNameTrackerNoGrace(t *testing.T) {
	n := NewNameTracker(DNSPolicy{Grace: -1})
	now := time.Now()
	n.Update(now, addrs("10.1.0.41"), time.Minute, nil)
	if got := n.Update(now.Add(time.Second), nil, 0, errors.New("NXDOMAIN")); len(got.Addrs) != 0 || got.Stale {
		t.Errorf("with no grace a failed name still stands for %v", got.Addrs)
	}
}
