package speaker

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/kubeapi"
	"github.com/portico-lb/portico/speaker/bgp/session"
)

// TestBGPStatus: a node's BGPNodeStatus is written when a session changes
// and not otherwise, says why a session fails, is owned by the Node, and
// every transition gives one Event on the BGPPeer.
func TestBGPStatus(t *testing.T) {
	kubeapi.NeedServer(t, apiConfig != nil, apiSkipWhy)
	ctx := context.Background()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1beta1.AddToScheme(scheme)
	c, err := client.New(apiConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bgpstatus-"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bgp-status-node"}}
	peer := &v1beta1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor"}, Spec: v1beta1.BGPPeerSpec{MyASN: 64513, PeerASN: 64512, PeerAddress: "192.0.2.1"}}
	for _, o := range []client.Object{ns, node, peer} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), o) })
	}
	rec := events.NewFakeRecorder(100)
	clock := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	b := &bgpStatus{client: c, recorder: rec, node: node.Name, ns: ns.Name, m: newBGPMetrics(), log: logr.Discard(),
		now: func() time.Time { return clock }}
	step := func(cur []session.Status) {
		t.Helper()
		b.observe(ctx, cur)
		if err := b.write(ctx, cur); err != nil {
			t.Fatal(err)
		}
	}
	events := func() []string {
		var out []string
		for {
			select {
			case e := <-rec.Events:
				out = append(out, strings.SplitN(e, " ", 3)[1])
			default:
				return out
			}
		}
	}
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	step(nil) // no session: nothing written
	if got := testutil.ToFloat64(b.m.writes); got != 0 {
		t.Fatalf("writes with no session = %v, want 0", got)
	}
	refused := "connection refused by 192.0.2.1:179"
	active := []session.Status{{Peer: "tor", State: "Active", Since: since, Routes: 2, LastError: refused}}
	step(active)
	step(active) // unchanged: no write, no Event
	// Still down, another state: not news, written after bgpStatusQuiet.
	connect := []session.Status{{Peer: "tor", State: "Connect", Since: since.Add(time.Second), Routes: 2, LastError: refused}}
	step(connect)
	if got := testutil.ToFloat64(b.m.writes); got != 1 {
		t.Errorf("writes after Active → Connect = %v, want 1 (quiet)", got)
	}
	clock = clock.Add(bgpStatusQuiet)
	step(connect)
	if got := testutil.ToFloat64(b.m.writes); got != 2 {
		t.Errorf("writes %v after the quiet time = %v, want 2", bgpStatusQuiet, got)
	}
	up := []session.Status{{Peer: "tor", State: "Established", Since: since.Add(time.Minute), PrefixesSent: 2, Routes: 2, UpdatesSent: 2}}
	step(up)
	step(up)
	if got := testutil.ToFloat64(b.m.writes); got != 3 {
		t.Errorf("writes = %v, want 3 (Active, Connect after the quiet time, Established)", got)
	}
	if diff := cmp.Diff([]string{reasonSessionFailing, reasonSessionEstablished}, events()); diff != "" {
		t.Errorf("Event reasons (-want +got):\n%s", diff)
	}

	var got v1beta1.BGPNodeStatus
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: node.Name}, &got); err != nil {
		t.Fatal(err)
	}
	want := v1beta1.BGPNodeStatusStatus{Peers: 1, Established: 1, Sessions: []v1beta1.BGPNodeSession{
		{Peer: "tor", State: "Established", Since: &metav1.Time{Time: since.Add(time.Minute)}, PrefixesSent: 2, Routes: 2}}}
	if diff := cmp.Diff(want, got.Status, cmp.Comparer(func(a, b metav1.Time) bool { return a.Equal(&b) })); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if got.Spec.Node != node.Name || len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != node.UID {
		t.Errorf("spec.node %q, owners %v; want %q owned by the Node", got.Spec.Node, got.OwnerReferences, node.Name)
	}

	down := []session.Status{{Peer: "tor", State: "Idle", Since: since.Add(2 * time.Minute), Routes: 2, LastError: "hold timer expired"}}
	step(down)
	if diff := cmp.Diff([]string{reasonSessionDown}, events()); diff != "" {
		t.Errorf("Event reasons going down (-want +got):\n%s", diff)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: node.Name}, &got); err != nil {
		t.Fatal(err)
	}
	if s := got.Status.Sessions; got.Status.Established != 0 || len(s) != 1 || s[0].LastError != "hold timer expired" || !slices.Equal(got.Status.NotEstablished, []string{"tor"}) {
		t.Errorf("status after the session went down = %+v", got.Status)
	}
	// The new session's counter starts from zero; the metric goes on.
	step([]session.Status{{Peer: "tor", State: "Established", Since: since.Add(3 * time.Minute), PrefixesSent: 2, Routes: 2, UpdatesSent: 1}})
	if got := testutil.ToFloat64(b.m.updates.WithLabelValues("tor")); got != 3 {
		t.Errorf("portico_bgp_updates_sent_total = %v, want 3 (2, then 1 on the new session)", got)
	}
	if got := testutil.ToFloat64(b.m.flaps.WithLabelValues("tor")); got != 1 {
		t.Errorf("portico_bgp_session_flaps_total = %v, want 1", got)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: node.Name}, &got); err != nil {
		t.Fatal(err)
	}
	// spec.node is immutable (CEL).
	got.Spec.Node = "other"
	if err := c.Update(ctx, &got); err == nil || !strings.Contains(err.Error(), "spec.node cannot change") {
		t.Errorf("changing spec.node: %v, want the CEL rule's message", err)
	}
}
