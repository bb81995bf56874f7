package probe

import (
	"fmt"
	"net/netip"
)

// Rule names a range Portico never sends traffic to.
type Rule string

// The rules, in the order Refuse checks them.
const (
	RuleUnspecified  Rule = "unspecified"
	RuleLoopback     Rule = "loopback"
	RuleLinkLocal    Rule = "link-local"
	RuleMulticast    Rule = "multicast"
	RuleBroadcast    Rule = "broadcast"
	RuleServiceRange Rule = "Service range"
	RulePodRange     Rule = "pod range"
	RuleNodeRange    Rule = "node range"
)

// Ranges are the cluster's own address ranges, which no target may be in:
// an EndpointSlice pointing there would let a namespace user reach
// ClusterIPs, pods or nodes through Portico's Service (CVE-2021-25740).
type Ranges struct {
	// Service holds the ServiceCIDR objects' prefixes.
	Service []netip.Prefix
	// Pod and Node are configured on the controller.
	Pod, Node []netip.Prefix
}

// RefusedError says why a target is refused.
type RefusedError struct {
	Addr netip.Addr
	Rule Rule
	// Prefix is the range that contains Addr, for the range rules.
	Prefix netip.Prefix
}

func (e *RefusedError) Error() string {
	if e.Prefix.IsValid() {
		return fmt.Sprintf("target %s refused: in the cluster's %s %s", e.Addr, e.Rule, e.Prefix)
	}
	return fmt.Sprintf("target %s refused: %s address", e.Addr, e.Rule)
}

var broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// Refuse returns a *RefusedError when addr is one no target may have, or
// nil. IPv4-mapped IPv6 addresses are judged as the IPv4 address they map
// (the kernel sends ::ffff:127.0.0.1 to loopback) and zones are ignored.
func Refuse(addr netip.Addr, r Ranges) error {
	a := addr.WithZone("").Unmap()
	refuse := func(rule Rule, p netip.Prefix) error { return &RefusedError{Addr: addr, Rule: rule, Prefix: p} }
	switch {
	case !a.IsValid() || a.IsUnspecified():
		return refuse(RuleUnspecified, netip.Prefix{})
	case a.IsLoopback():
		return refuse(RuleLoopback, netip.Prefix{})
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return refuse(RuleLinkLocal, netip.Prefix{})
	case a.IsMulticast():
		return refuse(RuleMulticast, netip.Prefix{})
	case a == broadcast:
		return refuse(RuleBroadcast, netip.Prefix{})
	}
	for _, set := range []struct {
		rule     Rule
		prefixes []netip.Prefix
	}{{RuleServiceRange, r.Service}, {RulePodRange, r.Pod}, {RuleNodeRange, r.Node}} {
		for _, p := range set.prefixes {
			if p.Contains(a) {
				return refuse(set.rule, p)
			}
		}
	}
	return nil
}
