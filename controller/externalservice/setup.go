package externalservice

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
	"github.com/portico-lb/portico/controller/probe/resolver"
	"github.com/portico-lb/portico/controller/probe/scheduler"
)

// Options configures the ExternalService controller.
type Options struct {
	// Resolver looks names up; when nil, a resolver reading ResolvConf.
	Resolver Resolver
	// ResolvConf is the resolv.conf naming the DNS servers and search
	// list; /etc/resolv.conf (the Pod's) when empty.
	ResolvConf string
	// DNS bounds re-resolution and the grace of a name that stops
	// resolving; probe's defaults when zero.
	DNS probe.DNSPolicy
	// PodCIDRs and NodeCIDRs are refused as targets, beside the cluster's
	// ServiceCIDRs, loopback, link-local, multicast and unspecified.
	PodCIDRs, NodeCIDRs []netip.Prefix
	// ProbeConcurrency bounds the probes in flight; 64 when unset.
	ProbeConcurrency int
	// MaxConcurrentReconciles defaults to 2.
	MaxConcurrentReconciles int
}

// Controller is the running ExternalService controller.
type Controller struct {
	metrics *metrics
}

// Collectors returns the controller's Prometheus collectors, for the
// caller to register.
func (c *Controller) Collectors() []prometheus.Collector { return c.metrics.collectors() }

// CacheByObject narrows the manager's cache to the EndpointSlices Portico
// owns, so the controller does not hold every slice of the cluster.
func CacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&discoveryv1.EndpointSlice{}: {Label: labels.SelectorFromSet(labels.Set{discoveryv1.LabelManagedBy: v1beta1.ExternalServiceManagedBy})},
	}
}

// New adds the ExternalService controller to mgr. Probes run only while
// mgr runs its leader-elected runnables.
func New(mgr ctrl.Manager, o Options) (*Controller, error) {
	if o.Resolver == nil {
		o.Resolver = resolver.New(resolver.Options{ResolvConf: o.ResolvConf})
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 2
	}
	m := newMetrics()
	queue := make(chan event.TypedGenericEvent[reconcile.Request], 4096)
	enqueue := func(key types.NamespacedName) {
		ev := event.TypedGenericEvent[reconcile.Request]{Object: reconcile.Request{NamespacedName: key}}
		select {
		case queue <- ev:
		default: // full: wait, off the probing goroutine
			go func() { queue <- ev }()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := newStore(ctx, o.Resolver, o.DNS, m, enqueue)
	st.sched = scheduler.New(scheduler.Options{Concurrency: o.ProbeConcurrency, OnResult: st.observe})
	if err := mgr.Add(probes{sched: st.sched, stop: cancel}); err != nil {
		cancel()
		return nil, fmt.Errorf("externalservice controller: %w", err)
	}
	// Endpoints are read on every reconcile; the API server's "v1
	// Endpoints is deprecated" warning on each read says nothing new, so
	// this reader drops warnings.
	cfg := rest.CopyConfig(mgr.GetConfig())
	cfg.WarningHandlerWithContext = rest.NoWarnings{}
	reader, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("externalservice controller: %w", err)
	}
	r := &Reconciler{
		client: mgr.GetClient(), apiReader: reader,
		recorder: mgr.GetEventRecorder("portico-controller"),
		store:    st, metrics: m, podCIDRs: o.PodCIDRs, nodeCIDRs: o.NodeCIDRs,
	}
	c := mgr.GetClient()
	sameName := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		key := client.ObjectKeyFromObject(obj)
		if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
			key.Name = s.Labels[discoveryv1.LabelServiceName]
		}
		var es v1beta1.ExternalService
		if err := c.Get(ctx, key, &es); err != nil {
			return nil
		}
		return []reconcile.Request{{NamespacedName: key}}
	})
	all := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list v1beta1.ExternalServiceList
		if err := c.List(ctx, &list); err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return out
	})
	transitions := source.TypedChannel[reconcile.Request, reconcile.Request](queue,
		handler.TypedFuncs[reconcile.Request, reconcile.Request]{
			GenericFunc: func(_ context.Context, e event.TypedGenericEvent[reconcile.Request], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				q.Add(e.Object)
			},
		})
	err = ctrl.NewControllerManagedBy(mgr).
		Named("externalservice").
		For(&v1beta1.ExternalService{}).
		Watches(&corev1.Service{}, sameName).
		Watches(&discoveryv1.EndpointSlice{}, sameName).
		Watches(&networkingv1.ServiceCIDR{}, all).
		WatchesRawSource(transitions).
		WithOptions(controller.Options{MaxConcurrentReconciles: o.MaxConcurrentReconciles}).
		Complete(r)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("externalservice controller: %w", err)
	}
	return &Controller{metrics: m}, nil
}

// probes runs the scheduler as a leader-elected runnable; when it stops,
// the name watchers stop with it.
type probes struct {
	sched *scheduler.Scheduler
	stop  context.CancelFunc
}

func (p probes) Start(ctx context.Context) error {
	defer p.stop()
	return p.sched.Run(ctx)
}
