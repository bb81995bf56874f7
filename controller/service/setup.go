package service

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/portico-lb/portico/controller/ipam"
)

// Options configures the Service controller.
type Options struct {
	// IPAM decides addresses; required.
	IPAM *ipam.IPAM
	// Load loads the configuration into IPAM; required.
	Load Loader
	// IgnoreNoClass stops Portico from serving Services without a
	// spec.loadBalancerClass (it always serves portico.dev/lb).
	IgnoreNoClass bool
	// MaxConcurrentReconciles defaults to DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
	// AllocationChanged is called after any allocation may have changed.
	AllocationChanged func()
}

// DefaultMaxConcurrentReconciles is Options.MaxConcurrentReconciles when
// unset; the controller's --workers flag shows it.
const DefaultMaxConcurrentReconciles = 4

func setOptionsDefaults(o Options) Options {
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if o.AllocationChanged == nil {
		o.AllocationChanged = func() {}
	}
	return o
}

// Controller is the running Service controller.
type Controller struct {
	r       *Reconciler
	client  client.Reader
	retries chan event.TypedGenericEvent[reconcile.Request]
}

// New adds the Service controller to mgr.
func New(mgr ctrl.Manager, o Options) (*Controller, error) {
	if o.IPAM == nil || o.Load == nil {
		return nil, fmt.Errorf("service controller: IPAM and Load are required")
	}
	o = setOptionsDefaults(o)
	c := &Controller{
		client:  mgr.GetClient(),
		retries: make(chan event.TypedGenericEvent[reconcile.Request], 1024),
	}
	c.r = &Reconciler{
		client:       mgr.GetClient(),
		recorder:     mgr.GetEventRecorder("portico-controller"),
		ipam:         o.IPAM,
		serveNoClass: !o.IgnoreNoClass,
		load:         o.Load,
		changed:      o.AllocationChanged,
	}
	c.r.enqueue = c.enqueueAsync

	retrySource := source.TypedChannel[reconcile.Request, reconcile.Request](c.retries,
		handler.TypedFuncs[reconcile.Request, reconcile.Request]{
			GenericFunc: func(_ context.Context, e event.TypedGenericEvent[reconcile.Request], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				q.Add(e.Object)
			},
		})
	err := ctrl.NewControllerManagedBy(mgr).
		Named("service").
		For(&corev1.Service{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(c.servicesInNamespace),
			builder.WithPredicates(labelsChanged())).
		WatchesRawSource(retrySource).
		WithOptions(controller.Options{MaxConcurrentReconciles: o.MaxConcurrentReconciles}).
		Complete(c.r)
	if err != nil {
		return nil, fmt.Errorf("service controller: %w", err)
	}
	return c, nil
}

// ResyncAll queues every Service again, after the configuration changed.
func (c *Controller) ResyncAll(ctx context.Context) error {
	var list corev1.ServiceList
	if err := c.client.List(ctx, &list); err != nil {
		return fmt.Errorf("service controller: listing services: %w", err)
	}
	keys := make([]types.NamespacedName, 0, len(list.Items))
	for i := range list.Items {
		keys = append(keys, client.ObjectKeyFromObject(&list.Items[i]))
	}
	c.enqueueAsync(keys)
	return nil
}

// enqueueAsync hands keys to the work queue without blocking the caller,
// which may be inside a reconcile.
func (c *Controller) enqueueAsync(keys []types.NamespacedName) {
	go func() {
		for _, k := range keys {
			c.retries <- event.TypedGenericEvent[reconcile.Request]{Object: reconcile.Request{NamespacedName: k}}
		}
	}()
}

// servicesInNamespace maps a Namespace whose labels changed to its Services,
// since namespaceSelectors may now admit or refuse them.
func (c *Controller) servicesInNamespace(ctx context.Context, ns client.Object) []reconcile.Request {
	var list corev1.ServiceList
	if err := c.client.List(ctx, &list, client.InNamespace(ns.GetName())); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

func labelsChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
		},
	}
}
