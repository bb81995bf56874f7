package speaker

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/bgp/routes"
	"github.com/portico-lb/portico/speaker/election"
	"github.com/portico-lb/portico/speaker/membership"
)

// +kubebuilder:rbac:groups="",resources=services;nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services/status,verbs=get;patch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=portico.dev,resources=ipaddresspools;l2advertisements;bgppeers;bgpadvertisements,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=portico-system,resources=secrets,verbs=get;list;watch
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
	// Namespace is the speakers' namespace, where each node's
	// BGPNodeStatus is. Default portico-speaker.
	Namespace string
	// InstallNamespace is Portico's namespace (the controller's), where
	// BGPPeer password Secrets without a namespace are. The manager's cache
	// must hold that namespace's Secrets. Default portico-system.
	InstallNamespace string
	// Membership and at least one announcer are required.
	Membership *membership.Membership
	Announcers []Announcer
}

// A configured announcer also needs the configuration model and this node
// (BGP: its peers, advertisements, labels and router ID). The speaker hands
// them over before every Announce.
type configured interface {
	SetConfig(model *config.Config, node routes.Node, nodeIPv4 netip.Addr)
}

// An Announcer makes this node's share of the addresses reachable by one
// method: layer2.Responders by ARP/NDP today, BGP next. The speaker hands
// every announcer the same desired state and each takes what it needs (one
// node per address for layer 2, every eligible node for BGP).
type Announcer interface {
	// Announce replaces the desired state. It must not wait on I/O: the
	// election runs again at every change and must not queue behind
	// sockets.
	Announce(announce.Desired)
	// Status reports, for each address of the desired state the announcer
	// is responsible for, whether it announces it, how, or why not. known
	// is false while it cannot tell yet (layer 2 before it listed
	// interfaces); the speaker then looks again soon.
	Status(announce.Desired) (st map[netip.Addr]announce.Status, known bool)
	// Run announces until ctx ends.
	Run(ctx context.Context) error
	// Yield stops defending the addresses against other stations' claims
	// while still announcing them: a stopping speaker calls it first, so
	// the node taking over is not fought.
	Yield()
}

const (
	defaultHandoverDelay    = time.Second
	defaultInstallNamespace = "portico-system"
	defaultNamespace        = "portico-speaker"
)

// setOptionsDefaults fills every unset field. It does not validate.
func setOptionsDefaults(o Options) Options {
	if o.HandoverDelay <= 0 {
		o.HandoverDelay = defaultHandoverDelay
	}
	if o.Namespace == "" {
		o.Namespace = defaultNamespace
	}
	if o.InstallNamespace == "" {
		o.InstallNamespace = defaultInstallNamespace
	}
	return o
}

// Speaker elects and applies this node's share of the layer 2 announcements.
type Speaker struct {
	client   client.Client
	recorder events.EventRecorder
	o        Options
	m        *metrics
	bgpm     *bgpMetrics

	mu sync.Mutex
	// share is what this node was last elected for (see Reconcile).
	share map[netip.Addr][]string
	// reported is what report last wrote per Service and condition, until
	// the cache shows it; see report.
	reported map[reportKey]lastReport
	// unplacedSince is when layer 2 first found each address it places on
	// no interface; see settledUnplaced.
	unplacedSince map[netip.Addr]time.Time
	// elected is set once the first election has been applied: from then on
	// this node answers for its share (see Ready).
	elected atomic.Bool
	// wasAlive is set once membership counted this node alive: from then on
	// it knows what it announces (see routes.Node.Settled).
	wasAlive atomic.Bool
}

var (
	_ reconcile.Reconciler = (*Speaker)(nil)
	_ manager.Runnable     = (*Speaker)(nil)
)

var electKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "elect"}}

// New adds the speaker to mgr.
func New(mgr ctrl.Manager, o Options) (*Speaker, error) {
	if o.NodeName == "" || o.Membership == nil || len(o.Announcers) == 0 || slices.Contains(o.Announcers, nil) {
		return nil, fmt.Errorf("speaker: NodeName, Membership and Announcers are required")
	}
	s := &Speaker{client: mgr.GetClient(), recorder: mgr.GetEventRecorder("portico-speaker"), o: setOptionsDefaults(o), m: newMetrics(), bgpm: newBGPMetrics(),
		share: map[netip.Addr][]string{}, unplacedSince: map[netip.Addr]time.Time{}, reported: map[reportKey]lastReport{}}
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
		Watches(&corev1.Service{}, toElect, builder.WithPredicates(electedServices(!o.IgnoreNoClass))).
		Watches(&discoveryv1.EndpointSlice{}, toElect).
		Watches(&corev1.Node{}, toElect).
		Watches(&v1beta1.IPAddressPool{}, toElect).
		Watches(&v1beta1.L2Advertisement{}, toElect).
		Watches(&v1beta1.BGPPeer{}, toElect).
		Watches(&v1beta1.BGPAdvertisement{}, toElect).
		Watches(&corev1.Secret{}, toElect).
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

// electedServices passes the Service events that can change the election:
// those of a Service that, before or after, Portico serves and that has an
// address (electionInput ignores every other). A cluster's ClusterIP
// Services, other classes' load balancers and a new Service still waiting
// for the controller's address then cost the speakers nothing; each run of
// the election reads and judges every Service, so a burst of 1000 creates
// used to cost every speaker a full election per create it saw.
func electedServices(serveNoClass bool) predicate.Funcs {
	elected := func(o client.Object) bool {
		svc, ok := o.(*corev1.Service)
		return ok && v1beta1.Serves(svc, serveNoClass) && len(v1beta1.IngressAddrs(svc)) > 0
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return elected(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return elected(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return elected(e.ObjectOld) || elected(e.ObjectNew) },
		GenericFunc: func(event.GenericEvent) bool { return true },
	}
}

// Reconcile re-runs the election on any change and applies this node's share.
func (s *Speaker) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	view, err := s.read(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	as, desired := election.Desire(electionInput(view), s.o.NodeName)
	share := desired.Elected()

	s.mu.Lock()
	gained := gainedIPs(s.share, share)
	lost := gainedIPs(share, s.share)
	s.share = share
	s.mu.Unlock()
	s.m.elections.Inc()
	s.m.changes.WithLabelValues("gained").Add(float64(len(gained)))
	s.m.changes.WithLabelValues("lost").Add(float64(len(lost)))
	s.m.announced.Set(float64(len(share)))

	// Answer first, report after: the report needs the API server, the
	// answers must not wait for it.
	self, selfIPv4 := thisNode(view.Nodes, s.o.NodeName)
	if view.Alive[s.o.NodeName] {
		s.wasAlive.Store(true)
	}
	self.Settled = s.wasAlive.Load()
	for _, an := range s.o.Announcers {
		if c, ok := an.(configured); ok {
			c.SetConfig(view.Config, self, selfIPv4)
		}
		an.Announce(desired)
	}
	s.elected.Store(true)
	if len(gained) > 0 || len(lost) > 0 {
		log.FromContext(ctx).Info("announcing", "gained", gained, "lost", lost, "total", len(share))
	}
	// Addresses no announcer announces are reported as such. Layer 2
	// rescans interfaces by itself and tells nobody, so look again soon
	// while that can still change the report.
	st, known := statuses(s.o.Announcers, desired)
	var res reconcile.Result
	recheck := !known
	for _, x := range st {
		recheck = recheck || !x.Announced
	}
	if recheck {
		res.RequeueAfter = unplacedRecheck
	}
	return res, s.report(ctx, as, view, s.settle(st, time.Now()))
}

// statuses merges the announcers' statuses: an address is announced when
// one announcer announces it, and otherwise reported as the first one that
// is responsible for it says. known is false while any cannot tell yet.
func statuses(ans []Announcer, d announce.Desired) (map[netip.Addr]announce.Status, bool) {
	out := map[netip.Addr]announce.Status{}
	known := true
	for _, an := range ans {
		st, k := an.Status(d)
		known = known && k
		for ip, x := range st {
			if cur, ok := out[ip]; !ok || !cur.Announced && x.Announced {
				out[ip] = x
			}
		}
	}
	return out, known
}

// settle returns st with the addresses that have not been unannounced for
// noInterfaceGrace yet counted as announced (see settledUnplaced).
func (s *Speaker) settle(st map[netip.Addr]announce.Status, now time.Time) map[netip.Addr]announce.Status {
	unplaced := map[netip.Addr]string{}
	for ip, x := range st {
		if !x.Announced {
			unplaced[ip] = x.Why
		}
	}
	settled := s.settledUnplaced(unplaced, now)
	out := make(map[netip.Addr]announce.Status, len(st))
	for ip, x := range st {
		if _, ok := settled[ip]; !x.Announced && !ok {
			x.Announced, x.Why = true, ""
		}
		out[ip] = x
	}
	return out
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
		peers    v1beta1.BGPPeerList
		bgpAds   v1beta1.BGPAdvertisementList
		secrets  corev1.SecretList
	)
	for _, l := range []client.ObjectList{&pools, &l2, &services, &eps, &nodes, &peers, &bgpAds} {
		if err := s.client.List(ctx, l); err != nil {
			return clusterView{}, fmt.Errorf("speaker: listing: %w", err)
		}
	}
	// Only Portico's namespace: BGPPeer passwords are there, and the
	// speaker may read no other namespace's Secrets.
	if err := s.client.List(ctx, &secrets, client.InNamespace(s.o.InstallNamespace)); err != nil {
		return clusterView{}, fmt.Errorf("speaker: listing Secrets in %s: %w", s.o.InstallNamespace, err)
	}
	// The model comes from API state alone (statuses the controller
	// recorded included), so every speaker, whenever it started, builds the
	// one the controller uses.
	cfg, _ := config.For(config.ClusterResources{Pools: pools.Items, L2Advertisements: l2.Items,
		BGPPeers: peers.Items, BGPAdvertisements: bgpAds.Items, Secrets: secrets.Items,
		Nodes: nodes.Items, InstallNamespace: s.o.InstallNamespace})

	alive := map[string]bool{}
	for _, m := range s.o.Membership.Alive() {
		if m.Stable {
			alive[m.Name] = true
		}
	}
	return clusterView{Config: cfg, Services: services.Items, Slices: eps.Items, Nodes: nodes.Items, Alive: alive, ServeNoClass: !s.o.IgnoreNoClass, Sticky: s.o.Sticky}, nil
}

// thisNode returns node's labels and its first IPv4 InternalIP (the BGP
// router ID unless a BGPPeer sets one), zero when it has none.
func thisNode(nodes []corev1.Node, node string) (routes.Node, netip.Addr) {
	for i := range nodes {
		n := &nodes[i]
		if n.Name != node {
			continue
		}
		for _, a := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); a.Type == corev1.NodeInternalIP && err == nil && ip.Unmap().Is4() {
				return routes.Node{Name: node, Labels: n.Labels}, ip.Unmap()
			}
		}
		return routes.Node{Name: node, Labels: n.Labels}, netip.Addr{}
	}
	return routes.Node{Name: node}, netip.Addr{}
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

// Start runs membership and the announcers until ctx ends, then hands
// over: it stops defending its addresses (BGP withdraws its routes at
// once, while the node still forwards), tells the others it leaves, keeps
// answering for HandoverDelay so the new node's gratuitous ARP goes
// out first, and only then stops answering.
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
	for _, an := range s.o.Announcers {
		run(fmt.Sprintf("%T", an), an.Run, lctx)
		if r, ok := an.(sessionReporter); ok {
			b := &bgpStatus{client: s.client, recorder: s.recorder, node: s.o.NodeName, ns: s.o.Namespace, src: r, m: s.bgpm, log: logger.WithName("bgp-status")}
			run("bgp-status", b.run, lctx)
		}
	}

	<-ctx.Done()
	// The new node's gratuitous announcements are the point of a handover:
	// they must not be defended against.
	for _, an := range s.o.Announcers {
		an.Yield()
	}
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
