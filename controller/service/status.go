package service

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/ipam"
)

// restored is the outcome of restoring one Service: err is set for a
// duplicate.
type restored struct {
	svc *corev1.Service
	err error
}

// restoreAll records in m the addresses every served Service holds in its
// status, oldest Service first (then by name). The order is the order of
// arrival by which a shared address goes to its earlier holder when two may
// no longer share it, and it makes the Service reported as a duplicate the
// newer one, whatever order the API server listed them in. items is sorted
// in place.
func restoreAll(m *ipam.IPAM, items []corev1.Service, serveNoClass bool) []restored {
	slices.SortFunc(items, func(a, b corev1.Service) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	var out []restored
	for i := range items {
		svc := &items[i]
		addrs := v1beta1.IngressAddrs(svc)
		if !v1beta1.Serves(svc, serveNoClass) || len(addrs) == 0 {
			continue
		}
		out = append(out, restored{svc: svc, err: m.Restore(requestFor(svc, nil), addrs)})
	}
	return out
}

// desiredStatus returns a copy of svc with the status d wants: its
// addresses, unless d leaves the status as it is, and its condition.
func desiredStatus(svc *corev1.Service, d ipam.Decision) *corev1.Service {
	out := svc.DeepCopy()
	if !d.LeaveStatus {
		out.Status.LoadBalancer.Ingress = ingressFor(d.Addrs)
	}
	setCondition(out, d)
	return out
}

func setCondition(svc *corev1.Service, d ipam.Decision) {
	status := metav1.ConditionFalse
	if d.Assigned {
		status = metav1.ConditionTrue
	}
	msg := d.Explanation()
	prev := meta.FindStatusCondition(svc.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
	if d.Note == "" && prev != nil && prev.Status == status && prev.Reason == d.Reason && strings.HasPrefix(prev.Message, msg+" (") {
		// The decision that wrote this message also said why the Service
		// moved; the same decision again keeps that explanation rather
		// than spend a write on dropping it.
		msg = prev.Message
	}
	meta.SetStatusCondition(&svc.Status.Conditions, metav1.Condition{
		Type:               v1beta1.ServiceConditionIPAssigned,
		Status:             status,
		Reason:             d.Reason,
		Message:            msg,
		ObservedGeneration: svc.Generation,
	})
}

// ingressFor sets ipMode explicitly: the API server defaults it to VIP, and
// leaving it out would make every comparison differ and every status be
// written twice.
func ingressFor(addrs []netip.Addr) []corev1.LoadBalancerIngress {
	if len(addrs) == 0 {
		return nil
	}
	vip := corev1.LoadBalancerIPModeVIP
	out := make([]corev1.LoadBalancerIngress, len(addrs))
	for i, a := range addrs {
		out[i] = corev1.LoadBalancerIngress{IP: a.String(), IPMode: &vip}
	}
	return out
}
