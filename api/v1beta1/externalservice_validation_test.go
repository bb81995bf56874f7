package v1beta1_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/kubeapi"
)

// extSvc returns the seed's mysql-test pattern as an ExternalService (one
// port, one literal address, the default TCP check) changed by mutate.
func extSvc(mutate func(*v1beta1.ExternalServiceSpec)) *v1beta1.ExternalService {
	e := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "mysql-test-", Namespace: "default"},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:     []v1beta1.ExternalServicePort{{Port: 3306}},
			Endpoints: []v1beta1.ExternalEndpoint{{Address: "10.1.0.32"}},
		},
	}
	if mutate != nil {
		mutate(&e.Spec)
	}
	return e
}

func endpoints(addrs ...string) []v1beta1.ExternalEndpoint {
	out := make([]v1beta1.ExternalEndpoint, len(addrs))
	for i, a := range addrs {
		out[i] = v1beta1.ExternalEndpoint{Address: a}
	}
	return out
}

func rawExtSvc(spec map[string]any) client.Object {
	u := raw("ExternalService", spec)
	u.SetNamespace("default")
	return u
}

func TestExternalServiceAdmissionRejects(t *testing.T) {
	kubeapi.NeedServer(t, k8s != nil, noServer)
	mysqlPrimary := func(s *v1beta1.ExternalServiceSpec) {
		s.HealthCheck.Type, s.Routing = v1beta1.HealthCheckMySQL, v1beta1.RoutingPrimary
	}
	tests := []struct {
		name string
		obj  client.Object
		want string
	}{
		{"no ports", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Ports = nil }), "spec.ports: Required value"},
		{"no endpoints", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = nil }), "spec.endpoints: Required value"},
		{"empty endpoints", rawExtSvc(map[string]any{"ports": []any{map[string]any{"port": 3306}}, "endpoints": []any{}}), "spec.endpoints: Invalid value: 0: spec.endpoints in body should have at least 1 items"},
		{"port 0", rawExtSvc(map[string]any{"ports": []any{map[string]any{"port": 0}}, "endpoints": []any{map[string]any{"address": "10.1.0.32"}}}), "spec.ports[0].port: Invalid value: 0: spec.ports[0].port in body should be greater than or equal to 1"},
		{"port above 65535", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Ports[0].Port = 65536 }), "spec.ports[0].port in body should be less than or equal to 65535"},
		{"target port above 65535", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Ports[0].TargetPort = 70000 }), "spec.ports[0].targetPort in body should be less than or equal to 65535"},
		{"endpoint port above 65535", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints[0].Port = 65536 }), "spec.endpoints[0].port in body should be less than or equal to 65535"},
		{"protocol", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Ports[0].Protocol = "HTTP" }), `spec.ports[0].protocol: Unsupported value: "HTTP"`},
		{"port name", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Ports[0].Name = "MySQL_1" }), `spec.ports[].name: "MySQL_1" is not a port name`},
		{"two ports, one unnamed", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Ports = []v1beta1.ExternalServicePort{{Name: "mysql", Port: 3306}, {Port: 33060}}
		}), "spec.ports[].name is required when there is more than one port"},
		{"duplicate port name", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Ports = []v1beta1.ExternalServicePort{{Name: "mysql", Port: 3306}, {Name: "mysql", Port: 33060}}
		}), "spec.ports[].name must be unique"},
		{"duplicate port", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Ports = []v1beta1.ExternalServicePort{{Name: "a", Port: 3306}, {Name: "b", Port: 3306}}
		}), "spec.ports[].port must be unique per protocol"},
		{"endpoint port with two ports", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Ports = []v1beta1.ExternalServicePort{{Name: "a", Port: 3306}, {Name: "b", Port: 33060}}
			s.Endpoints[0].Port = 3307
		}), "spec.endpoints[].port is allowed only when spec.ports has exactly one entry"},
		{"UDP first port with a TCP check", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Ports[0].Protocol = "UDP" }), "spec.ports[0].protocol must be TCP when spec.healthCheck.type is TCP, MySQL or Redis"},

		{"IPv4 octet out of range", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("10.1.0.256") }), `spec.endpoints[].address: "10.1.0.256" looks like an IPv4 address but is not one`},
		{"IPv4 with three octets", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("10.1.32") }), `spec.endpoints[].address: "10.1.32" looks like an IPv4 address`},
		{"IPv4 leading zero", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("10.1.0.032") }), `"10.1.0.032" looks like an IPv4 address but is not one`},
		{"IPv6 with zone", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("2001:db8::1%eth0") }), `spec.endpoints[].address: "2001:db8::1%eth0" looks like an IPv6 address but is not one`},
		{"IPv6 malformed", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("2001:db8:::1") }), `"2001:db8:::1" looks like an IPv6 address`},
		{"IPv4-mapped IPv6", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("::ffff:10.1.0.32") }), `"::ffff:10.1.0.32" looks like an IPv6 address but is not one`},
		{"host with port", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("db.example.com:3306") }), `"db.example.com:3306" looks like an IPv6 address`},
		{"name with underscore", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("db_1.example.com") }), `spec.endpoints[].address: "db_1.example.com" is neither an IP address nor a DNS name`},
		{"name with empty label", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("db..example.com") }), `"db..example.com" is neither an IP address nor a DNS name`},
		{"label too long", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Endpoints = endpoints(strings.Repeat("a", 64) + ".example.com")
		}), "is neither an IP address nor a DNS name"},
		{"URL", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("mysql://db") }), `"mysql://db" looks like an IPv6 address`},
		{"empty address", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("") }), "spec.endpoints[0].address in body should be at least 1 chars long"},
		{"loopback", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("127.0.0.1") }), "spec.endpoints[].address: 127.0.0.1 is a loopback, link-local, unspecified, multicast or broadcast address"},
		{"IPv6 loopback", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("::1") }), "spec.endpoints[].address: ::1 is a loopback"},
		{"link-local (cloud metadata)", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("169.254.169.254") }), "spec.endpoints[].address: 169.254.169.254 is a loopback, link-local"},
		{"IPv6 link-local", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("fe80::1") }), "fe80::1 is a loopback, link-local"},
		{"unspecified", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("0.0.0.0") }), "0.0.0.0 is a loopback, link-local, unspecified"},
		{"multicast", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("239.0.0.1") }), "239.0.0.1 is a loopback, link-local, unspecified, multicast"},
		{"broadcast", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = endpoints("255.255.255.255") }), "255.255.255.255 is a loopback, link-local, unspecified, multicast or broadcast"},
		{"too many endpoints", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Endpoints = make([]v1beta1.ExternalEndpoint, 2001) }), "spec.endpoints: Too many: 2001: must have at most 2000 items"},

		{"check type", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.HealthCheck.Type = "HTTP" }), `spec.healthCheck.type: Unsupported value: "HTTP"`},
		{"timeout equals interval", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.HealthCheck.Interval, s.HealthCheck.Timeout = metav1.Duration{Duration: time.Second}, metav1.Duration{Duration: time.Second}
		}), "spec.healthCheck.timeout must be less than spec.healthCheck.interval"},
		{"default timeout with interval 1s", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.HealthCheck.Interval = metav1.Duration{Duration: time.Second} }), "spec.healthCheck.timeout must be less than spec.healthCheck.interval (defaults: timeout 1s"},
		{"interval 500ms", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.HealthCheck.Interval = metav1.Duration{Duration: 500 * time.Millisecond}
		}), "spec.healthCheck.interval: 500ms is out of range; use 1s to 1h"},
		{"interval 2h", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.HealthCheck.Interval = metav1.Duration{Duration: 2 * time.Hour}
		}), "spec.healthCheck.interval: 2h0m0s is out of range"},
		{"interval not a duration", rawExtSvc(map[string]any{"ports": []any{map[string]any{"port": 3306}}, "endpoints": []any{map[string]any{"address": "10.1.0.32"}}, "healthCheck": map[string]any{"interval": "5"}}), `spec.healthCheck.interval: "5" is not a duration such as 5s`},
		{"timeout not a duration", rawExtSvc(map[string]any{"ports": []any{map[string]any{"port": 3306}}, "endpoints": []any{map[string]any{"address": "10.1.0.32"}}, "healthCheck": map[string]any{"timeout": "soon"}}), `spec.healthCheck.timeout: "soon" is not a duration`},
		{"negative timeout", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.HealthCheck.Timeout = metav1.Duration{Duration: -time.Second} }), `spec.healthCheck.timeout: "-1s" is not a duration`},
		{"timeout 10ms", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.HealthCheck.Timeout = metav1.Duration{Duration: 10 * time.Millisecond}
		}), "spec.healthCheck.timeout: 10ms is too short; use 100ms or more"},
		{"healthy threshold 0", rawExtSvc(map[string]any{"ports": []any{map[string]any{"port": 3306}}, "endpoints": []any{map[string]any{"address": "10.1.0.32"}}, "healthCheck": map[string]any{"healthyThreshold": 0}}), "spec.healthCheck.healthyThreshold in body should be greater than or equal to 1"},
		{"unhealthy threshold 0", rawExtSvc(map[string]any{"ports": []any{map[string]any{"port": 3306}}, "endpoints": []any{map[string]any{"address": "10.1.0.32"}}, "healthCheck": map[string]any{"unhealthyThreshold": 0}}), "spec.healthCheck.unhealthyThreshold in body should be greater than or equal to 1"},
		{"threshold 101", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.HealthCheck.HealthyThreshold = 101 }), "spec.healthCheck.healthyThreshold in body should be less than or equal to 100"},
		{"credentials with TCP", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.HealthCheck.CredentialsSecret = &v1beta1.LocalSecretReference{Name: "db"}
		}), "spec.healthCheck.credentialsSecret is allowed only with spec.healthCheck.type MySQL or Redis"},
		{"credentials with None", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.HealthCheck.Type, s.HealthCheck.CredentialsSecret = v1beta1.HealthCheckNone, &v1beta1.LocalSecretReference{Name: "db"}
		}), "spec.healthCheck.credentialsSecret is allowed only with"},
		{"credentials secret name", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.HealthCheck.Type, s.HealthCheck.CredentialsSecret = v1beta1.HealthCheckRedis, &v1beta1.LocalSecretReference{Name: "DB_Creds"}
		}), `spec.healthCheck.credentialsSecret.name: "DB_Creds" is not a Secret name`},

		{"routing", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Routing = "RoundRobin" }), `spec.routing: Unsupported value: "RoundRobin"`},
		{"primary with TCP", extSvc(func(s *v1beta1.ExternalServiceSpec) { s.Routing = v1beta1.RoutingPrimary }), "spec.routing: Primary needs spec.healthCheck.type MySQL or Redis"},
		{"primary with None", extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Routing, s.HealthCheck.Type = v1beta1.RoutingPrimary, v1beta1.HealthCheckNone
		}), "spec.routing: Primary needs spec.healthCheck.type MySQL or Redis"},
		{"MySQL primary without credentials", extSvc(mysqlPrimary), "spec.healthCheck.credentialsSecret is required when spec.routing is Primary and spec.healthCheck.type is MySQL"},

		{"name not a DNS label", &v1beta1.ExternalService{
			ObjectMeta: metav1.ObjectMeta{Name: "mysql.test", Namespace: "default"},
			Spec:       extSvc(nil).Spec,
		}, "metadata.name must be a DNS label starting with a letter"},
		{"name starting with a digit", &v1beta1.ExternalService{
			ObjectMeta: metav1.ObjectMeta{Name: "1db", Namespace: "default"},
			Spec:       extSvc(nil).Spec,
		}, "metadata.name must be a DNS label"},
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

func TestExternalServiceAdmissionAccepts(t *testing.T) {
	kubeapi.NeedServer(t, k8s != nil, noServer)
	ctx := context.Background()

	t.Run("defaults", func(t *testing.T) {
		e := extSvc(nil)
		if err := k8s.Create(ctx, e); err != nil {
			t.Fatalf("refused: %v", err)
		}
		t.Cleanup(func() { _ = k8s.Delete(ctx, e) })
		want := v1beta1.ExternalServiceSpec{
			Ports:     []v1beta1.ExternalServicePort{{Port: 3306, Protocol: "TCP"}},
			Endpoints: []v1beta1.ExternalEndpoint{{Address: "10.1.0.32"}},
			HealthCheck: v1beta1.HealthCheck{
				Type:               v1beta1.HealthCheckTCP,
				Interval:           metav1.Duration{Duration: 5 * time.Second},
				Timeout:            metav1.Duration{Duration: time.Second},
				HealthyThreshold:   2,
				UnhealthyThreshold: 3,
			},
			Routing: v1beta1.RoutingAllHealthy,
		}
		if diff := cmp.Diff(want, e.Spec); diff != "" {
			t.Errorf("stored spec (-want +got):\n%s", diff)
		}
	})

	for name, e := range map[string]*v1beta1.ExternalService{
		"names and literals": extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Endpoints = endpoints("10.1.0.32", "2001:db8::32", "db-1.example.com", "db.example.com.", "DB2.Example.COM", "mysql", "198.51.100.7", "x.1e100.net")
		}),
		"per-endpoint port": extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Endpoints = []v1beta1.ExternalEndpoint{{Address: "10.1.0.32", Port: 3307}, {Address: "10.1.0.33"}}
		}),
		"several ports": extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Ports = []v1beta1.ExternalServicePort{{Name: "mysql", Port: 3306, TargetPort: 13306}, {Name: "x", Port: 33060}, {Name: "x-udp", Port: 33060, Protocol: "UDP"}}
		}),
		"UDP with no check": extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Ports[0].Protocol, s.HealthCheck.Type = "UDP", v1beta1.HealthCheckNone
		}),
		"MySQL primary": extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Routing = v1beta1.RoutingPrimary
			s.HealthCheck = v1beta1.HealthCheck{Type: v1beta1.HealthCheckMySQL, Interval: metav1.Duration{Duration: time.Second}, Timeout: metav1.Duration{Duration: 500 * time.Millisecond},
				HealthyThreshold: 2, UnhealthyThreshold: 2, CredentialsSecret: &v1beta1.LocalSecretReference{Name: "mysql-monitor"}}
			s.EndpointsObject = true
		}),
		"Redis primary without credentials, headless": extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Ports[0].Port, s.Routing, s.HealthCheck.Type, s.Headless = 6379, v1beta1.RoutingPrimary, v1beta1.HealthCheckRedis, true
		}),
		"1h interval, 100ms timeout, thresholds 1 and 100": extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.HealthCheck = v1beta1.HealthCheck{Interval: metav1.Duration{Duration: time.Hour}, Timeout: metav1.Duration{Duration: 100 * time.Millisecond}, HealthyThreshold: 1, UnhealthyThreshold: 100}
		}),
		"2000 endpoints": extSvc(func(s *v1beta1.ExternalServiceSpec) {
			s.Endpoints = make([]v1beta1.ExternalEndpoint, 2000)
			for i := range s.Endpoints {
				s.Endpoints[i].Address = "10.2." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+1)
			}
		}),
	} {
		t.Run(name, func(t *testing.T) {
			if err := k8s.Create(ctx, e); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if err := k8s.Delete(ctx, e); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestExternalServicePrinterColumns(t *testing.T) {
	kubeapi.NeedServer(t, k8s != nil, noServer)
	ctx := context.Background()
	e := extSvc(func(s *v1beta1.ExternalServiceSpec) {
		s.Ports[0].Port, s.Routing, s.HealthCheck.Type = 6379, v1beta1.RoutingPrimary, v1beta1.HealthCheckRedis
		s.Endpoints = endpoints("10.1.0.41", "10.1.0.42")
	})
	if err := k8s.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, e) })
	e.Status = v1beta1.ExternalServiceStatus{ReadyTargets: 1, Primary: "10.1.0.41"}
	meta.SetStatusCondition(&e.Status.Conditions, metav1.Condition{Type: v1beta1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1beta1.ReasonPartlyHealthy, Message: "1 of 2 ready"})
	if err := k8s.Status().Update(ctx, e); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"Name":          e.Name,
		"Ready":         "True",
		"Ready-Targets": float64(1),
		"Primary":       "10.1.0.41",
		"wide:Check":    "Redis",
		"wide:Routing":  "Primary",
	}
	if diff := cmp.Diff(want, getTable(t, "namespaces/default/externalservices", e.Name)); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}
