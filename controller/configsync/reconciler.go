package configsync

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
)

// Every change funnels into one request: the model is built from all
// objects at once, so there is nothing to gain from per-object keys.
var configKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "portico-config"}}

// Reconciler rebuilds the model on any configuration change.
type Reconciler struct {
	client   client.Client
	recorder events.EventRecorder
	syncer   *Syncer
	// changed is called after each rebuild, to re-evaluate Services and
	// refresh pool status.
	changed func(ctx context.Context) error
}

var _ reconcile.Reconciler = (*Reconciler)(nil)

// Reconcile rebuilds the model and reports its problems.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	res, _, problems, err := r.syncer.load(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := r.reportProblems(ctx, res, problems); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.changed(ctx); err != nil {
		return reconcile.Result{}, err
	}
	log.FromContext(ctx).V(1).Info("configuration rebuilt", "problems", len(problems))
	return reconcile.Result{}, nil
}

// reportProblems sets a Ready condition on every advertisement and peer of
// the snapshot the model was built from; the Syncer recorded the decisions
// already. Pool status is package pool's.
func (r *Reconciler) reportProblems(ctx context.Context, res config.ClusterResources, problems []config.Problem) error {
	byObject := map[string][]config.Problem{}
	for _, p := range problems {
		byObject[p.Kind+"/"+p.Name] = append(byObject[p.Kind+"/"+p.Name], p)
	}
	var objs []statusObject
	for i := range res.L2Advertisements {
		a := &res.L2Advertisements[i]
		objs = append(objs, statusObject{a, "L2Advertisement", &a.Status.Conditions})
	}
	for i := range res.BGPPeers {
		p := &res.BGPPeers[i]
		objs = append(objs, statusObject{p, "BGPPeer", &p.Status.Conditions})
	}
	for i := range res.BGPAdvertisements {
		a := &res.BGPAdvertisements[i]
		objs = append(objs, statusObject{a, "BGPAdvertisement", &a.Status.Conditions})
	}
	for _, o := range objs {
		if err := r.setReady(ctx, o, byObject[o.kind+"/"+o.obj.GetName()]); err != nil {
			return err
		}
	}
	return nil
}

type statusObject struct {
	obj        client.Object
	kind       string
	conditions *[]metav1.Condition
}

func (r *Reconciler) setReady(ctx context.Context, o statusObject, problems []config.Problem) error {
	before := append([]metav1.Condition(nil), *o.conditions...)
	orig := o.obj.DeepCopyObject().(client.Object)
	cond := config.ReadyCondition(problems, o.obj.GetGeneration())
	meta.SetStatusCondition(o.conditions, cond)
	if equality.Semantic.DeepEqual(before, *o.conditions) {
		return nil
	}
	// A merge patch of the conditions alone: the controller is their only
	// writer, and its cache often lags its own write of status.lastValid
	// just before, which an update would conflict with.
	if err := r.client.Status().Patch(ctx, o.obj, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("configsync: %s %q: writing status: %w", o.kind, o.obj.GetName(), err)
	}
	if warnReady(before, cond, problems) {
		r.recorder.Eventf(o.obj, nil, corev1.EventTypeWarning, cond.Reason, "Validate", "%s", cond.Message)
	}
	return nil
}

// warnReady reports whether the new Ready condition deserves a Warning
// Event: the object has problems and the condition says something new, so
// a rebuild that changes nothing about the object repeats no Event.
func warnReady(before []metav1.Condition, ready metav1.Condition, problems []config.Problem) bool {
	old := meta.FindStatusCondition(before, v1beta1.ConditionReady)
	return len(problems) > 0 && (old == nil || old.Message != ready.Message)
}

// lastValidChanged passes updates that change an object's status.lastValid.
func lastValidChanged() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !equality.Semantic.DeepEqual(lastValidOf(e.ObjectOld), lastValidOf(e.ObjectNew))
		},
	}
}

func lastValidOf(o client.Object) any {
	switch o := o.(type) {
	case *v1beta1.IPAddressPool:
		return o.Status.LastValid
	case *v1beta1.L2Advertisement:
		return o.Status.LastValid
	case *v1beta1.BGPPeer:
		return o.Status.LastValid
	case *v1beta1.BGPAdvertisement:
		return o.Status.LastValid
	}
	return nil
}

// Options configures the configuration controller.
type Options struct {
	// Syncer loads the model; required.
	Syncer *Syncer
	// Changed is called after each rebuild; required.
	Changed func(ctx context.Context) error
}

// New adds the configuration controller to mgr.
func New(mgr ctrl.Manager, o Options) error {
	if o.Syncer == nil || o.Changed == nil {
		return fmt.Errorf("configsync: Syncer and Changed are required")
	}
	r := &Reconciler{client: mgr.GetClient(), recorder: mgr.GetEventRecorder("portico-controller"), syncer: o.Syncer, changed: o.Changed}
	toConfig := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{configKey}
	})
	// Of the status, only status.lastValid goes into the model; conditions
	// and usage, written all the time, do not. The controller's own
	// records build the same model again, so they settle after one pass;
	// a record written by someone else (by hand, or by an earlier leader
	// that stopped halfway) is taken in.
	specOrLabels := builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, lastValidChanged()))
	nodeLabels := builder.WithPredicates(predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool { return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()) },
	})
	err := ctrl.NewControllerManagedBy(mgr).
		Named("config").
		Watches(&v1beta1.IPAddressPool{}, toConfig, specOrLabels).
		Watches(&v1beta1.L2Advertisement{}, toConfig, specOrLabels).
		Watches(&v1beta1.BGPPeer{}, toConfig, specOrLabels).
		Watches(&v1beta1.BGPAdvertisement{}, toConfig, specOrLabels).
		Watches(&corev1.Secret{}, toConfig).
		Watches(&corev1.Node{}, toConfig, nodeLabels).
		Complete(r)
	if err != nil {
		return fmt.Errorf("configsync: %w", err)
	}
	return nil
}
