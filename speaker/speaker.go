package speaker

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/election"
	"github.com/portico-lb/portico/speaker/layer2"
	"github.com/portico-lb/portico/speaker/membership"
)

// +kubebuilder:rbac:groups="",resources=services;nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services/status,verbs=get;patch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=portico.dev,resources=ipaddresspools;l2advertisements,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=portico-speaker,resources=leases,verbs=get;list;watch;create;update;patch;delete

// fieldOwner returns the server-side-apply field manager for the announced
// condition of one family. It is shared by every speaker, so the node that
// takes an address over takes the condition over in one apply; it is per
// family because an apply carries one condition, and a manager's apply
// removes whatever that manager owned and left out: with one manager the
// IPv4 and IPv6 conditions of a dual-stack Service deleted each other.
func fieldOwner(condType string) string {
	if condType == v1beta1.ServiceConditionAnnouncedIPv6 {
		return "portico-speaker-ipv6"
	}
	return "portico-speaker-ipv4"
}

// Options configures a speaker.
type Options struct {
	// NodeName is this node; required.
	NodeName string
	// IgnoreNoClass: as the controller's flag of the same name.
	IgnoreNoClass bool
	// HandoverDelay is how long a stopping speaker keeps answering after it
	// told the others it leaves, so the new node announces first. Default 1s.
	HandoverDelay time.Duration
	// Sticky keeps every address with the node that announces it while that
	// node is alive and eligible: a returning node takes nothing back (see
	// election.Input.Sticky). Every speaker of a cluster must agree on it.
	Sticky bool
	// Membership and Layer2 are required.
	Membership *membership.Membership
	Layer2     *layer2.Responders
}

func setOptionsDefaults(o Options) Options {
	if o.HandoverDelay <= 0 {
		o.HandoverDelay = time.Second
	}
	return o
}

// Speaker elects and applies this node's share of the layer 2 announcements.
type Speaker struct {
	client   client.Client
	recorder events.EventRecorder
	o        Options
	m        *metrics

	mu        sync.Mutex
	announced map[netip.Addr][]string
	// unplacedSince is when layer 2 first found each address it places on
	// no interface; see settledUnplaced.
	unplacedSince map[netip.Addr]time.Time
	// elected is set once the first election has been applied: from then on
	// this node answers for its share (see Ready).
	elected atomic.Bool
}

var (
	_ reconcile.Reconciler = (*Speaker)(nil)
	_ manager.Runnable     = (*Speaker)(nil)
)

var electKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "elect"}}

// New adds the speaker to mgr.
func New(mgr ctrl.Manager, o Options) (*Speaker, error) {
	if o.NodeName == "" || o.Membership == nil || o.Layer2 == nil {
		return nil, fmt.Errorf("speaker: NodeName, Membership and Layer2 are required")
	}
	s := &Speaker{client: mgr.GetClient(), recorder: mgr.GetEventRecorder("portico-speaker"), o: setOptionsDefaults(o), m: newMetrics(),
		announced: map[netip.Addr][]string{}, unplacedSince: map[netip.Addr]time.Time{}}
	toElect := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{electKey}
	})
	changes := make(chan event.TypedGenericEvent[reconcile.Request])
	go func() {
		for range o.Membership.Changed() {
			changes <- event.TypedGenericEvent[reconcile.Request]{Object: electKey}
		}
	}()
	memberSource := source.TypedChannel[reconcile.Request, reconcile.Request](changes,
		handler.TypedFuncs[reconcile.Request, reconcile.Request]{
			GenericFunc: func(_ context.Context, e event.TypedGenericEvent[reconcile.Request], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				q.Add(e.Object)
			},
		})
	err := ctrl.NewControllerManagedBy(mgr).
		Named("speaker").
		Watches(&corev1.Service{}, toElect).
		Watches(&discoveryv1.EndpointSlice{}, toElect).
		Watches(&corev1.Node{}, toElect).
		Watches(&v1beta1.IPAddressPool{}, toElect).
		Watches(&v1beta1.L2Advertisement{}, toElect).
		WatchesRawSource(memberSource).
		Complete(s)
	if err != nil {
		return nil, fmt.Errorf("speaker: %w", err)
	}
	if err := mgr.Add(s); err != nil {
		return nil, fmt.Errorf("speaker: %w", err)
	}
	return s, nil
}

// Reconcile re-runs the election on any change and applies this node's share.
func (s *Speaker) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	view, err := s.read(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	as := election.Elect(electionInput(view))
	share := ownShare(as, s.o.NodeName)

	s.mu.Lock()
	gained := gainedIPs(s.announced, share)
	lost := gainedIPs(share, s.announced)
	s.announced = share
	s.mu.Unlock()
	s.m.elections.Inc()
	s.m.changes.WithLabelValues("gained").Add(float64(len(gained)))
	s.m.changes.WithLabelValues("lost").Add(float64(len(lost)))
	s.m.announced.Set(float64(len(share)))

	// Answer first, report after: the report needs the API server, the
	// answers must not wait for it.
	s.o.Layer2.Set(share)
	s.elected.Store(true)
	if len(gained) > 0 || len(lost) > 0 {
		log.FromContext(ctx).Info("announcing", "gained", gained, "lost", lost, "total", len(share))
	}
	// Addresses layer 2 puts on no interface are reported as such. Layer 2
	// rescans interfaces by itself and tells nobody, so look again soon
	// while that can still change the report.
	unplaced, known := s.o.Layer2.Unplaced(share)
	var res reconcile.Result
	if !known || len(unplaced) > 0 {
		res.RequeueAfter = unplacedRecheck
	}
	return res, s.report(ctx, as, view, s.settledUnplaced(unplaced, time.Now()))
}

const (
	// unplacedRecheck is how soon the report is checked again while layer
	// 2 has not listed interfaces yet or places some address on no
	// interface.
	unplacedRecheck = 2 * time.Second
	// noInterfaceGrace is how long an address must stay on no interface
	// before the report says so: an address is often configured just
	// after the Service got it, and while a link flaps its IPv6 addresses
	// are gone. Writing then would also block the next election on an API
	// server the flapped link cannot reach.
	noInterfaceGrace = 5 * time.Second
)

// settledUnplaced returns the addresses of unplaced that have been unplaced
// for noInterfaceGrace, and forgets those that are placed again.
func (s *Speaker) settledUnplaced(unplaced map[netip.Addr]string, now time.Time) map[netip.Addr]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.DeleteFunc(s.unplacedSince, func(ip netip.Addr, _ time.Time) bool { _, still := unplaced[ip]; return !still })
	out := map[netip.Addr]string{}
	for ip, why := range unplaced {
		since, ok := s.unplacedSince[ip]
		if !ok {
			since = now
			s.unplacedSince[ip] = now
		}
		if now.Sub(since) >= noInterfaceGrace {
			out[ip] = why
		}
	}
	return out
}

// read lists everything the election needs from the cache. When the API
// server is gone the cache keeps its last state, so membership changes are
// still judged against what was last known.
func (s *Speaker) read(ctx context.Context) (clusterView, error) {
	var (
		pools    v1beta1.IPAddressPoolList
		l2       v1beta1.L2AdvertisementList
		services corev1.ServiceList
		eps      discoveryv1.EndpointSliceList
		nodes    corev1.NodeList
	)
	for _, l := range []client.ObjectList{&pools, &l2, &services, &eps, &nodes} {
		if err := s.client.List(ctx, l); err != nil {
			return clusterView{}, fmt.Errorf("speaker: listing: %w", err)
		}
	}
	// The model comes from API state alone (statuses the controller
	// recorded included), so every speaker, whenever it started, builds the
	// one the controller uses.
	cfg, _ := config.For(config.ClusterResources{Pools: pools.Items, L2Advertisements: l2.Items, Nodes: nodes.Items})

	alive := map[string]bool{}
	for _, m := range s.o.Membership.Alive() {
		if m.Stable {
			alive[m.Name] = true
		}
	}
	return clusterView{Config: cfg, Services: services.Items, Slices: eps.Items, Nodes: nodes.Items, Alive: alive, ServeNoClass: !s.o.IgnoreNoClass, Sticky: s.o.Sticky}, nil
}

func gainedIPs(before, after map[netip.Addr][]string) []netip.Addr {
	var out []netip.Addr
	for ip := range after {
		if _, had := before[ip]; !had {
			out = append(out, ip)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// report makes every Service on an address this node announces say so in
// its announced condition, and, for addresses no node may announce, one
// speaker (the rendezvous winner among the alive ones, so they do not race)
// says that instead. It compares with the cached Service and writes only
// what differs, so it is cheap to run on every election, catches Services
// that join a shared address later, and retries by itself after the API
// server was away.
//
// An address this node was elected for but layer 2 places on no interface
// (unplaced, with the reason) is reported as not announced: nobody answers
// for it, and saying otherwise would send people looking elsewhere.
func (s *Speaker) report(ctx context.Context, as []election.Announcement, v clusterView, unplaced map[netip.Addr]string) error {
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
	for _, a := range as {
		want, reason, msg, mine := announcedCondition(a, s.o.NodeName, alive, unplaced)
		if !mine {
			continue
		}
		condType := v1beta1.ServiceConditionAnnouncedIPv4
		if a.IP.Is6() {
			condType = v1beta1.ServiceConditionAnnouncedIPv6
		}
		for _, key := range a.Services {
			svc := byKey[key]
			if svc == nil {
				continue
			}
			old := meta.FindStatusCondition(svc.Status.Conditions, condType)
			if old != nil && old.Status == want && old.Message == msg {
				continue
			}
			cond := metav1ac.Condition().WithType(condType).WithStatus(want).
				WithReason(reason).WithMessage(msg).WithLastTransitionTime(metav1.Now()).
				WithObservedGeneration(svc.Generation)
			apply := corev1ac.Service(svc.Name, svc.Namespace).WithStatus(corev1ac.ServiceStatus().WithConditions(cond))
			if err := s.client.Status().Apply(ctx, apply, client.FieldOwner(fieldOwner(condType)), client.ForceOwnership); err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return fmt.Errorf("speaker: service %s: reporting announcement: %w", key, err)
			}
			// An Event only when who announces changes, not for rewrites.
			if old == nil || old.Status != want || old.Message != msg && !strings.Contains(old.Message, " by node "+s.o.NodeName+" ") {
				eventType, eventReason := corev1.EventTypeNormal, "AnnouncerChanged"
				if want == metav1.ConditionFalse {
					eventType, eventReason = corev1.EventTypeWarning, reason
				}
				s.recorder.Eventf(svc, nil, eventType, eventReason, "Announce", "%s", msg)
			}
		}
	}
	return nil
}

// announcedCondition is the announced condition this node writes for a, or
// mine false when another node writes it: the elected node writes it, and
// for an address no node may announce, the rendezvous winner among the
// alive nodes does.
func announcedCondition(a election.Announcement, node string, alive []string, unplaced map[netip.Addr]string) (status metav1.ConditionStatus, reason, msg string, mine bool) {
	switch why, noInterface := unplaced[a.IP]; {
	case a.Node == node && noInterface:
		return metav1.ConditionFalse, v1beta1.ReasonNoInterface,
			fmt.Sprintf("%s is not announced: node %s is elected to announce it, but %s on node %s", a.IP, node, why, node), true
	case a.Node == node:
		return metav1.ConditionTrue, "Announced", announcedMessage(a, node), true
	case a.Node == "" && election.Winner(a.IP, alive) == node:
		return metav1.ConditionFalse, "NotAnnounced", fmt.Sprintf("%s is not announced: %s", a.IP, a.Reason), true
	}
	return "", "", "", false
}

func announcedMessage(a election.Announcement, node string) string {
	where := "any interface on its subnet"
	if len(a.Interfaces) > 0 {
		where = strings.Join(a.Interfaces, ", ")
	}
	return fmt.Sprintf(announcedFormat, a.IP, node, where)
}

// Start runs membership and layer 2 until ctx ends, then hands over: it
// stops defending its addresses, tells the others it leaves, keeps
// answering for HandoverDelay so the new node's gratuitous ARP goes out
// first, and only then stops answering.
func (s *Speaker) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("speaker")
	mctx, mcancel := context.WithCancel(context.WithoutCancel(ctx))
	lctx, lcancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error, c context.Context) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(c); err != nil {
				logger.Error(err, "stopped with an error", "part", name)
			}
		}()
	}
	run("membership", s.o.Membership.Run, mctx)
	run("layer2", s.o.Layer2.Run, lctx)

	<-ctx.Done()
	// The new node's gratuitous announcements are the point of a handover:
	// they must not be defended against.
	s.o.Layer2.Yield()
	handover(logger, s.o.Membership, s.o.HandoverDelay)
	lcancel()
	mcancel()
	wg.Wait()
	return nil
}

func handover(logger logr.Logger, m *membership.Membership, delay time.Duration) {
	if err := m.Leave(delay); err != nil {
		logger.Error(err, "leaving the membership")
	}
	logger.Info("left the membership; answering during handover", "delay", delay)
	time.Sleep(delay)
}
