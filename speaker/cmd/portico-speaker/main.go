// Command portico-speaker runs on every node, answers ARP/NDP for the
// Service addresses this node is elected to announce and announces those
// it is eligible for to its BGP peers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker"
	"github.com/portico-lb/portico/speaker/bgp"
	"github.com/portico-lb/portico/speaker/layer2"
	"github.com/portico-lb/portico/speaker/membership"
)

func main() {
	o, err := parseFlags(flag.CommandLine, os.Args[1:], os.Getenv)
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	if err != nil {
		ctrl.Log.Error(err, "invalid command line")
		os.Exit(2)
	}
	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.Error(err, "speaker failed")
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	// --kubeconfig is registered by controller-runtime's config package.
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1beta1.AddToScheme} {
		if err := add(scheme); err != nil {
			return fmt.Errorf("building scheme: %w", err)
		}
	}
	ns := o.membership.Namespace
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		// The speakers' Leases, Portico's Secrets (BGP passwords) only.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&coordinationv1.Lease{}: {Namespaces: map[string]cache.Config{ns: {}}},
			&corev1.Secret{}:        {Namespaces: map[string]cache.Config{o.speaker.InstallNamespace: {}}},
		}},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	// Keys before memberlist starts; SetupGossip reads past the idle cache.
	m := &o.membership
	m.SecretKey, m.SecondaryKeys, err = speaker.SetupGossip(ctx, mgr, ns, o.memberlistSecret, o.plainGossip, 30*time.Second, ctrl.Log.WithName("setup"))
	if err != nil {
		return err
	}
	if o.speaker.Membership, err = membership.New(o.membership, mgr.GetClient(), ctrl.Log.WithName("membership")); err != nil {
		return err
	}
	l2 := layer2.New(o.layer2, ctrl.Log.WithName("layer2"))
	// BGP always runs: with no BGPPeer it starts no GoBGP server.
	o.speaker.Announcers = []speaker.Announcer{l2, bgp.New(bgp.Config{}, ctrl.Log.WithName("bgp"))}
	s, err := speaker.New(mgr, o.speaker)
	if err != nil {
		return err
	}
	metrics.Registry.MustRegister(append(append(o.speaker.Membership.Collectors(), l2.Collectors()...), s.Collectors()...)...)
	// Liveness is only "serves HTTP": a restart moves addresses.
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("speaker", s.Ready); err != nil {
		return fmt.Errorf("adding readyz check: %w", err)
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}
