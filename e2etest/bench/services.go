package bench

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// newService is a LoadBalancer Service with one TCP port and no NodePorts,
// so large runs do not exhaust the NodePort range.
func newService(ns, name string) *corev1.Service {
	return cluster.Service(ns, name, cluster.Port(corev1.ProtocolTCP, 80), cluster.NoNodePorts())
}

func serviceNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return names
}

// parallel runs do(i) for i in [0, n) on workers goroutines and returns the
// first error; the remaining items are skipped once one fails.
func parallel(ctx context.Context, n, workers int, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(n, 1)) {
		wg.Go(func() {
			for i := range next {
				if err := do(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// createServices creates the named Services with workers concurrent clients
// and returns them (as the API server returned them) with the time each
// create request was sent.
func createServices(ctx context.Context, cs kubernetes.Interface, ns string, names []string, workers int) ([]*corev1.Service, []time.Time, error) {
	created := make([]*corev1.Service, len(names))
	sent := make([]time.Time, len(names))
	err := parallel(ctx, len(names), workers, func(ctx context.Context, i int) error {
		sent[i] = time.Now()
		svc, err := cs.CoreV1().Services(ns).Create(ctx, newService(ns, names[i]), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating Service %s/%s: %w", ns, names[i], err)
		}
		created[i] = svc
		return nil
	})
	return created, sent, err
}

// tracker watches one namespace's Services and records when each first had
// an ingress IP in its status.
type tracker struct {
	informer cache.SharedIndexInformer
	mu       sync.Mutex
	assigned map[string]time.Time
}

func startTracker(ctx context.Context, cs kubernetes.Interface, ns string) (*tracker, error) {
	lw := cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "services", ns, fields.Everything())
	t := &tracker{
		informer: cache.NewSharedIndexInformer(lw, &corev1.Service{}, 0, cache.Indexers{}),
		assigned: map[string]time.Time{},
	}
	see := func(obj any) {
		svc, ok := obj.(*corev1.Service)
		if !ok || len(ingressIPs(svc)) == 0 {
			return
		}
		now := time.Now()
		t.mu.Lock()
		if _, seen := t.assigned[svc.Name]; !seen {
			t.assigned[svc.Name] = now
		}
		t.mu.Unlock()
	}
	_, err := t.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    see,
		UpdateFunc: func(_, obj any) { see(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	go t.informer.RunWithContext(ctx)
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), t.informer.HasSynced) {
		return nil, fmt.Errorf("tracker: Services in %s did not sync within a minute", ns)
	}
	return t, nil
}

// assignedAt returns when name first had an IP.
func (t *tracker) assignedAt(name string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.assigned[name]
	return at, ok
}

// wait blocks until every name has an IP, the timeout passes, or the
// controller exits.
func (t *tracker) wait(ctx context.Context, names []string, timeout time.Duration, ctrl *netlab.Process) error {
	err := netlab.Poll(ctx, 10*time.Millisecond, timeout, fmt.Sprintf("IPs for %d Services", len(names)), func(context.Context) error {
		select {
		case <-ctrl.Done():
			return netlab.Permanent(exitError(ctrl))
		default:
		}
		missing := 0
		t.mu.Lock()
		for _, n := range names {
			if _, ok := t.assigned[n]; !ok {
				missing++
			}
		}
		t.mu.Unlock()
		if missing > 0 {
			return fmt.Errorf("%d of %d Services had no IP; controller log: %s", missing, len(names), ctrl.LogPath)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

func ingressIPs(svc *corev1.Service) []string {
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			ips = append(ips, in.IP)
		}
	}
	return ips
}

// observed is what one Service looked like at a moment.
type observed struct {
	ips []string
	rv  string
}

// snapshot lists the namespace's Services from the API server.
func snapshot(ctx context.Context, cs kubernetes.Interface, ns string) (map[string]observed, error) {
	out := map[string]observed{}
	opts := metav1.ListOptions{Limit: 2000}
	for {
		list, err := cs.CoreV1().Services(ns).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing Services in %s: %w", ns, err)
		}
		for i := range list.Items {
			s := &list.Items[i]
			out[s.Name] = observed{ips: ingressIPs(s), rv: s.ResourceVersion}
		}
		if list.Continue == "" {
			return out, nil
		}
		opts.Continue = list.Continue
	}
}

// duplicates counts Services that hold an IP another Service also holds.
func duplicates(snap map[string]observed) int {
	holders := map[netip.Addr]int{}
	for _, o := range snap {
		for _, s := range o.ips {
			if a, err := netip.ParseAddr(s); err == nil {
				holders[a]++
			}
		}
	}
	n := 0
	for _, c := range holders {
		if c > 1 {
			n += c
		}
	}
	return n
}

// unassigned counts Services without an IP.
func unassigned(snap map[string]observed) int {
	n := 0
	for _, o := range snap {
		if len(o.ips) == 0 {
			n++
		}
	}
	return n
}

// compare reports, for the Services in before, how many now have different
// IPs (or are gone) and how many were written to at all.
func compare(before, after map[string]observed) (ipsChanged, rewritten int) {
	for name, b := range before {
		a, ok := after[name]
		if !ok || fmt.Sprint(a.ips) != fmt.Sprint(b.ips) {
			ipsChanged++
		}
		if !ok || a.rv != b.rv {
			rewritten++
		}
	}
	return ipsChanged, rewritten
}

// assignStatus is the status Portico writes: the address with ipMode VIP and
// the ip-assigned condition, in one update.
func assignStatus(svc *corev1.Service, ip netip.Addr) *corev1.Service {
	vip := corev1.LoadBalancerIPModeVIP
	out := svc.DeepCopy()
	out.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip.String(), IPMode: &vip}}
	out.Status.Conditions = []metav1.Condition{{
		Type:               v1beta1.ServiceConditionIPAssigned,
		Status:             metav1.ConditionTrue,
		Reason:             v1beta1.ReasonAssigned,
		Message:            "assigned " + ip.String() + " from pool bench",
		ObservedGeneration: svc.Generation,
		LastTransitionTime: metav1.Now(),
	}}
	return out
}

// writeStatuses writes one precomputed status per Service with workers
// goroutines: the floor any controller with that concurrency can reach.
func writeStatuses(ctx context.Context, cs kubernetes.Interface, svcs []*corev1.Service, first netip.Addr, workers int) error {
	ips := make([]netip.Addr, len(svcs))
	for i, a := 0, first; i < len(svcs); i, a = i+1, a.Next() {
		ips[i] = a
	}
	return parallel(ctx, len(svcs), workers, func(ctx context.Context, i int) error {
		s := assignStatus(svcs[i], ips[i])
		if _, err := cs.CoreV1().Services(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("writing status of Service %s/%s: %w", s.Namespace, s.Name, err)
		}
		return nil
	})
}

// eventReasons summarises every Event in the cluster as
// "reporting-controller: Kind/Reason×count".
func eventReasons(ctx context.Context, cs kubernetes.Interface) (string, error) {
	list, err := cs.EventsV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing Events: %w", err)
	}
	counts := map[string]int{}
	for _, e := range list.Items {
		n := 1
		if e.Series != nil {
			n = int(e.Series.Count)
		} else if e.DeprecatedCount > 0 {
			n = int(e.DeprecatedCount)
		}
		counts[e.ReportingController+": "+e.Regarding.Kind+"/"+e.Reason] += n
	}
	if len(counts) == 0 {
		return "none", nil
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = fmt.Sprintf("%s×%d", k, counts[k])
	}
	return strings.Join(keys, ", "), nil
}
