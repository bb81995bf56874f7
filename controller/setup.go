package controller

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/portico-lb/portico/controller/allocator"
	"github.com/portico-lb/portico/controller/configsync"
	"github.com/portico-lb/portico/controller/externalservice"
	"github.com/portico-lb/portico/controller/ipam"
	"github.com/portico-lb/portico/controller/pool"
	"github.com/portico-lb/portico/controller/service"
)

// Options configures the controller.
type Options struct {
	// Namespace is where Portico runs; BGP password Secrets are read there.
	Namespace string
	// IgnoreNoClass stops serving Services without a loadBalancerClass.
	IgnoreNoClass bool
	// MaxConcurrentReconciles for the Service controller; default 4.
	MaxConcurrentReconciles int
	// PoolStatusInterval batches pool status writes; default 500ms.
	PoolStatusInterval time.Duration
	// ExternalServices configures the ExternalService controller.
	ExternalServices externalservice.Options
}

// Controllers are the running controllers, for main to register their
// metrics.
type Controllers struct {
	ExternalServices *externalservice.Controller
}

// Setup adds every Portico controller to mgr.
func Setup(mgr manager.Manager, o Options) (*Controllers, error) {
	if o.Namespace == "" {
		return nil, fmt.Errorf("controller: Namespace is required")
	}
	m := ipam.New(allocator.New(allocator.Options{}))
	syncer := configsync.NewSyncer(mgr.GetClient(), m, o.Namespace)
	status := pool.NewStatusWriter(mgr.GetClient(), mgr.GetEventRecorder("portico-controller"), m, pool.Options{Interval: o.PoolStatusInterval})
	if err := mgr.Add(status); err != nil {
		return nil, fmt.Errorf("controller: pool status: %w", err)
	}
	services, err := service.New(mgr, service.Options{
		IPAM:                    m,
		Load:                    syncer.Load,
		IgnoreNoClass:           o.IgnoreNoClass,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		AllocationChanged:       status.MarkDirty,
	})
	if err != nil {
		return nil, err
	}
	err = configsync.New(mgr, configsync.Options{
		Syncer: syncer,
		Changed: func(ctx context.Context) error {
			status.MarkDirty()
			return services.ResyncAll(ctx)
		},
	})
	if err != nil {
		return nil, err
	}
	external, err := externalservice.New(mgr, o.ExternalServices)
	if err != nil {
		return nil, err
	}
	return &Controllers{ExternalServices: external}, nil
}
