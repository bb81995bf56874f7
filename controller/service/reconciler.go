package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/ipam"
)

// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Loader loads the current configuration into ipam; the service reconciler
// calls it once before its first decision so a restart never judges
// Services against an empty configuration.
type Loader func(ctx context.Context) error

// Reconciler assigns addresses to the LoadBalancer Services Portico serves.
type Reconciler struct {
	client       client.Client
	recorder     events.EventRecorder
	ipam         *ipam.IPAM
	serveNoClass bool
	load         Loader
	// enqueue asks for Services to be reconciled again (waiting Services
	// when an address frees up, every Service when the config changes).
	enqueue func(keys []types.NamespacedName)
	// changed is told whenever an allocation changed, for pool status.
	changed func()

	seedMu sync.Mutex
	seeded bool
}

var _ reconcile.Reconciler = (*Reconciler)(nil)

// Reconcile brings one Service's status in line with its addresses.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	if err := r.seed(ctx); err != nil {
		return reconcile.Result{}, err
	}
	key := req.Namespace + "/" + req.Name

	var svc corev1.Service
	if err := r.client.Get(ctx, req.NamespacedName, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(key)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("service %s: %w", key, err)
	}
	if !svc.DeletionTimestamp.IsZero() || !v1beta1.Serves(&svc, r.serveNoClass) {
		r.forget(key)
		return reconcile.Result{}, r.clearStatus(ctx, &svc)
	}

	var ns corev1.Namespace
	if err := r.client.Get(ctx, types.NamespacedName{Name: svc.Namespace}, &ns); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("service %s: namespace: %w", key, err)
	}
	d, eff := r.ipam.Decide(requestFor(&svc, ns.Labels))
	if eff.Freed {
		r.afterRelease()
	}
	if len(eff.Evicted) > 0 {
		r.enqueue(namespacedNames(eff.Evicted))
	}
	r.changed()
	if !d.LeaveStatus {
		logger.V(1).Info("decided", "addresses", d.Addrs, "reason", d.Reason)
	}
	err := r.writeStatus(ctx, &svc, d)
	if apierrors.IsConflict(err) {
		// The cache is behind a write; its watch event brings the newer
		// Service and the decision stands, so retry quietly.
		logger.V(1).Info("status write conflicted; retrying", "error", err.Error())
		return reconcile.Result{RequeueAfter: conflictRetry}, nil
	}
	return reconcile.Result{}, err
}

// conflictRetry is short: a conflict only means the cache lagged a write.
const conflictRetry = 50 * time.Millisecond

// seed restores every served Service's addresses from its status before
// the first decision, so a restart changes no address.
func (r *Reconciler) seed(ctx context.Context) error {
	r.seedMu.Lock()
	defer r.seedMu.Unlock()
	if r.seeded {
		return nil
	}
	logger := log.FromContext(ctx)
	if err := r.load(ctx); err != nil {
		return fmt.Errorf("loading configuration: %w", err)
	}
	var list corev1.ServiceList
	if err := r.client.List(ctx, &list); err != nil {
		return fmt.Errorf("listing services: %w", err)
	}
	restored := 0
	for _, f := range restoreAll(r.ipam, list.Items, r.serveNoClass) {
		if f.err == nil {
			restored++
			continue
		}
		logger.Error(f.err, "duplicate address in Service status; leaving it for a human", "service", client.ObjectKeyFromObject(f.svc))
		r.recorder.Eventf(f.svc, nil, corev1.EventTypeWarning, v1beta1.ReasonDuplicateIP, "Restore", "%v", f.err)
	}
	logger.Info("restored assignments from Service status", "services", len(list.Items), "restored", restored)
	r.seeded = true
	r.changed()
	return nil
}

func (r *Reconciler) forget(key string) {
	if r.ipam.Forget(key) {
		r.afterRelease()
		r.changed()
	}
}

// afterRelease retries the Services waiting for an address.
func (r *Reconciler) afterRelease() {
	if pending := r.ipam.Pending(); len(pending) > 0 {
		r.enqueue(namespacedNames(pending))
	}
}

func namespacedNames(keys []string) []types.NamespacedName {
	out := make([]types.NamespacedName, 0, len(keys))
	for _, k := range keys {
		ns, name, _ := strings.Cut(k, "/")
		out = append(out, types.NamespacedName{Namespace: ns, Name: name})
	}
	return out
}

// writeStatus writes the status d wants in one update, and nothing when it
// is already as desired.
func (r *Reconciler) writeStatus(ctx context.Context, svc *corev1.Service, d ipam.Decision) error {
	desired := desiredStatus(svc, d)
	if equality.Semantic.DeepEqual(svc.Status, desired.Status) {
		return nil
	}
	if err := r.client.Status().Update(ctx, desired); err != nil {
		return fmt.Errorf("service %s/%s: writing status: %w", svc.Namespace, svc.Name, err)
	}
	r.recordChange(svc, d)
	return nil
}

// recordChange emits Events only for changes and warnings: a first
// assignment is visible in the status and would double the writes.
func (r *Reconciler) recordChange(old *corev1.Service, d ipam.Decision) {
	before := v1beta1.IngressAddrs(old)
	prev := meta.FindStatusCondition(old.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
	switch {
	case !d.Assigned:
		if prev == nil || prev.Reason != d.Reason || prev.Message != d.Explanation() {
			r.recorder.Eventf(old, nil, corev1.EventTypeWarning, d.Reason, "Assign", "%s", d.Explanation())
		}
	case len(before) > 0 && !slices.Equal(before, d.Addrs):
		r.recorder.Eventf(old, nil, corev1.EventTypeNormal, v1beta1.ReasonIPChanged, "Assign", "addresses changed from %v: %s", before, d.Explanation())
	}
}

// clearStatus removes Portico's addresses and condition from a Service it no
// longer serves. A Service whose status another controller wrote is left alone.
func (r *Reconciler) clearStatus(ctx context.Context, svc *corev1.Service) error {
	if meta.FindStatusCondition(svc.Status.Conditions, v1beta1.ServiceConditionIPAssigned) == nil {
		return nil
	}
	desired := svc.DeepCopy()
	desired.Status.LoadBalancer.Ingress = nil
	meta.RemoveStatusCondition(&desired.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
	if err := r.client.Status().Update(ctx, desired); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("service %s/%s: clearing status: %w", svc.Namespace, svc.Name, err)
	}
	if len(svc.Status.LoadBalancer.Ingress) > 0 {
		r.recorder.Eventf(svc, nil, corev1.EventTypeNormal, v1beta1.ReasonIPReleased, "Release", "released %v: the Service is no longer a LoadBalancer served by Portico", v1beta1.IngressAddrs(svc))
	}
	return nil
}
