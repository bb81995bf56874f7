package speaker

import (
	"context"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	key := ns.Name + "/web"
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
