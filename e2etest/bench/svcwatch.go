package bench

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// serviceWatch records when each Service of a namespace first showed an
// IPv4 address in its status, as the bench's own informer saw it.
type serviceWatch struct {
	cancel context.CancelFunc
	mu     sync.Mutex
	got    map[string]addressed
}

type addressed struct {
	at time.Time
	ip netip.Addr
}

func watchServices(ctx context.Context, cs kubernetes.Interface, ns string) (*serviceWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &serviceWatch{cancel: cancel, got: map[string]addressed{}}
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Services().Informer()
	seen := func(obj any) {
		svc, ok := obj.(*corev1.Service)
		if !ok {
			return
		}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			a, err := netip.ParseAddr(in.IP)
			if err != nil || !a.Is4() {
				continue
			}
			w.mu.Lock()
			if _, ok := w.got[svc.Name]; !ok {
				w.got[svc.Name] = addressed{time.Now(), a}
			}
			w.mu.Unlock()
		}
	}
	gone := func(obj any) {
		if svc, ok := obj.(*corev1.Service); ok {
			w.mu.Lock()
			delete(w.got, svc.Name)
			w.mu.Unlock()
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: seen, UpdateFunc: func(_, n any) { seen(n) }, DeleteFunc: gone,
	}); err != nil {
		cancel()
		return nil, fmt.Errorf("bench: watching Services: %w", err)
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		cancel()
		return nil, fmt.Errorf("bench: watching Services: cache not synced")
	}
	return w, nil
}

// address returns when Service name got its address, and the address.
func (w *serviceWatch) address(name string) (addressed, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, ok := w.got[name]
	return a, ok
}

// waitAddress waits for Service name's address.
func (w *serviceWatch) waitAddress(ctx context.Context, name string, within time.Duration) (addressed, error) {
	var a addressed
	err := netlab.Poll(ctx, 2*time.Millisecond, within, "an address for Service "+name, func(context.Context) error {
		var ok bool
		if a, ok = w.address(name); !ok {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	return a, err
}

func (w *serviceWatch) stop() { w.cancel() }
