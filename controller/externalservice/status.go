package externalservice

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
)

// ConditionReady is the ExternalService's Ready condition type.
const ConditionReady = "Ready"

// statusFor is the status plan's decision implies. Probe times, latencies
// and resolution times are left out: withTimes adds them when the status
// is written, so that they alone never cause a write.
func statusFor(es *v1beta1.ExternalService, in inputs, r result, e probe.Election) v1beta1.ExternalServiceStatus {
	st := v1beta1.ExternalServiceStatus{ObservedGeneration: es.Generation}
	byEntry := make([][]target, len(es.Spec.Endpoints))
	for _, t := range r.Targets {
		byEntry[t.Entry] = append(byEntry[t.Entry], t)
	}
	var refused []string
	total, healthy := 0, 0
	for i, ep := range es.Spec.Endpoints {
		eps := v1beta1.ExternalEndpointStatus{Address: ep.Address, Port: int32(probePort(&es.Spec, ep))}
		if _, err := netip.ParseAddr(ep.Address); err != nil {
			eps.Message = nameMessage(in.Names[ep.Address])
		}
		for _, t := range byEntry[i] {
			ts := targetStatus(t, in, r.Ready[t.Addr])
			switch {
			case t.Refused != nil:
				refused = append(refused, t.Refused.Error())
			default:
				total++
				if ts.Health == v1beta1.TargetHealthy || ts.Health == v1beta1.TargetAuthFailed {
					healthy++
				}
			}
			eps.Targets = append(eps.Targets, ts)
		}
		st.Endpoints = append(st.Endpoints, eps)
	}
	st.ReadyTargets = int32(len(r.Ready))
	if r.Primary.IsValid() {
		st.Primary = r.Primary.String()
	}
	st.Conditions = conditions(es, in, st, total, healthy, refused, e)
	return st
}

func nameMessage(n nameState) string {
	switch {
	case !n.Resolved:
		return "resolving"
	case n.Res.Stale:
		return fmt.Sprintf("does not resolve (%s); keeping the last addresses until %s", n.Err, n.Res.Until.UTC().Format(time.RFC3339))
	case len(n.Res.Addrs) == 0:
		return fmt.Sprintf("does not resolve: %s", n.Err)
	}
	return ""
}

func targetStatus(t target, in inputs, ready bool) v1beta1.TargetStatus {
	ts := v1beta1.TargetStatus{IP: t.Addr.Addr().String(), Role: v1beta1.RoleUnknown, Ready: ready}
	s := in.Targets[t.Addr]
	switch {
	case t.Refused != nil:
		ts.Health, ts.LastError = v1beta1.TargetRefused, t.Refused.Error()
	case in.CredentialsProblem != "":
		ts.Health, ts.LastError = v1beta1.TargetPending, in.CredentialsProblem
	case s.Health == "":
		ts.Health = v1beta1.TargetPending
		if ready { // health check None
			ts.Health = v1beta1.TargetHealthy
		}
	default:
		ts.Health, ts.Role = s.Health, s.Role
		if s.Seen && s.Last.Outcome != probe.Success {
			ts.LastError = s.Last.Err
		}
	}
	return ts
}

func conditions(es *v1beta1.ExternalService, in inputs, st v1beta1.ExternalServiceStatus, total, healthy int, refused []string, e probe.Election) []metav1.Condition {
	cond := func(typ string, ok bool, reason, msg string) metav1.Condition {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: es.Generation}
	}
	var out []metav1.Condition
	switch {
	case in.CredentialsProblem != "":
		out = append(out, cond(ConditionReady, false, v1beta1.ReasonCredentialsUnavailable, in.CredentialsProblem))
	case st.ReadyTargets == 0:
		out = append(out, cond(ConditionReady, false, v1beta1.ReasonNoneHealthy, fmt.Sprintf("no target is ready (%d of %d healthy)", healthy, total)))
	case healthy < total:
		out = append(out, cond(ConditionReady, true, v1beta1.ReasonPartlyHealthy, fmt.Sprintf("%d of %d targets healthy, %d ready", healthy, total, st.ReadyTargets)))
	default:
		out = append(out, cond(ConditionReady, true, v1beta1.ReasonHealthy, fmt.Sprintf("%d of %d targets healthy, %d ready", healthy, total, st.ReadyTargets)))
	}
	if es.Spec.Routing == v1beta1.RoutingPrimary {
		claim := func() string {
			s := make([]string, len(e.Claimants))
			for i, c := range e.Claimants {
				s[i] = c.String()
			}
			return strings.Join(s, ", ")
		}
		switch {
		case e.SplitBrain && e.Primary.IsValid():
			out = append(out, cond(v1beta1.ConditionPrimaryElected, true, v1beta1.ReasonSplitBrain,
				fmt.Sprintf("%s claim to be writable; keeping the current primary %s", claim(), e.Primary)))
		case e.SplitBrain:
			out = append(out, cond(v1beta1.ConditionPrimaryElected, false, v1beta1.ReasonSplitBrain,
				fmt.Sprintf("%s claim to be writable and none was primary before; publishing none", claim())))
		case e.Primary.IsValid():
			out = append(out, cond(v1beta1.ConditionPrimaryElected, true, v1beta1.ReasonPrimaryElected, fmt.Sprintf("%s is the primary", e.Primary)))
		default:
			out = append(out, cond(v1beta1.ConditionPrimaryElected, false, v1beta1.ReasonNoPrimary, "no healthy target is writable"))
		}
	}
	if len(refused) > 0 {
		out = append(out, cond(v1beta1.ConditionEndpointsRefused, true, v1beta1.ReasonTargetRefused, strings.Join(refused, "; ")))
	} else {
		out = append(out, cond(v1beta1.ConditionEndpointsRefused, false, v1beta1.ReasonNoneRefused, "no target is refused"))
	}
	return out
}

// blocked replaces the Ready condition when the owned objects cannot be
// written (a Service or Endpoints that is not Portico's).
func blocked(st *v1beta1.ExternalServiceStatus, generation int64, msg string) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: ConditionReady, Status: metav1.ConditionFalse, Reason: v1beta1.ReasonNotOwned,
		Message: msg, ObservedGeneration: generation,
	})
}

// sameStatus reports whether two statuses differ only in times.
func sameStatus(a, b v1beta1.ExternalServiceStatus) bool {
	return equality.Semantic.DeepEqual(withoutTimes(a), withoutTimes(b))
}

func withoutTimes(s v1beta1.ExternalServiceStatus) v1beta1.ExternalServiceStatus {
	s = *s.DeepCopy()
	for i := range s.Conditions {
		s.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	for i := range s.Endpoints {
		s.Endpoints[i].ResolvedAt = nil
		for j := range s.Endpoints[i].Targets {
			s.Endpoints[i].Targets[j].LastProbeTime = nil
			s.Endpoints[i].Targets[j].Latency = nil
		}
	}
	return s
}

// withTimes fills probe and resolution times in and keeps each
// condition's transition time when its status did not change.
func withTimes(st, old v1beta1.ExternalServiceStatus, in inputs, now time.Time) v1beta1.ExternalServiceStatus {
	for i := range st.Endpoints {
		if n, ok := in.Names[st.Endpoints[i].Address]; ok && n.Resolved && !n.ResolvedAt.IsZero() {
			st.Endpoints[i].ResolvedAt = &metav1.Time{Time: n.ResolvedAt}
		}
		for j := range st.Endpoints[i].Targets {
			t := &st.Endpoints[i].Targets[j]
			a, err := netip.ParseAddr(t.IP)
			if err != nil {
				continue
			}
			s, ok := in.Targets[netip.AddrPortFrom(a, uint16(st.Endpoints[i].Port))]
			if !ok || !s.Seen {
				continue
			}
			t.LastProbeTime = &metav1.Time{Time: s.Last.At}
			t.Latency = &metav1.Duration{Duration: s.Last.Latency}
		}
	}
	conds := slices.Clone(old.Conditions)
	for _, c := range st.Conditions {
		c.LastTransitionTime = metav1.Time{Time: now}
		meta.SetStatusCondition(&conds, c)
	}
	// Drop conditions that no longer apply (PrimaryElected after a switch
	// to AllHealthy).
	kept := conds[:0]
	for _, c := range conds {
		if meta.FindStatusCondition(st.Conditions, c.Type) != nil {
			kept = append(kept, c)
		}
	}
	st.Conditions = kept
	return st
}
