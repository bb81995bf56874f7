package externalservice

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
)

func extsvc(routing v1beta1.Routing, check v1beta1.HealthCheckType, addrs ...string) *v1beta1.ExternalService {
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "mysql", Generation: 3},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:       []v1beta1.ExternalServicePort{{Name: "sql", Port: 3306}},
			Routing:     routing,
			HealthCheck: v1beta1.HealthCheck{Type: check},
		},
	}
	for _, a := range addrs {
		es.Spec.Endpoints = append(es.Spec.Endpoints, v1beta1.ExternalEndpoint{Address: a})
	}
	return es
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

var (
	up      = targetState{Health: v1beta1.TargetHealthy, Up: true, Role: v1beta1.RoleReplica}
	primary = targetState{Health: v1beta1.TargetHealthy, Up: true, Role: v1beta1.RolePrimary}
	down    = targetState{Health: v1beta1.TargetUnhealthy, Last: probe.Result{Err: "connect: connection refused"}, Seen: true}
)

func readyList(r result) []string {
	var out []string
	for _, t := range r.Targets {
		if r.Ready[t.Addr] {
			out = append(out, t.Addr.String())
		}
	}
	return out
}

func TestPlan(t *testing.T) {
	service := probe.Ranges{Service: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}}
	tests := []struct {
		name      string
		es        *v1beta1.ExternalService
		in        inputs
		ready     string // comma-separated, in spec order
		primary   string
		condition map[string]string // type → reason
	}{{
		name:      "all healthy publishes every up target",
		es:        extsvc(v1beta1.RoutingAllHealthy, v1beta1.HealthCheckTCP, "192.0.2.10", "192.0.2.11", "2001:db8::1"),
		in:        inputs{Targets: map[netip.AddrPort]targetState{ap("192.0.2.10:3306"): up, ap("192.0.2.11:3306"): down, ap("[2001:db8::1]:3306"): up}},
		ready:     "192.0.2.10:3306,[2001:db8::1]:3306",
		condition: map[string]string{ConditionReady: v1beta1.ReasonPartlyHealthy, v1beta1.ConditionEndpointsRefused: v1beta1.ReasonNoneRefused},
	}, {
		name:      "none healthy",
		es:        extsvc(v1beta1.RoutingAllHealthy, v1beta1.HealthCheckTCP, "192.0.2.10"),
		in:        inputs{Targets: map[netip.AddrPort]targetState{ap("192.0.2.10:3306"): down}},
		condition: map[string]string{ConditionReady: v1beta1.ReasonNoneHealthy},
	}, {
		name:      "health check None publishes all without probing",
		es:        extsvc(v1beta1.RoutingAllHealthy, v1beta1.HealthCheckNone, "192.0.2.10", "192.0.2.11"),
		ready:     "192.0.2.10:3306,192.0.2.11:3306",
		condition: map[string]string{ConditionReady: v1beta1.ReasonHealthy},
	}, {
		name:      "a target in the Service range is refused and never published",
		es:        extsvc(v1beta1.RoutingAllHealthy, v1beta1.HealthCheckNone, "10.96.0.10", "192.0.2.10"),
		in:        inputs{Ranges: service},
		ready:     "192.0.2.10:3306",
		condition: map[string]string{v1beta1.ConditionEndpointsRefused: v1beta1.ReasonTargetRefused},
	}, {
		name:      "a name resolving into the Service range is refused",
		es:        extsvc(v1beta1.RoutingAllHealthy, v1beta1.HealthCheckNone, "db.example."),
		in:        inputs{Ranges: service, Names: map[string]nameState{"db.example.": {Resolved: true, Res: probe.Resolution{Addrs: []netip.Addr{netip.MustParseAddr("10.96.1.1"), netip.MustParseAddr("192.0.2.20")}}}}},
		ready:     "192.0.2.20:3306",
		condition: map[string]string{v1beta1.ConditionEndpointsRefused: v1beta1.ReasonTargetRefused},
	}, {
		name:      "primary routing publishes only the writable one",
		es:        extsvc(v1beta1.RoutingPrimary, v1beta1.HealthCheckRedis, "192.0.2.10", "192.0.2.11"),
		in:        inputs{Targets: map[netip.AddrPort]targetState{ap("192.0.2.10:3306"): up, ap("192.0.2.11:3306"): primary}},
		ready:     "192.0.2.11:3306",
		primary:   "192.0.2.11:3306",
		condition: map[string]string{v1beta1.ConditionPrimaryElected: v1beta1.ReasonPrimaryElected},
	}, {
		name:      "split brain keeps the current primary",
		es:        extsvc(v1beta1.RoutingPrimary, v1beta1.HealthCheckRedis, "192.0.2.10", "192.0.2.11"),
		in:        inputs{Primary: ap("192.0.2.11:3306"), Targets: map[netip.AddrPort]targetState{ap("192.0.2.10:3306"): primary, ap("192.0.2.11:3306"): primary}},
		ready:     "192.0.2.11:3306",
		primary:   "192.0.2.11:3306",
		condition: map[string]string{v1beta1.ConditionPrimaryElected: v1beta1.ReasonSplitBrain},
	}, {
		name:      "split brain with no current primary publishes none",
		es:        extsvc(v1beta1.RoutingPrimary, v1beta1.HealthCheckRedis, "192.0.2.10", "192.0.2.11"),
		in:        inputs{Targets: map[netip.AddrPort]targetState{ap("192.0.2.10:3306"): primary, ap("192.0.2.11:3306"): primary}},
		condition: map[string]string{v1beta1.ConditionPrimaryElected: v1beta1.ReasonSplitBrain, ConditionReady: v1beta1.ReasonNoneHealthy},
	}, {
		name:      "credentials problem publishes nothing and says why",
		es:        extsvc(v1beta1.RoutingAllHealthy, v1beta1.HealthCheckMySQL, "192.0.2.10"),
		in:        inputs{CredentialsProblem: "Secret db/creds not found", Targets: map[netip.AddrPort]targetState{ap("192.0.2.10:3306"): up}},
		condition: map[string]string{ConditionReady: v1beta1.ReasonCredentialsUnavailable},
	}, {
		name:  "an address listed twice is one target",
		es:    extsvc(v1beta1.RoutingAllHealthy, v1beta1.HealthCheckNone, "192.0.2.10", "192.0.2.10"),
		ready: "192.0.2.10:3306",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := plan(tc.es, tc.in)
			if got := strings.Join(readyList(r), ","); got != tc.ready {
				t.Errorf("ready = %q, want %q", got, tc.ready)
			}
			if got := r.Status.Primary; got != tc.primary {
				t.Errorf("primary = %q, want %q", got, tc.primary)
			}
			for typ, reason := range tc.condition {
				c := meta.FindStatusCondition(r.Status.Conditions, typ)
				if c == nil || c.Reason != reason {
					t.Errorf("condition %s = %+v, want reason %s", typ, c, reason)
				}
			}
			checkPlan(t, tc.es, r)
		})
	}
}

// checkPlan checks what must hold of every plan: at most one ready target
// with Primary routing, refused targets nowhere in the slices, every other
// target in exactly one slice with the ready flag plan decided, slices of
// at most maxEndpointsPerSlice, and status agreeing with the slices.
func checkPlan(t *testing.T, es *v1beta1.ExternalService, r result) {
	t.Helper()
	if es.Spec.Routing == v1beta1.RoutingPrimary && len(r.Ready) > 1 {
		t.Fatalf("Primary routing publishes %d ready targets: %v", len(r.Ready), r.Ready)
	}
	listed := map[string]bool{}
	readyInSlices := 0
	for _, s := range r.Slices {
		if len(s.Endpoints) == 0 || len(s.Endpoints) > maxEndpointsPerSlice {
			t.Fatalf("slice %s has %d endpoints", s.Name, len(s.Endpoints))
		}
		for _, e := range s.Endpoints {
			key := fmt.Sprintf("%s/%d", e.Addresses[0], *s.Ports[0].Port)
			if listed[key] {
				t.Fatalf("%s is listed twice", key)
			}
			listed[key] = true
			if *e.Conditions.Ready {
				readyInSlices++
			}
		}
	}
	for _, tg := range r.Targets {
		key := fmt.Sprintf("%s/%d", tg.Addr.Addr(), tg.Addr.Port())
		if tg.Refused != nil && listed[key] {
			t.Fatalf("refused %s is in a slice", key)
		}
		if tg.Refused == nil && !listed[key] {
			t.Fatalf("%s is in no slice", key)
		}
		if tg.Refused != nil && r.Ready[tg.Addr] {
			t.Fatalf("refused %s is ready", key)
		}
	}
	if readyInSlices != len(r.Ready) || int(r.Status.ReadyTargets) != len(r.Ready) {
		t.Fatalf("ready: %d in slices, %d decided, %d in status", readyInSlices, len(r.Ready), r.Status.ReadyTargets)
	}
	if len(r.Status.Endpoints) != len(es.Spec.Endpoints) {
		t.Fatalf("status lists %d endpoints, spec %d", len(r.Status.Endpoints), len(es.Spec.Endpoints))
	}
}

// TestPlanProperties drives plan through random probe states, DNS answers
// and refusals, carrying the published primary from step to step as the
// reconciler does, and checks after every step that the invariants hold
// and that a primary that stays up and writable is never replaced.
func TestPlanProperties(t *testing.T) {
	pool := []string{"192.0.2.10", "192.0.2.11", "192.0.2.12", "10.96.0.5", "2001:db8::1", "2001:db8::2", "db.example."}
	states := []targetState{up, primary, down, {Health: v1beta1.TargetPending}, {Health: v1beta1.TargetAuthFailed, Up: true, Role: v1beta1.RoleUnknown, Seen: true, Last: probe.Result{Outcome: probe.AuthFailure}}}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		routing := []v1beta1.Routing{v1beta1.RoutingAllHealthy, v1beta1.RoutingPrimary}[rng.IntN(2)]
		check := []v1beta1.HealthCheckType{v1beta1.HealthCheckRedis, v1beta1.HealthCheckMySQL, v1beta1.HealthCheckTCP, v1beta1.HealthCheckNone}[rng.IntN(4)]
		if routing == v1beta1.RoutingPrimary && (check == v1beta1.HealthCheckTCP || check == v1beta1.HealthCheckNone) {
			check = v1beta1.HealthCheckRedis
		}
		var addrs []string
		for _, a := range pool {
			if rng.IntN(2) == 0 {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			addrs = pool[:1]
		}
		es := extsvc(routing, check, addrs...)
		var current netip.AddrPort
		for step := range 30 {
			in := inputs{
				Ranges:  probe.Ranges{Service: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}},
				Primary: current,
				Targets: map[netip.AddrPort]targetState{},
				Names: map[string]nameState{"db.example.": {Resolved: true, Res: probe.Resolution{Addrs: []netip.Addr{
					netip.MustParseAddr([]string{"192.0.2.30", "192.0.2.10", "10.96.0.6"}[rng.IntN(3)])}}}},
			}
			for _, a := range append(addrs, "192.0.2.30", "10.96.0.6") {
				if ip, err := netip.ParseAddr(a); err == nil {
					in.Targets[netip.AddrPortFrom(ip, 3306)] = states[rng.IntN(len(states))]
				}
			}
			if rng.IntN(10) == 0 {
				in.CredentialsProblem = "Secret missing"
			}
			r := plan(es, in)
			t.Run(fmt.Sprintf("seed%d/step%d", seed, step), func(t *testing.T) { checkPlan(t, es, r) })
			stillTarget := slices.ContainsFunc(r.Targets, func(tg target) bool { return tg.Addr == current && tg.Refused == nil })
			if s, ok := in.Targets[current]; ok && stillTarget && s.Up && s.Role == v1beta1.RolePrimary && in.CredentialsProblem == "" {
				if r.Primary != current {
					t.Fatalf("seed %d step %d: primary %v still writable but replaced by %v", seed, step, current, r.Primary)
				}
			}
			if in.CredentialsProblem == "" {
				current = r.Primary
			}
			// A restart now: a controller that starts from this status
			// alone publishes exactly what this plan published.
			if rng.IntN(4) == 0 && in.CredentialsProblem == "" {
				checkRestart(t, es, in, r)
			}
		}
	}
}

func TestSlicesSplitAndPorts(t *testing.T) {
	var addrs []string
	for i := range 250 {
		addrs = append(addrs, fmt.Sprintf("198.51.%d.%d", i/200, i%200+1))
	}
	addrs = append(addrs, "2001:db8::1")
	es := extsvc(v1beta1.RoutingAllHealthy, v1beta1.HealthCheckNone, addrs...)
	es.Spec.Endpoints[0].Port = 13306
	r := plan(es, inputs{})
	var got []string
	for _, s := range r.Slices {
		got = append(got, fmt.Sprintf("%s:%d:%d", s.Name, *s.Ports[0].Port, len(s.Endpoints)))
	}
	want := "mysql-ipv4-3306-0:3306:100,mysql-ipv4-3306-1:3306:100,mysql-ipv4-3306-2:3306:49,mysql-ipv4-13306-0:13306:1,mysql-ipv6-3306-0:3306:1"
	if strings.Join(got, ",") != want {
		t.Errorf("slices = %s\nwant     %s", strings.Join(got, ","), want)
	}
	if n := len(r.EndpointSubsets); n != 2 {
		t.Errorf("Endpoints has %d subsets, want one per port (2)", n)
	}
}

// TestJudged: a plan is judged once every probed target has a verdict;
// refused targets and the None check need none, a credentials problem
// means no target will get one.
func TestJudged(t *testing.T) {
	service := probe.Ranges{Service: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}}
	pending := targetState{Health: v1beta1.TargetPending}
	tests := []struct {
		name string
		es   *v1beta1.ExternalService
		in   inputs
		want bool
	}{
		{"all judged", extsvc("", v1beta1.HealthCheckTCP, "192.0.2.1", "192.0.2.2"),
			inputs{Targets: map[netip.AddrPort]targetState{ap("192.0.2.1:3306"): up, ap("192.0.2.2:3306"): down}}, true},
		{"one pending", extsvc("", v1beta1.HealthCheckTCP, "192.0.2.1", "192.0.2.2"),
			inputs{Targets: map[netip.AddrPort]targetState{ap("192.0.2.1:3306"): up, ap("192.0.2.2:3306"): pending}}, false},
		{"one never probed", extsvc("", v1beta1.HealthCheckTCP, "192.0.2.1", "192.0.2.2"),
			inputs{Targets: map[netip.AddrPort]targetState{ap("192.0.2.1:3306"): up}}, false},
		{"refused needs no verdict", extsvc("", v1beta1.HealthCheckTCP, "192.0.2.1", "10.96.0.1"),
			inputs{Ranges: service, Targets: map[netip.AddrPort]targetState{ap("192.0.2.1:3306"): up}}, true},
		{"check None", extsvc("", v1beta1.HealthCheckNone, "192.0.2.1"), inputs{}, true},
		{"credentials problem", extsvc("", v1beta1.HealthCheckMySQL, "192.0.2.1"),
			inputs{CredentialsProblem: "Secret db/monitor not found", Targets: map[netip.AddrPort]targetState{ap("192.0.2.1:3306"): up}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := plan(tc.es, tc.in).Judged; got != tc.want {
				t.Errorf("Judged = %t, want %t", got, tc.want)
			}
		})
	}
}

// checkRestart plans again from trackers seeded from r's status, as a
// restarted controller does before its first probe, and requires the same
// ready targets and primary.
func checkRestart(t *testing.T, es *v1beta1.ExternalService, in inputs, r result) {
	t.Helper()
	trackers, primary := seedTrackers(r.Status, probe.Thresholds{Healthy: 2, Unhealthy: 2})
	again := in
	again.Primary = primary
	again.Targets = map[netip.AddrPort]targetState{}
	for a, tr := range trackers {
		again.Targets[a] = targetState{Health: tr.Health(), Up: tr.Up(), Role: tr.Role()}
	}
	r2 := plan(es, again)
	if !maps.Equal(r.Ready, r2.Ready) || r.Primary != r2.Primary {
		t.Fatalf("after a restart: ready %v primary %v, before %v primary %v", r2.Ready, r2.Primary, r.Ready, r.Primary)
	}
}
