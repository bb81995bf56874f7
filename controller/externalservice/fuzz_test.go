package externalservice

import (
	"net/netip"
	"strings"
	"testing"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
)

// FuzzPlan: whatever an ExternalService says (the API server's CEL rules
// are the first guard, not the only one: objects stored before a rule
// existed, or a CRD installed without them), plan neither panics nor
// breaks its invariants.
func FuzzPlan(f *testing.F) {
	f.Add("192.0.2.10,db.example.,10.96.0.1", uint16(3306), uint16(0), 2, "Primary", "Redis", true)
	f.Add("2001:db8::1,::1,fe80::1%eth0", uint16(6379), uint16(7000), 1, "AllHealthy", "TCP", false)
	f.Add("", uint16(0), uint16(0), 0, "", "None", false)
	f.Add("999.1.1.1,a..b,-x-", uint16(65535), uint16(1), 3, "Bogus", "MySQL", true)
	f.Fuzz(func(t *testing.T, addrs string, port, endpointPort uint16, nports int, routing, check string, withNames bool) {
		es := extsvc(v1beta1.Routing(routing), v1beta1.HealthCheckType(check))
		es.Spec.Ports = nil
		for i := range nports % 4 {
			es.Spec.Ports = append(es.Spec.Ports, v1beta1.ExternalServicePort{Port: int32(port) + int32(i)})
		}
		in := inputs{
			Ranges:  probe.Ranges{Service: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}},
			Targets: map[netip.AddrPort]targetState{},
			Names:   map[string]nameState{},
		}
		for i, a := range strings.Split(addrs, ",") {
			es.Spec.Endpoints = append(es.Spec.Endpoints, v1beta1.ExternalEndpoint{Address: a, Port: int32(endpointPort)})
			if withNames {
				in.Names[a] = nameState{Resolved: true, Res: probe.Resolution{Addrs: []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})}}}
			}
			if ip, err := netip.ParseAddr(a); err == nil {
				in.Targets[netip.AddrPortFrom(ip.Unmap(), port)] = primary
			}
		}
		r := plan(es, in)
		checkPlan(t, es, r)
	})
}
