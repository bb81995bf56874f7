package membership

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// leaseSource keeps speakers' records as coordination.k8s.io/v1 Leases,
// one per node, in one namespace.
type leaseSource struct {
	c         client.Client
	namespace string
	duration  time.Duration
	log       logr.Logger

	mu     sync.Mutex
	warned map[string]bool // bad Lease versions already logged
}

var _ peerSource = (*leaseSource)(nil)

func (s *leaseSource) publish(ctx context.Context, self peer) error {
	var l coordinationv1.Lease
	key := client.ObjectKey{Namespace: s.namespace, Name: leaseName(self.Name)}
	err := s.c.Get(ctx, key, &l)
	switch {
	case apierrors.IsNotFound(err):
		l = coordinationv1.Lease{}
		l.Namespace = s.namespace
		encodeLease(&l, self, s.duration, time.Now())
		if err := s.c.Create(ctx, &l); err != nil {
			return fmt.Errorf("creating lease %s: %w", key, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading lease %s: %w", key, err)
	}
	// An Update, not a Patch: a conflict means someone else wrote the Lease
	// meanwhile, and the next renewal starts again from what they wrote.
	encodeLease(&l, self, s.duration, time.Now())
	if err := s.c.Update(ctx, &l); err != nil {
		return fmt.Errorf("renewing lease %s: %w", key, err)
	}
	return nil
}

// peers lists the Leases, and the Nodes to mark the records of names that
// are no Node: anyone who may write a Lease in the namespace could make up
// a speaker otherwise.
func (s *leaseSource) peers(ctx context.Context) ([]peer, error) {
	var list coordinationv1.LeaseList
	if err := s.c.List(ctx, &list, client.InNamespace(s.namespace), client.MatchingLabels(leaseLabels())); err != nil {
		return nil, fmt.Errorf("listing speaker leases in %s: %w", s.namespace, err)
	}
	var nodes corev1.NodeList
	if err := s.c.List(ctx, &nodes); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	isNode := make(map[string]bool, len(nodes.Items))
	for i := range nodes.Items {
		isNode[nodes.Items[i].Name] = true
	}
	out := make([]peer, 0, len(list.Items))
	s.mu.Lock()
	defer s.mu.Unlock()
	warned := map[string]bool{}
	for i := range list.Items {
		l := &list.Items[i]
		p, err := decodeLease(l)
		if err != nil {
			// One bad Lease must not hide the others. Say so once per
			// version of it, not at every listing.
			key := l.Name + "@" + l.ResourceVersion
			if !s.warned[key] {
				s.log.Info("ignoring speaker lease", "namespace", s.namespace, "error", err.Error())
			}
			warned[key] = true
			continue
		}
		p.NotNode = !isNode[p.Name]
		out = append(out, p)
	}
	s.warned = warned
	return out, nil
}

func (s *leaseSource) withdraw(ctx context.Context, name string) error {
	l := &coordinationv1.Lease{}
	l.Namespace, l.Name = s.namespace, leaseName(name)
	if err := s.c.Delete(ctx, l); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting lease %s/%s: %w", l.Namespace, l.Name, err)
	}
	return nil
}
