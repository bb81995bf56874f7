package pool

import (
	"context"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/controller/allocator"
)

// Source is what the status writer reads: the model's problems and each
// pool's usage. *ipam.IPAM implements it.
type Source interface {
	Config() (*config.Config, []config.Problem)
	Usage(pool string) allocator.Usage
}

// Options configures the status writer.
type Options struct {
	// Interval is the batching window; default 500ms.
	Interval time.Duration
}

func setOptionsDefaults(o Options) Options {
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	return o
}

// StatusWriter writes pool status, batched.
type StatusWriter struct {
	client   client.Client
	recorder events.EventRecorder
	source   Source
	interval time.Duration
	dirty    chan struct{}
}

var _ manager.LeaderElectionRunnable = (*StatusWriter)(nil)

// NewStatusWriter returns a writer; add it to the manager with mgr.Add.
func NewStatusWriter(c client.Client, recorder events.EventRecorder, source Source, o Options) *StatusWriter {
	o = setOptionsDefaults(o)
	return &StatusWriter{client: c, recorder: recorder, source: source, interval: o.Interval, dirty: make(chan struct{}, 1)}
}

// MarkDirty asks for a status pass; it never blocks.
func (w *StatusWriter) MarkDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

// NeedLeaderElection: only the leader writes status.
func (w *StatusWriter) NeedLeaderElection() bool { return true }

// Start runs passes until ctx ends.
func (w *StatusWriter) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("pool-status")
	timer := time.NewTimer(w.interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.dirty:
		}
		// Collect everything that changes in the window into one pass.
		timer.Reset(w.interval)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		if err := w.pass(ctx); err != nil {
			logger.Error(err, "writing pool status; retrying")
			w.MarkDirty()
		}
	}
}

func (w *StatusWriter) pass(ctx context.Context) error {
	var pools v1beta1.IPAddressPoolList
	if err := w.client.List(ctx, &pools); err != nil {
		return fmt.Errorf("pool status: listing pools: %w", err)
	}
	cfg, problems := w.source.Config()
	byPool := map[string][]config.Problem{}
	for _, p := range problems {
		if p.Kind == "IPAddressPool" {
			byPool[p.Name] = append(byPool[p.Name], p)
		}
	}
	for i := range pools.Items {
		pool := &pools.Items[i]
		var usage *allocator.Usage
		if cfg.Pool(pool.Name) != nil {
			u := w.source.Usage(pool.Name)
			usage = &u
		}
		desired := desiredStatus(pool, usage, byPool[pool.Name])
		if equality.Semantic.DeepEqual(pool.Status, desired) {
			continue
		}
		before := pool.Status
		pool.Status = desired
		if err := w.client.Status().Update(ctx, pool); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				w.MarkDirty()
				continue
			}
			return fmt.Errorf("pool %q: writing status: %w", pool.Name, err)
		}
		for _, c := range warnings(before, pool.Status) {
			w.recorder.Eventf(pool, nil, corev1.EventTypeWarning, c.Reason, "Validate", "%s", c.Message)
		}
	}
	return nil
}

// desiredStatus is the status pool should have: usage is the pool's usage
// when the model uses the pool (nil when it does not), problems are the
// model's Problems about it. status.lastValid stays as found: configsync
// recorded it before the model was installed.
func desiredStatus(pool *v1beta1.IPAddressPool, usage *allocator.Usage, problems []config.Problem) v1beta1.IPAddressPoolStatus {
	s := v1beta1.IPAddressPoolStatus{Conditions: append([]metav1.Condition(nil), pool.Status.Conditions...), LastValid: pool.Status.LastValid}
	if u := usage; u != nil {
		s.AssignedIPv4, s.AssignedIPv6 = clamp(u.AssignedV4), clamp(u.AssignedV6)
		s.AvailableIPv4, s.AvailableIPv6 = clamp(u.AvailableV4), clamp(u.AvailableV6)
		s.Assigned = clamp(u.AssignedV4 + u.AssignedV6)
	}
	gen := pool.Generation
	// Ready is built as for every other kind; Conflicting is the pool's own.
	ready := config.ReadyCondition(problems, gen)
	conflict := metav1.Condition{Type: v1beta1.ConditionConflicting, Status: metav1.ConditionFalse, Reason: v1beta1.ReasonNoOverlap, Message: "overlaps no other pool", ObservedGeneration: gen}
	for _, p := range problems {
		if p.Reason == v1beta1.ReasonOverlap {
			conflict.Status, conflict.Reason, conflict.Message = metav1.ConditionTrue, p.Reason, p.Error()
		}
	}
	if pool.Spec.Disabled && ready.Status == metav1.ConditionTrue && ready.Reason == v1beta1.ReasonValid {
		ready.Message = "valid; disabled: keeps the addresses it gave, gives no new ones"
	}
	meta.SetStatusCondition(&s.Conditions, ready)
	meta.SetStatusCondition(&s.Conditions, conflict)
	return s
}

// warnings returns the conditions of after that deserve a Warning Event:
// the bad ones (Ready not Valid, Conflicting true) whose message is new
// since before, so a pass that changes only
// counters repeats no Event.
func warnings(before, after v1beta1.IPAddressPoolStatus) []metav1.Condition {
	var out []metav1.Condition
	for _, t := range []string{v1beta1.ConditionReady, v1beta1.ConditionConflicting} {
		now := meta.FindStatusCondition(after.Conditions, t)
		if now == nil {
			continue
		}
		old := meta.FindStatusCondition(before.Conditions, t)
		// A last valid version in use is a Ready reason other than Valid.
		bad := (t == v1beta1.ConditionReady && now.Reason != v1beta1.ReasonValid) ||
			(t == v1beta1.ConditionConflicting && now.Status == metav1.ConditionTrue)
		if bad && (old == nil || old.Message != now.Message) {
			out = append(out, *now)
		}
	}
	return out
}

func clamp(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}
