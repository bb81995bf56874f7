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
		if _, err := b.write(ctx, cur); err != nil {
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

// TestBGPStatusCounts: while Services come one after another, the prefix
// counts change with each, and the BGPNodeStatus is written at most every
// bgpStatusCounts rather than once per Service; the last counts are
// written once they fall due, and a session going down meanwhile is
// written at once.
func TestBGPStatusCounts(t *testing.T) {
	kubeapi.NeedServer(t, apiConfig != nil, apiSkipWhy)
	ctx := context.Background()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1beta1.AddToScheme(scheme)
	c, err := client.New(apiConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bgpcounts-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	clock := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	b := &bgpStatus{client: c, recorder: events.NewFakeRecorder(100), node: "bgp-counts-node", ns: ns.Name, m: newBGPMetrics(), log: logr.Discard(),
		now: func() time.Time { return clock }}
	since := clock.Add(-time.Hour)
	up := func(n int) []session.Status {
		return []session.Status{{Peer: "tor", State: "Established", Since: since, PrefixesSent: n, Routes: n}}
	}
	write := func(cur []session.Status) time.Duration {
		t.Helper()
		b.observe(ctx, cur)
		again, err := b.write(ctx, cur)
		if err != nil {
			t.Fatal(err)
		}
		return again
	}
	writes := func() int { return int(testutil.ToFloat64(b.m.writes)) }
	stored := func() v1beta1.BGPNodeSession {
		t.Helper()
		var got v1beta1.BGPNodeStatus
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: b.node}, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Status.Sessions) != 1 {
			t.Fatalf("sessions %+v", got.Status.Sessions)
		}
		return got.Status.Sessions[0]
	}

	write(up(0))
	// 1000 Services over 10 s, one every 10 ms.
	const n, every = 1000, 10 * time.Millisecond
	var again time.Duration
	for i := 1; i <= n; i++ {
		clock = clock.Add(every)
		again = write(up(i))
	}
	// The first write, then one per bgpStatusCounts at most.
	if limit := 1 + int(n*every/bgpStatusCounts); writes() > limit {
		t.Errorf("%d writes for %d count changes over %v; want at most %d", writes(), n, n*every, limit)
	}
	if got := stored().PrefixesSent; got == n && again > 0 || got != n && again <= 0 {
		t.Fatalf("stored %d prefixes with the next write due in %v; want %d written or a write due", got, again, n)
	}
	if again > 0 {
		clock = clock.Add(again)
		if next := write(up(n)); next != 0 {
			t.Errorf("the due write was put off again by %v", next)
		}
	}
	if got := stored().PrefixesSent; got != n {
		t.Errorf("prefixes sent in the status after the due write = %d, want %d", got, n)
	}

	// A session going down is news: written at once, counts or not.
	before := writes()
	clock = clock.Add(time.Millisecond)
	down := []session.Status{{Peer: "tor", State: "Idle", Since: clock, Routes: n, LastError: "hold timer expired"}}
	if again := write(down); again != 0 || writes() != before+1 || stored().State != "Idle" {
		t.Errorf("session down: again %v, writes %d → %d, stored %+v; want written at once", again, before, writes(), stored())
	}
}

func TestHoldOff(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	later := metav1.NewTime(at.Add(time.Minute))
	st := func(ss ...v1beta1.BGPNodeSession) v1beta1.BGPNodeStatusStatus {
		out := v1beta1.BGPNodeStatusStatus{Peers: int32(len(ss))}
		for _, s := range ss {
			if s.State == "Established" {
				out.Established++
			} else {
				out.NotEstablished = append(out.NotEstablished, s.Peer)
			}
		}
		out.Sessions = ss
		return out
	}
	up := v1beta1.BGPNodeSession{Peer: "tor", State: "Established", Since: &at, PrefixesSent: 3, Routes: 3}
	active := v1beta1.BGPNodeSession{Peer: "tor", State: "Active", Since: &at, Routes: 3, LastError: "refused"}
	with := func(s v1beta1.BGPNodeSession, f func(*v1beta1.BGPNodeSession)) v1beta1.BGPNodeSession {
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name string
		a, b v1beta1.BGPNodeStatusStatus
		want time.Duration
	}{
		{"prefixes sent", st(up), st(with(up, func(s *v1beta1.BGPNodeSession) { s.PrefixesSent = 4 })), bgpStatusCounts},
		{"routes planned", st(up), st(with(up, func(s *v1beta1.BGPNodeSession) { s.Routes = 9 })), bgpStatusCounts},
		{"routes of a session that is down", st(active), st(with(active, func(s *v1beta1.BGPNodeSession) { s.Routes = 9 })), bgpStatusCounts},
		{"down to another down state", st(active), st(with(active, func(s *v1beta1.BGPNodeSession) { s.State, s.Since = "Connect", &later })), bgpStatusQuiet},
		{"down state and counts", st(active), st(with(active, func(s *v1beta1.BGPNodeSession) { s.State, s.Routes = "Connect", 1 })), bgpStatusQuiet},
		{"went down", st(up), st(active), 0},
		{"came up", st(active), st(up), 0},
		{"re-established", st(up), st(with(up, func(s *v1beta1.BGPNodeSession) { s.Since = &later })), 0},
		{"new error", st(active), st(with(active, func(s *v1beta1.BGPNodeSession) { s.LastError = "bad peer AS" })), 0},
		{"peer added", st(up), st(up, with(active, func(s *v1beta1.BGPNodeSession) { s.Peer = "tor-2" })), 0},
		{"peer gone", st(up), st(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := holdOff(tc.a, tc.b); got != tc.want {
				t.Errorf("holdOff = %v, want %v", got, tc.want)
			}
		})
	}
}
