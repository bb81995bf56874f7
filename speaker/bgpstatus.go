package speaker

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker/bgp/session"
)

// +kubebuilder:rbac:groups=portico.dev,namespace=portico-speaker,resources=bgpnodestatuses,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=portico.dev,namespace=portico-speaker,resources=bgpnodestatuses/status,verbs=get;patch

// sessionReporter is an announcer with BGP sessions to report (bgp.Announcer).
type sessionReporter interface {
	Sessions() []session.Status
	SessionsChanged() <-chan struct{}
}

const (
	bgpStatusOwner = "portico-speaker-bgp"
	// bgpStatusRetry is how soon a failed write is tried again.
	bgpStatusRetry = 5 * time.Second
	// bgpStatusQuiet is how long after a write a change of a session that
	// stays down (Idle, Connect, Active, OpenSent and back) waits for the
	// next: a peer that refuses every attempt changes state every few
	// seconds, and nothing in it is news.
	bgpStatusQuiet = 30 * time.Second
	// bgpStatusCounts is how long after a write a change of the counts
	// alone (prefixes sent, routes planned) waits for the next. They move
	// with every Service, and writing each step would cost the API server
	// a write per Service per node; the metrics carry them live. Anything
	// else (a session up or down, an error, a peer added or gone) is
	// written at once, and a deferred write carries the counts as they
	// are by then.
	bgpStatusCounts = 5 * time.Second
)

// Event reasons on a BGPPeer, one per session transition of one node.
const (
	reasonSessionEstablished = "SessionEstablished"
	reasonSessionDown        = "SessionDown"
	reasonSessionFailing     = "SessionFailing"
)

// bgpStatus writes this node's BGPNodeStatus, Events on its BGPPeers and the
// session metrics, from what the BGP announcer reports. It writes only when
// the report differs from what it last wrote, so writes follow session
// changes (a session that stays down writes at most every bgpStatusQuiet,
// counts at most every bgpStatusCounts), and only its own node's object.
type bgpStatus struct {
	client    client.Client
	recorder  events.EventRecorder
	node, ns  string
	src       sessionReporter
	m         *bgpMetrics
	log       logr.Logger
	prev      map[string]session.Status // by peer, as last observed
	written   *v1beta1.BGPNodeStatusStatus
	exists    bool
	lastWrite time.Time
	now       func() time.Time // default time.Now
}

// run reports at every change until ctx ends; while the API server is away
// it retries, and the sessions are not touched. A deferred write (see
// write) is made when it falls due, with the report as it is then.
func (b *bgpStatus) run(ctx context.Context) error {
	due := time.NewTimer(time.Hour)
	due.Stop()
	defer due.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.src.SessionsChanged():
		case <-due.C:
		}
		cur := b.src.Sessions()
		b.observe(ctx, cur)
		again, err := b.write(ctx, cur)
		if err != nil {
			b.log.Error(err, "writing the BGP status; retrying", "in", bgpStatusRetry)
			again = bgpStatusRetry
		}
		if again > 0 {
			due.Reset(again)
		}
	}
}

// observe records transitions: metrics, and an Event on the peer.
func (b *bgpStatus) observe(ctx context.Context, cur []session.Status) {
	next := make(map[string]session.Status, len(cur))
	for _, s := range cur {
		next[s.Peer] = s
		old, had := b.prev[s.Peer]
		up := s.State == "Established"
		b.m.up.WithLabelValues(s.Peer).Set(boolGauge(up))
		b.m.prefixes.WithLabelValues(s.Peer).Set(float64(s.PrefixesSent))
		// A cumulative count per session; one that went down (a new
		// session) counts from zero again.
		if s.UpdatesSent >= old.UpdatesSent {
			b.m.updates.WithLabelValues(s.Peer).Add(float64(s.UpdatesSent - old.UpdatesSent))
		} else {
			b.m.updates.WithLabelValues(s.Peer).Add(float64(s.UpdatesSent))
		}
		wasUp := had && old.State == "Established"
		switch {
		case up && !wasUp:
			b.event(ctx, s, corev1.EventTypeNormal, reasonSessionEstablished, "node %s: session Established", b.node)
		case !up && wasUp:
			b.m.flaps.WithLabelValues(s.Peer).Inc()
			b.event(ctx, s, corev1.EventTypeWarning, reasonSessionDown, "node %s: session went down to %s: %s", b.node, s.State, orNone(s.LastError))
		case !up && s.LastError != "" && s.LastError != old.LastError:
			b.event(ctx, s, corev1.EventTypeWarning, reasonSessionFailing, "node %s: session is %s: %s", b.node, s.State, s.LastError)
		}
	}
	for p := range b.prev {
		if _, ok := next[p]; !ok {
			b.m.up.DeleteLabelValues(p)
			b.m.prefixes.DeleteLabelValues(p)
			b.m.updates.DeleteLabelValues(p)
		}
	}
	b.prev = next
}

func (b *bgpStatus) event(ctx context.Context, s session.Status, eventType, reason, note string, args ...any) {
	var peer v1beta1.BGPPeer
	if err := b.client.Get(ctx, types.NamespacedName{Name: s.Peer}, &peer); err != nil {
		return // gone, or the cache cannot tell: the status says it anyway
	}
	b.recorder.Eventf(&peer, nil, eventType, reason, "Session", note, args...)
}

// write applies the BGPNodeStatus for cur unless it says what was last
// written. A node that never had a session writes nothing. A change that
// is not news yet (see bgpStatusQuiet, bgpStatusCounts) is not written;
// again is then how soon it falls due, else zero.
func (b *bgpStatus) write(ctx context.Context, cur []session.Status) (again time.Duration, err error) {
	want := nodeStatusFor(cur)
	if b.written != nil && equality.Semantic.DeepEqual(*b.written, want) {
		return 0, nil
	}
	if !b.exists && len(cur) == 0 {
		return 0, nil
	}
	now := time.Now
	if b.now != nil {
		now = b.now
	}
	if b.written != nil {
		if wait := holdOff(*b.written, want) - now().Sub(b.lastWrite); wait > 0 {
			return wait, nil
		}
	}
	obj := &v1beta1.BGPNodeStatus{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1beta1.GroupVersion.String(), Kind: "BGPNodeStatus"},
		ObjectMeta: metav1.ObjectMeta{Name: b.node, Namespace: b.ns},
		Spec:       v1beta1.BGPNodeStatusSpec{Node: b.node},
	}
	if !b.exists {
		// Owned by the Node, so it goes when the Node does.
		var n corev1.Node
		if err := b.client.Get(ctx, types.NamespacedName{Name: b.node}, &n); err == nil {
			obj.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}}
		}
		if err := b.client.Patch(ctx, obj, client.Apply, client.FieldOwner(bgpStatusOwner), client.ForceOwnership); err != nil {
			return 0, fmt.Errorf("speaker: BGPNodeStatus %s/%s: %w", b.ns, b.node, err)
		}
		b.exists = true
	}
	// A fresh object: the apply above filled obj in from the response.
	obj = &v1beta1.BGPNodeStatus{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1beta1.GroupVersion.String(), Kind: "BGPNodeStatus"},
		ObjectMeta: metav1.ObjectMeta{Name: b.node, Namespace: b.ns},
		Spec:       v1beta1.BGPNodeStatusSpec{Node: b.node},
		Status:     want,
	}
	if err := b.client.Status().Patch(ctx, obj, client.Apply, client.FieldOwner(bgpStatusOwner), client.ForceOwnership); err != nil {
		return 0, fmt.Errorf("speaker: BGPNodeStatus %s/%s: status: %w", b.ns, b.node, err)
	}
	b.written, b.lastWrite = &want, now()
	b.m.writes.Inc()
	return 0, nil
}

// nodeStatusFor is the status that reports cur (sorted by peer).
func nodeStatusFor(cur []session.Status) v1beta1.BGPNodeStatusStatus {
	out := v1beta1.BGPNodeStatusStatus{Peers: int32(len(cur))}
	for _, s := range cur {
		e := v1beta1.BGPNodeSession{Peer: s.Peer, State: s.State, PrefixesSent: int32(s.PrefixesSent), Routes: int32(s.Routes), LastError: s.LastError}
		if !s.Since.IsZero() {
			// The API keeps seconds; so does the comparison with what
			// was written.
			t := metav1.NewTime(s.Since.Truncate(time.Second))
			e.Since = &t
		}
		if s.State == "Established" {
			out.Established++
		} else {
			out.NotEstablished = append(out.NotEstablished, s.Peer)
		}
		out.Sessions = append(out.Sessions, e)
	}
	return out
}

// holdOff is how long after writing a the change to b may wait: zero when
// it is news (a session up or down, an error, a peer added or gone),
// bgpStatusQuiet when it also moves sessions that stay down between down
// states, and bgpStatusCounts when only counts differ.
func holdOff(a, b v1beta1.BGPNodeStatusStatus) time.Duration {
	if !equality.Semantic.DeepEqual(withoutNoise(a, true), withoutNoise(b, true)) {
		return 0
	}
	if !equality.Semantic.DeepEqual(withoutNoise(a, false), withoutNoise(b, false)) {
		return bgpStatusQuiet
	}
	return bgpStatusCounts
}

// withoutNoise is s without its counts and, with downStates, without the
// state and since of sessions that are not Established.
func withoutNoise(s v1beta1.BGPNodeStatusStatus, downStates bool) v1beta1.BGPNodeStatusStatus {
	out := s
	out.Sessions = make([]v1beta1.BGPNodeSession, len(s.Sessions))
	for i, x := range s.Sessions {
		x.PrefixesSent, x.Routes = 0, 0
		if downStates && x.State != "Established" {
			x.State, x.Since = "", nil
		}
		out.Sessions[i] = x
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "no error reported"
	}
	return s
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// bgpMetrics are the BGP session metrics, labelled by BGPPeer.
type bgpMetrics struct {
	up       *prometheus.GaugeVec
	prefixes *prometheus.GaugeVec
	flaps    *prometheus.CounterVec
	updates  *prometheus.CounterVec
	writes   prometheus.Counter
}

func newBGPMetrics() *bgpMetrics {
	return &bgpMetrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portico_bgp_session_up", Help: "1 while this node's session with the BGPPeer is Established, else 0.",
		}, []string{"peer"}),
		prefixes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portico_bgp_prefixes_advertised", Help: "Prefixes this node advertised to the BGPPeer that the peer holds.",
		}, []string{"peer"}),
		flaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_bgp_session_flaps_total", Help: "Times this node's session with the BGPPeer left Established.",
		}, []string{"peer"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_bgp_updates_sent_total", Help: "BGP UPDATE messages this node sent to the BGPPeer.",
		}, []string{"peer"}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portico_bgp_status_writes_total", Help: "Writes of this node's BGPNodeStatus.",
		}),
	}
}
