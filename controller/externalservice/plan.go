package externalservice

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
)

// maxEndpointsPerSlice matches the endpoint-slice controller's default.
const maxEndpointsPerSlice = 100

// targetState is what the probes say about one address.
type targetState struct {
	Health v1beta1.TargetHealth
	Up     bool
	Role   v1beta1.TargetRole
	Last   probe.Result
	Seen   bool
}

// nameState is what DNS says about one name.
type nameState struct {
	Res        probe.Resolution
	Resolved   bool // a lookup has finished
	ResolvedAt time.Time
	Err        string
}

// inputs is everything plan decides from besides the ExternalService.
type inputs struct {
	Names   map[string]nameState
	Targets map[netip.AddrPort]targetState
	Ranges  probe.Ranges
	// Primary is the primary published so far (Primary routing).
	Primary netip.AddrPort
	// CredentialsProblem, when set, stops all probing and says why.
	CredentialsProblem string
}

// target is one address:port to probe and publish.
type target struct {
	Entry   int
	Addr    netip.AddrPort
	Refused error
}

// result is plan's decision.
type result struct {
	Targets []target // every target, refused ones included, in spec order
	Ready   map[netip.AddrPort]bool
	Primary netip.AddrPort
	Status  v1beta1.ExternalServiceStatus
	Slices  []sliceContent
	// EndpointSubsets is the content of the core/v1 Endpoints.
	EndpointSubsets []corev1.EndpointSubset
	// Judged: every target that is probed has its first verdict, so the
	// slices say what the probes found, not that they have not finished.
	Judged bool
}

// sliceContent is one EndpointSlice's family, ports and endpoints; its
// name comes from its position.
type sliceContent struct {
	Name      string
	Family    discoveryv1.AddressType
	Ports     []discoveryv1.EndpointPort
	Endpoints []discoveryv1.Endpoint
}

// probePort is the port the entry's targets are probed and published on.
// It is 0, and the entry has no target, when nothing names a port (the
// API server refuses such an object; the controller must not crash on one
// stored before the rule existed).
func probePort(spec *v1beta1.ExternalServiceSpec, e v1beta1.ExternalEndpoint) uint16 {
	// An entry's own port replaces the only port's; with several ports
	// (refused at admission) it is ignored.
	if e.Port > 0 && e.Port <= 65535 && len(spec.Ports) == 1 {
		return uint16(e.Port)
	}
	if len(spec.Ports) == 0 {
		return 0
	}
	p := servicePortTarget(spec.Ports[0])
	if p <= 0 || p > 65535 {
		return 0
	}
	return uint16(p)
}

func servicePortTarget(p v1beta1.ExternalServicePort) int32 {
	if p.TargetPort != 0 {
		return p.TargetPort
	}
	return p.Port
}

// targetsOf lists the targets of es's entries: a literal is one target, a
// name one per resolved address. An address:port listed twice is probed
// once, for its first entry.
func targetsOf(es *v1beta1.ExternalService, in inputs) []target {
	var out []target
	seen := map[netip.AddrPort]bool{}
	for i, e := range es.Spec.Endpoints {
		port := probePort(&es.Spec, e)
		if port == 0 {
			continue
		}
		var addrs []netip.Addr
		if a, err := netip.ParseAddr(e.Address); err == nil {
			addrs = []netip.Addr{a}
		} else {
			addrs = in.Names[e.Address].Res.Addrs
		}
		for _, a := range addrs {
			ap := netip.AddrPortFrom(a.Unmap(), port)
			if seen[ap] {
				continue
			}
			seen[ap] = true
			out = append(out, target{Entry: i, Addr: ap, Refused: probe.Refuse(a, in.Ranges)})
		}
	}
	return out
}

// plan decides readiness, the primary, the slices, the Endpoints and the
// status (without probe times, which the caller adds when it writes).
func plan(es *v1beta1.ExternalService, in inputs) result {
	r := result{Targets: targetsOf(es, in), Ready: map[netip.AddrPort]bool{}}
	check := es.Spec.HealthCheck.Type
	var candidates []probe.Candidate
	for _, t := range r.Targets {
		if t.Refused != nil || in.CredentialsProblem != "" {
			continue
		}
		if check == v1beta1.HealthCheckNone {
			r.Ready[t.Addr] = true
			continue
		}
		s := in.Targets[t.Addr]
		if es.Spec.Routing == v1beta1.RoutingPrimary {
			candidates = append(candidates, probe.Candidate{Addr: t.Addr, Up: s.Up, Role: s.Role})
			continue
		}
		if s.Up {
			r.Ready[t.Addr] = true
		}
	}
	var election probe.Election
	if es.Spec.Routing == v1beta1.RoutingPrimary && check != v1beta1.HealthCheckNone {
		election = probe.Elect(in.Primary, candidates)
		if election.Primary.IsValid() {
			r.Primary = election.Primary
			r.Ready[election.Primary] = true
		}
	}
	r.Judged = judged(check, r.Targets, in)
	r.Slices = slicesFor(es, r.Targets, r.Ready)
	r.EndpointSubsets = subsetsFor(es, r.Targets, r.Ready)
	r.Status = statusFor(es, in, r, election)
	return r
}

// judged reports whether every target to probe has a verdict: none is
// still Pending, and none waits for credentials to be probed at all.
func judged(check v1beta1.HealthCheckType, targets []target, in inputs) bool {
	if check == v1beta1.HealthCheckNone {
		return true
	}
	if in.CredentialsProblem != "" {
		return false
	}
	for _, t := range targets {
		if h := in.Targets[t.Addr].Health; t.Refused == nil && (h == "" || h == v1beta1.TargetPending) {
			return false
		}
	}
	return true
}

// sliceGroup keys the targets that share one set of slices: a slice has
// one address family and one list of ports.
type sliceGroup struct {
	family discoveryv1.AddressType
	port   uint16
}

func familyOf(a netip.Addr) discoveryv1.AddressType {
	if a.Is4() {
		return discoveryv1.AddressTypeIPv4
	}
	return discoveryv1.AddressTypeIPv6
}

// slicesFor lists the refused-free targets per family and port, sorted by
// address, in slices of at most maxEndpointsPerSlice; the not-ready ones
// are listed with ready=false, as the endpoint-slice controller lists
// unready Pods.
func slicesFor(es *v1beta1.ExternalService, targets []target, ready map[netip.AddrPort]bool) []sliceContent {
	groups := map[sliceGroup][]netip.AddrPort{}
	for _, t := range targets {
		if t.Refused != nil {
			continue
		}
		g := sliceGroup{familyOf(t.Addr.Addr()), t.Addr.Port()}
		groups[g] = append(groups[g], t.Addr)
	}
	keys := make([]sliceGroup, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	slices.SortFunc(keys, func(a, b sliceGroup) int {
		return cmp.Or(cmp.Compare(a.family, b.family), cmp.Compare(a.port, b.port))
	})
	var out []sliceContent
	for _, g := range keys {
		addrs := groups[g]
		slices.SortFunc(addrs, netip.AddrPort.Compare)
		ports := slicePorts(es, g.port)
		for i := 0; i*maxEndpointsPerSlice < len(addrs); i++ {
			chunk := addrs[i*maxEndpointsPerSlice : min((i+1)*maxEndpointsPerSlice, len(addrs))]
			sc := sliceContent{
				Name:   fmt.Sprintf("%s-%s-%d-%d", es.Name, strings.ToLower(string(g.family)), g.port, i),
				Family: g.family,
				Ports:  ports,
			}
			for _, a := range chunk {
				ok := ready[a]
				sc.Endpoints = append(sc.Endpoints, discoveryv1.Endpoint{
					Addresses: []string{a.Addr().String()},
					Conditions: discoveryv1.EndpointConditions{
						Ready:       &ok,
						Serving:     &ok,
						Terminating: new(false),
					},
				})
			}
			out = append(out, sc)
		}
	}
	return out
}

// slicePorts are the Service's ports with the targets' port numbers; port
// replaces the only port's number when an entry sets its own.
func slicePorts(es *v1beta1.ExternalService, port uint16) []discoveryv1.EndpointPort {
	out := make([]discoveryv1.EndpointPort, 0, len(es.Spec.Ports))
	for _, p := range es.Spec.Ports {
		n := servicePortTarget(p)
		if len(es.Spec.Ports) == 1 {
			n = int32(port)
		}
		out = append(out, discoveryv1.EndpointPort{
			Name:     new(p.Name),
			Protocol: new(protocolOf(p)),
			Port:     new(n),
		})
	}
	return out
}

func protocolOf(p v1beta1.ExternalServicePort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}

// subsetsFor is the core/v1 Endpoints content: one subset per port, ready
// targets in addresses and the others in notReadyAddresses.
func subsetsFor(es *v1beta1.ExternalService, targets []target, ready map[netip.AddrPort]bool) []corev1.EndpointSubset {
	byPort := map[uint16]*corev1.EndpointSubset{}
	var order []uint16
	for _, t := range targets {
		if t.Refused != nil {
			continue
		}
		s, ok := byPort[t.Addr.Port()]
		if !ok {
			s = &corev1.EndpointSubset{}
			for _, p := range slicePorts(es, t.Addr.Port()) {
				s.Ports = append(s.Ports, corev1.EndpointPort{Name: *p.Name, Port: *p.Port, Protocol: *p.Protocol})
			}
			byPort[t.Addr.Port()] = s
			order = append(order, t.Addr.Port())
		}
		a := corev1.EndpointAddress{IP: t.Addr.Addr().String()}
		if ready[t.Addr] {
			s.Addresses = append(s.Addresses, a)
		} else {
			s.NotReadyAddresses = append(s.NotReadyAddresses, a)
		}
	}
	slices.Sort(order)
	out := make([]corev1.EndpointSubset, 0, len(order))
	for _, p := range order {
		s := byPort[p]
		byIP := func(a, b corev1.EndpointAddress) int { return strings.Compare(a.IP, b.IP) }
		slices.SortFunc(s.Addresses, byIP)
		slices.SortFunc(s.NotReadyAddresses, byIP)
		out = append(out, *s)
	}
	return out
}
