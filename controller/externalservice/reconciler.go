package externalservice

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
	"github.com/portico-lb/portico/controller/probe/prober"
	"github.com/portico-lb/portico/controller/probe/scheduler"
)

// The controller reads the credentials Secret an ExternalService names with
// a single uncached GET in that ExternalService's namespace, and uses it
// only if it is labelled portico.dev/credentials=true. It holds no
// cluster-wide Secret access (so it can never read the speakers' gossip
// key or another namespace's Secrets): deploy/ ships the ClusterRole
// portico-external-credentials (`get` only, no list or watch) for an
// administrator to bind in each namespace whose ExternalServices use
// credentials. Endpoints are read and written uncached too, so no
// cluster-wide Endpoints informer is kept.
//
// +kubebuilder:rbac:groups=portico.dev,resources=externalservices,verbs=get;list;watch
// +kubebuilder:rbac:groups=portico.dev,resources=externalservices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=endpoints,verbs=get;create;update;delete
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=servicecidrs,verbs=get;list;watch

// credentialsRecheck is how often an ExternalService with credentials is
// reconciled to notice a changed Secret (Secrets are not watched; see the
// RBAC note above).
const credentialsRecheck = time.Minute

// Reconciler keeps one ExternalService's owned objects and status.
type Reconciler struct {
	client    client.Client
	apiReader client.Reader
	recorder  events.EventRecorder
	store     *store
	metrics   *metrics
	podCIDRs  []netip.Prefix
	nodeCIDRs []netip.Prefix
}

var _ reconcile.Reconciler = (*Reconciler)(nil)

// Reconcile brings one ExternalService's Service, EndpointSlices, Endpoints
// and status in line with its spec and the probes.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := req.NamespacedName
	var es v1beta1.ExternalService
	if err := r.client.Get(ctx, key, &es); err != nil {
		if apierrors.IsNotFound(err) {
			r.store.forget(key) // owner references remove the objects
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("externalservice %s: %w", key, err)
	}
	if !es.DeletionTimestamp.IsZero() {
		r.store.forget(key)
		return reconcile.Result{}, nil
	}

	var in inputs
	var err error
	if in.Ranges, err = r.ranges(ctx); err != nil {
		return reconcile.Result{}, fmt.Errorf("externalservice %s: %w", key, err)
	}
	r.store.setNames(key, namesOf(&es))
	creds, credsVersion, err := r.credentials(ctx, &es)
	switch {
	case err == nil:
	case isProblem(err):
		in.CredentialsProblem = err.Error()
	default:
		return reconcile.Result{}, fmt.Errorf("externalservice %s: %w", key, err)
	}
	spec := r.probeSpec(&es, creds, credsVersion)
	r.store.seed(key, es.Status, spec)
	r.store.snapshot(key, &in)
	d := plan(&es, in)

	if err := r.store.setTargets(key, spec, probed(&es, in, d)); err != nil {
		return reconcile.Result{}, fmt.Errorf("externalservice %s: %w", key, err)
	}
	r.store.setPrimary(key, d.Primary)

	status := d.Status
	notOwned, err := r.applyObjects(ctx, &es, d)
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("externalservice %s: %w", key, err)
	}
	readyCount := len(d.Ready)
	if notOwned != "" {
		blocked(&status, es.Generation, notOwned)
		readyCount = 0
	}
	r.metrics.setReady(key, readyCount)
	if err := r.writeStatus(ctx, &es, status, in); err != nil {
		return reconcile.Result{}, fmt.Errorf("externalservice %s: status: %w", key, err)
	}
	log.FromContext(ctx).V(1).Info("reconciled", "ready", readyCount, "targets", len(d.Targets))
	if es.Spec.HealthCheck.CredentialsSecret != nil {
		return reconcile.Result{RequeueAfter: credentialsRecheck}, nil
	}
	return reconcile.Result{}, nil
}

func namesOf(es *v1beta1.ExternalService) []string {
	var names []string
	for _, e := range es.Spec.Endpoints {
		if _, err := netip.ParseAddr(e.Address); err != nil && !slices.Contains(names, e.Address) {
			names = append(names, e.Address)
		}
	}
	return names
}

// probed lists the targets the scheduler should probe: none without a
// check or without usable credentials, never a refused one.
func probed(es *v1beta1.ExternalService, in inputs, d result) []netip.AddrPort {
	if es.Spec.HealthCheck.Type == v1beta1.HealthCheckNone || in.CredentialsProblem != "" {
		return nil
	}
	var out []netip.AddrPort
	for _, t := range d.Targets {
		if t.Refused == nil {
			out = append(out, t.Addr)
		}
	}
	return out
}

func (r *Reconciler) probeSpec(es *v1beta1.ExternalService, creds *prober.Credentials, credsVersion string) probeSpec {
	hc := es.Spec.HealthCheck
	check := hc.Type
	if check == "" {
		check = v1beta1.HealthCheckTCP
	}
	p := probeSpec{
		version:    string(check) + "/" + credsVersion,
		check:      check,
		thresholds: probe.Thresholds{Healthy: int(hc.HealthyThreshold), Unhealthy: int(hc.UnhealthyThreshold)},
		interval:   hc.Interval.Duration,
		timeout:    hc.Timeout.Duration,
	}
	if p.interval <= 0 {
		p.interval = 5 * time.Second
	}
	if p.timeout <= 0 {
		p.timeout = time.Second
	}
	if check != v1beta1.HealthCheckNone {
		p.newProber = func() (scheduler.Prober, error) { return prober.New(check, creds) }
	}
	return p
}

// ranges are the refused ranges: the cluster's ServiceCIDRs and the
// configured pod and node ranges.
func (r *Reconciler) ranges(ctx context.Context) (probe.Ranges, error) {
	var list networkingv1.ServiceCIDRList
	if err := r.client.List(ctx, &list); err != nil {
		return probe.Ranges{}, fmt.Errorf("listing ServiceCIDRs: %w", err)
	}
	rg := probe.Ranges{Pod: r.podCIDRs, Node: r.nodeCIDRs}
	for _, sc := range list.Items {
		for _, c := range sc.Spec.CIDRs {
			if p, err := netip.ParsePrefix(c); err == nil {
				rg.Service = append(rg.Service, p.Masked())
			}
		}
	}
	return rg, nil
}

// problem is an error the user fixes (a missing Secret), reported in
// status rather than retried.
type problem struct{ msg string }

func (p *problem) Error() string { return p.msg }

func isProblem(err error) bool {
	_, ok := err.(*problem)
	return ok
}

// credentials reads the Secret spec.healthCheck.credentialsSecret names, in
// the ExternalService's own namespace. Its content is never logged.
func (r *Reconciler) credentials(ctx context.Context, es *v1beta1.ExternalService) (*prober.Credentials, string, error) {
	ref := es.Spec.HealthCheck.CredentialsSecret
	if ref == nil {
		return nil, "", nil
	}
	var sec corev1.Secret
	err := r.apiReader.Get(ctx, types.NamespacedName{Namespace: es.Namespace, Name: ref.Name}, &sec)
	switch {
	case apierrors.IsNotFound(err):
		return nil, "", &problem{fmt.Sprintf("spec.healthCheck.credentialsSecret: Secret %s/%s not found", es.Namespace, ref.Name)}
	case apierrors.IsForbidden(err):
		return nil, "", &problem{fmt.Sprintf("spec.healthCheck.credentialsSecret: the controller may not read Secret %s/%s; grant it in this namespace: kubectl create rolebinding portico-external-credentials -n %s --clusterrole=portico-external-credentials --serviceaccount=<portico namespace>:portico-controller", es.Namespace, ref.Name, es.Namespace)}
	case err != nil:
		return nil, "", fmt.Errorf("credentials Secret %s/%s: %w", es.Namespace, ref.Name, err)
	}
	if sec.Labels[v1beta1.LabelCredentials] != "true" {
		return nil, "", &problem{fmt.Sprintf("spec.healthCheck.credentialsSecret: Secret %s/%s lacks the label %s=true, its owner's consent to Portico sending it to this ExternalService's targets", es.Namespace, ref.Name, v1beta1.LabelCredentials)}
	}
	pw, ok := sec.Data["password"]
	if !ok {
		return nil, "", &problem{fmt.Sprintf("spec.healthCheck.credentialsSecret: Secret %s/%s has no key \"password\"", es.Namespace, ref.Name)}
	}
	return &prober.Credentials{Username: string(sec.Data["username"]), Password: string(pw)}, sec.ResourceVersion, nil
}

// writeStatus writes status if it differs from the stored one in more than
// times, and records an Event per transition.
func (r *Reconciler) writeStatus(ctx context.Context, es *v1beta1.ExternalService, st v1beta1.ExternalServiceStatus, in inputs) error {
	if sameStatus(es.Status, st) {
		return nil
	}
	old := es.DeepCopy()
	es.Status = withTimes(st, old.Status, in, time.Now())
	if err := r.client.Status().Update(ctx, es); err != nil {
		return err
	}
	r.metrics.wrote("ExternalService/status")
	r.recordTransitions(old, es)
	return nil
}

// recordTransitions records an Event for each kind of change worth a
// human's attention: targets turning healthy, unhealthy, refused or
// refusing credentials, the primary moving, a split brain, an object that
// is not Portico's. Targets that change the same way in one status write
// share one Event: events.k8s.io merges Events of one reason about one
// object into a series keeping only the first note, so one Event per
// target would hide all but the first address.
func (r *Reconciler) recordTransitions(old, es *v1beta1.ExternalService) {
	before := map[string]v1beta1.TargetHealth{}
	for _, e := range old.Status.Endpoints {
		for _, t := range e.Targets {
			before[targetKey(e, t)] = t.Health
		}
	}
	changed := map[v1beta1.TargetHealth][]string{}
	errs := map[v1beta1.TargetHealth][]string{}
	for _, e := range es.Status.Endpoints {
		for _, t := range e.Targets {
			k := targetKey(e, t)
			if h, seen := before[k]; seen && h == t.Health {
				continue
			}
			changed[t.Health] = append(changed[t.Health], k)
			if t.LastError != "" {
				errs[t.Health] = append(errs[t.Health], k+": "+t.LastError)
			}
		}
	}
	note := func(parts []string) string {
		s := strings.Join(parts, "; ")
		if len(s) > 900 { // an Event's note holds 1 kB
			s = s[:900] + "…"
		}
		return s
	}
	if ts := changed[v1beta1.TargetHealthy]; len(ts) > 0 {
		r.recorder.Eventf(es, nil, corev1.EventTypeNormal, "TargetHealthy", "Probe", "healthy: %s", note(ts))
	}
	if ts := errs[v1beta1.TargetUnhealthy]; len(ts) > 0 {
		r.recorder.Eventf(es, nil, corev1.EventTypeWarning, "TargetUnhealthy", "Probe", "unhealthy: %s", note(ts))
	}
	if ts := errs[v1beta1.TargetAuthFailed]; len(ts) > 0 {
		r.recorder.Eventf(es, nil, corev1.EventTypeWarning, v1beta1.ReasonAuthFailed, "Probe", "credentials refused: %s", note(ts))
	}
	if ts := errs[v1beta1.TargetRefused]; len(ts) > 0 {
		r.recorder.Eventf(es, nil, corev1.EventTypeWarning, v1beta1.ReasonTargetRefused, "Resolve", "%s", note(ts))
	}
	if old.Status.Primary != es.Status.Primary && es.Status.Primary != "" {
		r.recorder.Eventf(es, nil, corev1.EventTypeNormal, "PrimaryChanged", "Elect", "primary is %s (was %q)", es.Status.Primary, old.Status.Primary)
	}
	for _, typ := range []string{v1beta1.ConditionPrimaryElected, ConditionReady} {
		c, b := meta.FindStatusCondition(es.Status.Conditions, typ), meta.FindStatusCondition(old.Status.Conditions, typ)
		if c == nil || (b != nil && b.Reason == c.Reason) {
			continue
		}
		switch c.Reason {
		case v1beta1.ReasonSplitBrain, v1beta1.ReasonNotOwned, v1beta1.ReasonCredentialsUnavailable:
			r.recorder.Eventf(es, nil, corev1.EventTypeWarning, c.Reason, "Reconcile", "%s", c.Message)
		}
	}
}

// targetKey names a target in status as address:port.
func targetKey(e v1beta1.ExternalEndpointStatus, t v1beta1.TargetStatus) string {
	if a, err := netip.ParseAddr(t.IP); err == nil {
		return netip.AddrPortFrom(a, uint16(e.Port)).String()
	}
	return t.IP
}
