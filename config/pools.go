package config

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/iprange"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Pool is a validated IPAddressPool. It must not be modified: Configs share
// Pools with each other.
type Pool struct {
	Name string
	// Ranges are sorted (IPv4 first) and overlap neither each other nor any
	// other Pool of the same Config.
	Ranges []iprange.Range
	// AutoAssign is spec.autoAssign with its default (true) applied.
	AutoAssign    bool
	AvoidBuggyIPs bool
	// Disabled pools keep the addresses they gave out but give out no more.
	Disabled bool
	// Priority orders pools for automatic assignment, lower first; nil means
	// after every pool that has one.
	Priority *int32
	// Namespaces (sorted) and NamespaceSelectors restrict the pool to Services
	// in a listed or a selected namespace; when both are empty, any namespace.
	Namespaces         []string
	NamespaceSelectors []labels.Selector
	// ServiceSelectors, when not empty, restrict the pool to Services that
	// match one of them.
	ServiceSelectors []labels.Selector
	// Labels are the pool's own labels, which advertisements select pools by.
	Labels            map[string]string
	CreationTimestamp time.Time
}

// ServiceInfo is what pool policy needs to know about a Service.
type ServiceInfo struct {
	Namespace       string
	NamespaceLabels map[string]string
	Labels          map[string]string
}

// Allows reports whether the pool may give addresses to the Service s,
// whatever its autoAssign and disabled settings.
func (p *Pool) Allows(s ServiceInfo) bool {
	if len(p.Namespaces) > 0 || len(p.NamespaceSelectors) > 0 {
		if !slices.Contains(p.Namespaces, s.Namespace) && !matchesAny(p.NamespaceSelectors, s.NamespaceLabels) {
			return false
		}
	}
	return len(p.ServiceSelectors) == 0 || matchesAny(p.ServiceSelectors, s.Labels)
}

// Contains reports whether a is one of the pool's addresses.
func (p *Pool) Contains(a netip.Addr) bool {
	return slices.ContainsFunc(p.Ranges, func(r iprange.Range) bool { return r.Contains(a) })
}

// specRange is a parsed spec.addresses entry with its index, so Problems about
// overlaps can name the entry the user wrote.
type specRange struct {
	index int
	r     iprange.Range
}

// buildPool validates one IPAddressPool. It returns a nil Pool when the pool
// has errors; the Problems then say why.
func buildPool(in *v1beta1.IPAddressPool) (*Pool, []specRange, []Problem) {
	o := object{kindPool, in.Name}
	var problems []Problem

	spec, ps := parseAddresses(o, in.Spec.Addresses)
	problems = append(problems, ps...)

	p := &Pool{
		Name:              in.Name,
		AutoAssign:        in.Spec.AutoAssign == nil || *in.Spec.AutoAssign,
		AvoidBuggyIPs:     in.Spec.AvoidBuggyIPs,
		Disabled:          in.Spec.Disabled,
		Labels:            maps.Clone(in.Labels),
		CreationTimestamp: in.CreationTimestamp.Time,
	}
	for _, s := range spec {
		p.Ranges = append(p.Ranges, s.r)
	}
	slices.SortFunc(p.Ranges, func(a, b iprange.Range) int { return a.First.Compare(b.First) })

	if at := in.Spec.AllocateTo; at != nil {
		if at.Priority != nil {
			prio := *at.Priority
			p.Priority = &prio
		}
		for i, ns := range at.Namespaces {
			if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
				problems = append(problems, o.errorf(indexed("spec.allocateTo.namespaces", i), v1beta1.ReasonInvalid,
					"%q is not a namespace name: %s", ns, strings.Join(errs, "; ")))
			}
		}
		p.Namespaces = slices.Compact(slices.Sorted(slices.Values(at.Namespaces)))
		var ps []Problem
		p.NamespaceSelectors, ps = parseSelectors(o, "spec.allocateTo.namespaceSelectors", at.NamespaceSelectors)
		problems = append(problems, ps...)
		p.ServiceSelectors, ps = parseSelectors(o, "spec.allocateTo.serviceSelectors", at.ServiceSelectors)
		problems = append(problems, ps...)
	}

	if hasError(problems) {
		return nil, nil, problems
	}
	return p, spec, problems
}

// parseAddresses parses spec.addresses and refuses entries that are not all
// unicast, and entries that overlap an earlier entry of the same pool: such
// a pool would count addresses twice.
func parseAddresses(o object, addrs []string) ([]specRange, []Problem) {
	if len(addrs) == 0 {
		return nil, []Problem{o.errorf("spec.addresses", v1beta1.ReasonInvalid, "no addresses")}
	}
	var (
		problems []Problem
		out      []specRange
	)
	for i, s := range addrs {
		field := indexed("spec.addresses", i)
		r, err := iprange.Parse(s)
		if err != nil {
			// The field already tells the user where the problem is; the
			// package prefix is for Go callers and would only add noise.
			problems = append(problems, o.errorf(field, v1beta1.ReasonInvalid, "%s", strings.TrimPrefix(err.Error(), "iprange: ")))
			continue
		}
		if bad, ok := notUnicast(r); ok {
			problems = append(problems, o.errorf(field, v1beta1.ReasonNotUnicast,
				"%s includes %s (%s); only unicast addresses can be given to Services and answered for by ARP/NDP", r, bad.what, bad.prefix))
			continue
		}
		for _, prev := range out {
			if prev.r.Overlaps(r) {
				problems = append(problems, o.errorf(field, v1beta1.ReasonInvalid,
					"%s overlaps spec.addresses[%d] (%s) of the same pool", r, prev.index, prev.r))
				break
			}
		}
		out = append(out, specRange{index: i, r: r})
	}
	return out, problems
}

// special is a block of addresses a Service must never get: nobody answers
// ARP/NDP for them (layer 2 drops them), and routers do not forward them.
type special struct {
	prefix netip.Prefix
	what   string
}

// specials are the blocks netip.Addr.IsGlobalUnicast refuses, which is what
// layer 2 checks before it answers for an address.
var specials = [...]special{
	{netip.MustParsePrefix("0.0.0.0/32"), "the unspecified address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback addresses"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local addresses"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast addresses"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the limited broadcast address"},
	{netip.MustParsePrefix("::/128"), "the unspecified address"},
	{netip.MustParsePrefix("::1/128"), "the loopback address"},
	{netip.MustParsePrefix("fe80::/10"), "link-local addresses"},
	{netip.MustParsePrefix("ff00::/8"), "multicast addresses"},
}

// notUnicast returns the first special block r overlaps.
func notUnicast(r iprange.Range) (special, bool) {
	for _, s := range specials {
		if r.Overlaps(iprange.FromPrefix(s.prefix)) {
			return s, true
		}
	}
	return special{}, false
}

// nodeAddr is an address a Node reports in its status.
type nodeAddr struct {
	addr netip.Addr
	node string
	kind corev1.NodeAddressType
}

// nodeAddresses returns the InternalIP and ExternalIP addresses of the
// Nodes, sorted by address.
func nodeAddresses(nodes []corev1.Node) []nodeAddr {
	var out []nodeAddr
	for _, n := range nodes {
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				out = append(out, nodeAddr{addr: ip.Unmap(), node: n.Name, kind: a.Type})
			}
		}
	}
	slices.SortFunc(out, func(a, b nodeAddr) int {
		return cmp.Or(a.addr.Compare(b.addr), cmp.Compare(a.node, b.node), cmp.Compare(a.kind, b.kind))
	})
	return out
}

// nodeAddressWarnings warns about every entry of the pool, as written, that
// holds a Node's address: a Service given that address would be announced
// by the elected node, which then answers ARP/NDP for another host's address
// and defends it against that host.
func nodeAddressWarnings(in *v1beta1.IPAddressPool, nodes []nodeAddr) []Problem {
	if len(nodes) == 0 {
		return nil
	}
	o := object{kindPool, in.Name}
	var problems []Problem
	for i, s := range in.Spec.Addresses {
		r, err := iprange.Parse(s)
		if err != nil {
			continue // reported by parseAddresses
		}
		for _, n := range nodes {
			if r.Contains(n.addr) {
				problems = append(problems, o.warnf(indexed("spec.addresses", i), v1beta1.ReasonNodeAddress,
					"contains %s, the %s of node %q; a Service given it would take that address over from the node: leave it out of the pool",
					n.addr, n.kind, n.node))
			}
		}
	}
	return problems
}
