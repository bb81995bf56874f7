package speaker

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/kubeapi"
	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/election"
)

// TestReportStaleCache is the duplicate AnnouncerChanged Event of web's
// IPv6 address at `make lab` start-up: the IPv4 apply comes back as an
// update and starts the next election while the cache has not seen the
// IPv6 apply, so the next report still finds no IPv6 condition. Each
// transition must give one Event however often a stale cache is reported
// on, and memory of a write must not hide a real transition later (another
// node takes the address, this one takes it back).
func TestReportStaleCache(t *testing.T) {
	ctx := context.Background()
	c, svc, v4, v6 := dualStackService(t)
	key := svc.Namespace + "/web"
	as := []election.Announcement{{IP: v4, Node: "node-1", Services: []string{key}}, {IP: v6, Node: "node-1", Services: []string{key}}}
	st := map[netip.Addr]announce.Status{v4: {Announced: true, Method: "ARP/NDP"}, v6: {Announced: true, Method: "ARP/NDP"}}

	rec := events.NewFakeRecorder(100)
	s := &Speaker{client: c, recorder: rec, o: Options{NodeName: "node-1"}, reported: map[reportKey]lastReport{}}
	fresh := func() clusterView {
		var cur corev1.Service
		if err := c.Get(ctx, client.ObjectKeyFromObject(svc), &cur); err != nil {
			t.Fatal(err)
		}
		return clusterView{Services: []corev1.Service{cur}, Alive: map[string]bool{"node-1": true, "node-2": true}}
	}
	report := func(v clusterView, as []election.Announcement, st map[netip.Addr]announce.Status) []string {
		t.Helper()
		if err := s.report(ctx, as, v, st); err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(rec.Events) > 0 {
			got = append(got, <-rec.Events)
		}
		return got
	}
	changed := func(ip netip.Addr, node string) string {
		return "Normal " + v1beta1.ReasonAnnouncerChanged + " " + v1beta1.AnnouncedMessage{IP: ip, Announced: true, Node: node, Method: "ARP/NDP"}.String()
	}

	stale := fresh() // from before any condition was written
	if d := cmp.Diff([]string{changed(v4, "node-1"), changed(v6, "node-1")}, report(stale, as, st)); d != "" {
		t.Errorf("first report: Events (-want +got):\n%s", d)
	}
	// The cache has seen the IPv4 apply only.
	half := stale.Services[0].DeepCopy()
	meta.SetStatusCondition(&half.Status.Conditions, *meta.FindStatusCondition(fresh().Services[0].Status.Conditions, v1beta1.ServiceConditionAnnouncedIPv4))
	halfView := stale
	halfView.Services = []corev1.Service{*half}
	for i, v := range []clusterView{stale, halfView, halfView} {
		if got := report(v, as, st); len(got) > 0 {
			t.Errorf("report %d on a stale cache: Events %q, want none", i+2, got)
		}
	}
	if got := report(fresh(), as, st); len(got) > 0 {
		t.Errorf("report on the caught-up cache: Events %q, want none", got)
	}

	// node-2 takes the IPv6 address, writing the condition as every
	// speaker does; then node-1 takes it back.
	s2 := &Speaker{client: c, recorder: events.NewFakeRecorder(10), o: Options{NodeName: "node-2"}, reported: map[reportKey]lastReport{}}
	moved := []election.Announcement{as[0], {IP: v6, Node: "node-2", Services: []string{key}}}
	if err := s2.report(ctx, moved, fresh(), st); err != nil {
		t.Fatal(err)
	}
	if got := report(fresh(), moved, st); len(got) > 0 {
		t.Errorf("node-1 after node-2 took the IPv6 address: Events %q, want none", got)
	}
	if d := cmp.Diff([]string{changed(v6, "node-1")}, report(fresh(), as, st)); d != "" {
		t.Errorf("node-1 takes the IPv6 address back: Events (-want +got):\n%s", d)
	}
	if got := v1beta1.AnnouncingNode(&fresh().Services[0], v6); got != "node-1" {
		t.Errorf("IPv6 condition names %q, want node-1", got)
	}
}

// dualStackService creates Service web with an IPv4 and an IPv6 address in
// a namespace of its own on the test's API server.
func dualStackService(t *testing.T) (client.Client, *corev1.Service, netip.Addr, netip.Addr) {
	t.Helper()
	kubeapi.NeedServer(t, apiConfig != nil, apiSkipWhy)
	ctx := context.Background()
	c, err := client.New(apiConfig, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "report-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	v4, v6 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}},
			IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicyPreferDualStack)},
	}
	if err := c.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: v4.String()}, {IP: v6.String()}}
	if err := c.Status().Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	return c, svc, v4, v6
}

// TestReportEventPerFamily is what `make lab` showed as web's Event
// "recorded twice": the events.k8s.io recorder merges Events of one object
// with the same type, reason and action into a series that keeps the first
// note, so the IPv4 and IPv6 transitions of a dual-stack Service, reported
// together, became one Event of count 2 and the second note was lost. Each
// family's transition must be an Event of its own, through the real
// recorder and API server.
func TestReportEventPerFamily(t *testing.T) {
	c, svc, v4, v6 := dualStackService(t)
	cs, err := kubernetes.NewForConfig(apiConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	s := &Speaker{client: c, recorder: b.NewRecorder(clientgoscheme.Scheme, "portico-speaker"), o: Options{NodeName: "node-1"}, reported: map[reportKey]lastReport{}}

	key := svc.Namespace + "/web"
	as := []election.Announcement{{IP: v4, Node: "node-1", Services: []string{key}}, {IP: v6, Node: "node-1", Services: []string{key}}}
	st := map[netip.Addr]announce.Status{v4: {Announced: true, Method: "ARP/NDP"}, v6: {Announced: true, Method: "ARP/NDP"}}
	var cur corev1.Service
	if err := c.Get(ctx, client.ObjectKeyFromObject(svc), &cur); err != nil {
		t.Fatal(err)
	}
	if err := s.report(ctx, as, clusterView{Services: []corev1.Service{cur}}, st); err != nil {
		t.Fatal(err)
	}

	msg := func(ip netip.Addr) string {
		return v1beta1.AnnouncedMessage{IP: ip, Announced: true, Node: "node-1", Method: "ARP/NDP"}.String()
	}
	want := map[string]int{msg(v4): 1, msg(v6): 1}
	var got map[string]int
	// The recorder writes in the background; the bound only ends a wait
	// for Events that never come.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var list eventsv1.EventList
		if err := c.List(ctx, &list, client.InNamespace(svc.Namespace)); err != nil {
			t.Fatal(err)
		}
		got = map[string]int{}
		total := 0
		for _, e := range list.Items {
			n := 1
			if e.Series != nil {
				n = int(e.Series.Count)
			}
			got[e.Note] += n
			total += n
		}
		if total >= 2 {
			break
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("AnnouncerChanged Events by note, with their counts (-want +got):\n%s", d)
	}
}

// TestReportDeletedService: a Service deleted after the view was taken is
// skipped, not an error: the apply of its condition would be a create,
// which the API server refuses as invalid.
func TestReportDeletedService(t *testing.T) {
	ctx := context.Background()
	c, svc, v4, _ := dualStackService(t)
	var cur corev1.Service
	if err := c.Get(ctx, client.ObjectKeyFromObject(svc), &cur); err != nil {
		t.Fatal(err)
	}
	view := clusterView{Services: []corev1.Service{cur}, Alive: map[string]bool{"node-1": true}}
	if err := c.Delete(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	rec := events.NewFakeRecorder(10)
	s := &Speaker{client: c, recorder: rec, o: Options{NodeName: "node-1"}, reported: map[reportKey]lastReport{}}
	as := []election.Announcement{{IP: v4, Node: "node-1", Services: []string{svc.Namespace + "/" + svc.Name}}}
	st := map[netip.Addr]announce.Status{v4: {Announced: true, Method: "ARP/NDP"}}
	if err := s.report(ctx, as, view, st); err != nil {
		t.Errorf("report on a deleted Service: %v", err)
	}
	if len(rec.Events) != 0 {
		t.Errorf("Events for a deleted Service: %q", <-rec.Events)
	}
}
