package suites

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
)

// TestDualStackStatusIsQuiet: a dual-stack Service carries both announced
// conditions at once, and once they are written nothing rewrites them. (The
// two speakers announcing its two addresses once deleted each other's
// condition through a shared apply field manager, ~150 writes a second.)
// An address no node may announce says so in a False condition.
func TestDualStackStatusIsQuiet(t *testing.T) {
	f := setup(t, 10, nil)
	pods := []*cluster.Pod{f.pod("node-1", "dual-1"), f.pod("node-2", "dual-2"), f.pod("node-3", "dual-3")}
	svc := f.service("dual", func(s *corev1.Service) {
		s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	})
	f.expose(svc, pods...)
	var addrs []netip.Addr
	f.eventually(10*time.Second, "two addresses", func() error {
		if err := f.c.Client.Get(f.ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return err
		}
		addrs = addrs[:0]
		for _, in := range svc.Status.LoadBalancer.Ingress {
			addrs = append(addrs, netip.MustParseAddr(in.IP))
		}
		if len(addrs) != 2 {
			return fmt.Errorf("addresses %v", addrs)
		}
		return nil
	})
	for _, a := range addrs {
		f.waitAnnouncer(svc, a, 10*time.Second, nil)
	}
	// Settle, then nothing may change for a while: not the Service, not
	// the Events.
	time.Sleep(time.Second)
	var before corev1.Service
	if err := f.c.Client.Get(f.ctx, client.ObjectKeyFromObject(svc), &before); err != nil {
		t.Fatal(err)
	}
	eventsBefore := announcerEvents(f, svc)
	time.Sleep(3 * time.Second)
	var after corev1.Service
	if err := f.c.Client.Get(f.ctx, client.ObjectKeyFromObject(svc), &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("service %s rewritten while nothing changed (resourceVersion %s → %s)", svc.Name, before.ResourceVersion, after.ResourceVersion)
	}
	for _, ct := range []string{v1beta1.ServiceConditionAnnouncedIPv4, v1beta1.ServiceConditionAnnouncedIPv6} {
		if c := meta.FindStatusCondition(after.Status.Conditions, ct); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("condition %s = %+v, want True", ct, c)
		}
	}
	if n := announcerEvents(f, svc) - eventsBefore; n != 0 {
		t.Errorf("%d AnnouncerChanged Events in 3 s while nothing changed", n)
	}

	// externalTrafficPolicy Local without endpoints: nobody may announce.
	dark := f.service("dark", local())
	ip := f.vip(dark)
	f.eventually(10*time.Second, "a NotAnnounced condition on service dark", func() error {
		var cur corev1.Service
		if err := f.c.Client.Get(f.ctx, client.ObjectKeyFromObject(dark), &cur); err != nil {
			return err
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, v1beta1.ServiceConditionAnnouncedIPv4)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "NotAnnounced" {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	f.waitNoAnswer(ip, 2*time.Second)
}

func announcerEvents(f *fixture, svc *corev1.Service) int {
	f.t.Helper()
	var list eventsv1.EventList
	if err := f.c.Client.List(f.ctx, &list, client.InNamespace(svc.Namespace)); err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, e := range list.Items {
		if e.Regarding.Name == svc.Name && e.Reason == "AnnouncerChanged" {
			n++
			if e.Series != nil {
				n += int(e.Series.Count)
			}
		}
	}
	return n
}

// TestOffLinkAddressSaysNoInterface: a pool whose addresses lie on no
// node's subnet still hands them out, but the elected node cannot answer
// ARP for them on any interface. Its speaker says so (Announced=False,
// NoInterface) instead of claiming to announce it, and nobody answers.
func TestOffLinkAddressSaysNoInterface(t *testing.T) {
	// The slot's own addresses are not used; slot 10 is shared with
	// TestDualStackStatusIsQuiet, which runs before or after, never beside.
	f := setup(t, 10, nil)
	offLink := f.name + "-offlink"
	// TEST-NET-3: on no interface of the lab.
	f.create(cluster.Pool(offLink, false, "203.0.113.240/30"))
	f.create(cluster.L2Advertisement(offLink, offLink))
	svc := f.service("offlink", cluster.FromPool(offLink))
	ip := f.vip(svc)
	f.eventually(15*time.Second, "a NoInterface condition on service offlink", func() error {
		var cur corev1.Service
		if err := f.c.Client.Get(f.ctx, client.ObjectKeyFromObject(svc), &cur); err != nil {
			return err
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, v1beta1.ServiceConditionAnnouncedIPv4)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1beta1.ReasonNoInterface ||
			!strings.Contains(c.Message, "no Ethernet interface has a subnet containing it") {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	f.waitNoAnswer(ip, 2*time.Second)
}
