package speaker

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/election"
)

// reportKey names one announced condition of one Service.
type reportKey struct{ service, condType string }

// lastReport is an announced condition report wrote, and the condition the
// cache showed when it did.
type lastReport struct {
	before  *metav1.Condition
	status  metav1.ConditionStatus
	message string
}

// report makes every Service on an address this node announces say so in
// its announced condition, and, for addresses no node may announce, one
// speaker (the rendezvous winner among the alive ones, so they do not race)
// says that instead. It compares with the cached Service and writes only
// what differs, so it is cheap to run on every election, catches Services
// that join a shared address later, and retries by itself after the API
// server was away.
//
// An address this node was elected for but no announcer announces (st,
// settled) is reported as not announced: nobody answers for it, and saying
// otherwise would send people looking elsewhere.
//
// The cache lags behind the writes: the apply of a Service's IPv4 condition
// comes back as an update that starts the next election while the cache has
// not seen the IPv6 apply yet. So report remembers what it wrote and the
// condition the cache showed then; while the cache still shows that older
// condition, the write is done and is neither repeated nor announced with a
// second Event.
func (s *Speaker) report(ctx context.Context, as []election.Announcement, v clusterView, st map[netip.Addr]announce.Status) error {
	byKey := make(map[string]*corev1.Service, len(v.Services))
	for i := range v.Services {
		byKey[v.Services[i].Namespace+"/"+v.Services[i].Name] = &v.Services[i]
	}
	var alive []string
	for name, ok := range v.Alive {
		if ok {
			alive = append(alive, name)
		}
	}
	s.mu.Lock()
	last := s.reported
	s.mu.Unlock()
	// Only what this report looks at is remembered, so entries of Services
	// gone or addresses moved away do not pile up.
	next := map[reportKey]lastReport{}
	defer func() {
		s.mu.Lock()
		s.reported = next
		s.mu.Unlock()
	}()
	for _, a := range as {
		c, reason, mine := announcedCondition(a, s.o.NodeName, alive, st)
		if !mine {
			continue
		}
		condType := v1beta1.AnnouncedConditionType(a.IP)
		want, msg := conditionStatus(c.Announced), c.String()
		for _, key := range a.Services {
			svc := byKey[key]
			if svc == nil {
				continue
			}
			k := reportKey{key, condType}
			old := meta.FindStatusCondition(svc.Status.Conditions, condType)
			if old != nil && old.Status == want && old.Message == msg {
				continue
			}
			if r, ok := last[k]; ok && r.status == want && r.message == msg && sameCondition(r.before, old) {
				next[k] = r
				continue
			}
			cond := metav1ac.Condition().WithType(condType).WithStatus(want).
				WithReason(reason).WithMessage(msg).WithLastTransitionTime(metav1.Now()).
				WithObservedGeneration(svc.Generation)
			apply := corev1ac.Service(svc.Name, svc.Namespace).WithStatus(corev1ac.ServiceStatus().WithConditions(cond))
			if err := s.client.Status().Apply(ctx, apply, client.FieldOwner(fieldOwner(condType)), client.ForceOwnership); err != nil {
				if s.serviceGone(ctx, svc, err) {
					continue
				}
				return fmt.Errorf("speaker: service %s: reporting announcement: %w", key, err)
			}
			next[k] = lastReport{before: old.DeepCopy(), status: want, message: msg}
			if eventType, eventReason, ok := announcedEvent(old, c, reason); ok {
				s.recorder.Eventf(svc, nil, eventType, eventReason, eventAction(a.IP), "%s", msg)
			}
		}
	}
	return nil
}

// serviceGone reports whether an apply failed because svc no longer exists
// (or was replaced by another of its name). An apply to a deleted Service's
// status is a create to the API server, which refuses it as invalid (no
// spec.ports) rather than not found, so the Service is looked up again.
func (s *Speaker) serviceGone(ctx context.Context, svc *corev1.Service, err error) bool {
	if apierrors.IsNotFound(err) {
		return true
	}
	var cur corev1.Service
	switch gerr := s.client.Get(ctx, client.ObjectKeyFromObject(svc), &cur); {
	case apierrors.IsNotFound(gerr):
		return true
	case gerr == nil:
		return cur.UID != svc.UID
	}
	return false
}

// eventAction is the action of the Events about ip's announced condition:
// one per family, because the events.k8s.io recorder merges the Events of
// one object with the same type, reason and action into one series that
// shows the first note only. With a single action, the IPv6 address of a
// dual-stack Service announced just after the IPv4 one showed as the IPv4
// Event "recorded twice", and the IPv6 transition was lost.
func eventAction(ip netip.Addr) string {
	if ip.Unmap().Is6() {
		return "AnnounceIPv6"
	}
	return "AnnounceIPv4"
}

// sameCondition reports whether a and b are the same write of a condition.
func sameCondition(a, b *metav1.Condition) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message &&
		a.LastTransitionTime.Equal(&b.LastTransitionTime) && a.ObservedGeneration == b.ObservedGeneration
}

func conditionStatus(announced bool) metav1.ConditionStatus {
	if announced {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}

// announcedCondition is the announced condition this node writes for a, or
// mine false when another node writes it: the elected node writes it; for
// an address that only BGP announces, the election's BGPNode does (saying
// whether its own sessions carry it); and for an address no node may
// announce, the rendezvous winner among the alive nodes does. st is what the announcers report for this node's
// addresses.
func announcedCondition(a election.Announcement, node string, alive []string, st map[netip.Addr]announce.Status) (c v1beta1.AnnouncedMessage, reason string, mine bool) {
	switch {
	case a.Node == node:
		x, ok := st[a.IP]
		if !ok {
			x.Why = "no announcer is responsible for it"
		}
		if !x.Announced {
			return v1beta1.AnnouncedMessage{IP: a.IP, Node: node, Why: x.Why}, v1beta1.ReasonNoInterface, true
		}
		return v1beta1.AnnouncedMessage{IP: a.IP, Announced: true, Node: node, Method: x.Method, Interfaces: x.Interfaces}, v1beta1.ReasonAnnounced, true
	case a.Node == "" && a.BGPNode != "":
		// Every eligible node announces it over BGP; one speaks for all,
		// from what its own sessions say.
		if a.BGPNode != node {
			return v1beta1.AnnouncedMessage{}, "", false
		}
		x, ok := st[a.IP]
		switch {
		case ok && x.Announced && x.Method == v1beta1.MethodBGP:
			return v1beta1.AnnouncedMessage{IP: a.IP, Announced: true, Node: node, Method: v1beta1.MethodBGP}, v1beta1.ReasonAnnounced, true
		case ok && !x.Announced:
			return v1beta1.AnnouncedMessage{IP: a.IP, Why: x.Why + " on node " + node}, v1beta1.ReasonNotAnnounced, true
		}
		return v1beta1.AnnouncedMessage{IP: a.IP, Why: "no BGP peer of node " + node + " is sent it (see the BGPAdvertisements' peers and nodeSelectors)"}, v1beta1.ReasonNotAnnounced, true
	case a.Node == "" && election.Winner(a.IP, alive) == node:
		return v1beta1.AnnouncedMessage{IP: a.IP, Why: a.Reason}, v1beta1.ReasonNotAnnounced, true
	}
	return v1beta1.AnnouncedMessage{}, "", false
}

// announcedEvent returns the Event for replacing old with c, or ok false
// when the write changes neither the status nor, for an announced address,
// the node that announces it (a changed interface list, say): Events say
// who announces, and a rewrite is not news. reason is c's condition reason.
func announcedEvent(old *metav1.Condition, c v1beta1.AnnouncedMessage, reason string) (eventType, eventReason string, ok bool) {
	if old != nil && old.Status == conditionStatus(c.Announced) {
		if !c.Announced && old.Message == c.String() {
			return "", "", false
		}
		if prev, err := v1beta1.ParseAnnouncedMessage(old.Message); c.Announced && err == nil && prev.Announced && prev.Node == c.Node {
			return "", "", false
		}
	}
	if c.Announced {
		return corev1.EventTypeNormal, v1beta1.ReasonAnnouncerChanged, true
	}
	return corev1.EventTypeWarning, reason, true
}
