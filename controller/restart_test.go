package controller_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// A controller restart must change no assigned address and write nothing to
// Services whose status is already right: it restores every assignment from
// Service status before deciding anything new.
func TestRestartWith500ServicesChangesNothing(t *testing.T) {
	const n = 500
	stop := startController(t)
	ns := newNamespace(t, nil)
	// Two /24s: Services land in both, so a restart that re-picked would show.
	newPool(t, ns, v1beta1.IPAddressPoolSpec{Addresses: []string{subnet4(), subnet4(), subnet6()}})

	createMany(t, ns, n)
	before := waitAllAssigned(t, ns, n)
	stop()

	startController(t)
	// A new Service is served after the restart, so the controller is past
	// its start-up; then every old Service must be exactly as before.
	newService(t, ns, "after-restart")
	fresh := waitAssigned(t, ns, "after-restart")
	for _, ip := range ingressIPs(fresh) {
		for name, old := range before {
			if old.ip == ip {
				t.Fatalf("new Service got %s, already held by %s", ip, name)
			}
		}
	}
	var list corev1.ServiceList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, s := range list.Items {
		old, ok := before[s.Name]
		if !ok {
			continue
		}
		if ips := ingressIPs(&s); len(ips) != 1 || ips[0] != old.ip || s.ResourceVersion != old.rv {
			changed++
			if changed <= 5 {
				t.Errorf("%s: was %s (rv %s), now %v (rv %s)", s.Name, old.ip, old.rv, ips, s.ResourceVersion)
			}
		}
	}
	if changed > 0 {
		t.Errorf("%d of %d Services changed across a restart", changed, n)
	}
}

type assigned struct{ ip, rv string }

func createMany(t *testing.T, ns string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("s-%04d", i)},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
					Ports: []corev1.ServicePort{{Port: 80}}},
			}
			if err := k8s.Create(context.Background(), s); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func waitAllAssigned(t *testing.T, ns string, n int) map[string]assigned {
	t.Helper()
	out := map[string]assigned{}
	eventually(t, fmt.Sprintf("%d Services assigned", n), func() (bool, string) {
		var list corev1.ServiceList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		clear(out)
		seen := map[string]string{}
		for _, s := range list.Items {
			ips := ingressIPs(&s)
			if len(ips) != 1 {
				continue
			}
			if other, dup := seen[ips[0]]; dup {
				t.Fatalf("%s and %s share %s", other, s.Name, ips[0])
			}
			seen[ips[0]] = s.Name
			out[s.Name] = assigned{ip: ips[0], rv: s.ResourceVersion}
		}
		return len(out) == n, fmt.Sprintf("%d of %d assigned", len(out), n)
	})
	return out
}
