// Command portico-speaker runs on every node and answers ARP/NDP for the
// Service addresses this node is elected to announce.
package main

import (
	"flag"
	"net/netip"
	"os"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/speaker"
	"github.com/portico-lb/portico/speaker/layer2"
	"github.com/portico-lb/portico/speaker/membership"
)

func main() {
	var (
		m  membership.Config
		l2 layer2.Config
		o  speaker.Options
	)
	bind := flag.String("bind-address", os.Getenv("NODE_IP"), "this node's address for memberlist (env NODE_IP); required")
	flag.StringVar(&m.NodeName, "node-name", os.Getenv("NODE_NAME"), "this node's name (env NODE_NAME)")
	flag.StringVar(&m.Namespace, "namespace", envOr("POD_NAMESPACE", "portico-system"), "namespace of the speakers' Leases")
	flag.IntVar(&m.BindPort, "memberlist-port", 7946, "memberlist TCP/UDP port")
	flag.DurationVar(&m.ProbeInterval, "probe-interval", 100*time.Millisecond, "memberlist probe interval")
	flag.DurationVar(&m.ProbeTimeout, "probe-timeout", 50*time.Millisecond, "memberlist probe timeout")
	flag.IntVar(&m.SuspicionMult, "suspicion-mult", 2, "memberlist suspicion multiplier")
	flag.DurationVar(&m.HoldDown, "hold-down", 3*time.Second, "how long a (re)joined node must stay up before it announces again")
	flag.IntVar(&l2.GratuitousCount, "gratuitous-count", 3, "gratuitous ARP / unsolicited NA rounds on take-over")
	flag.DurationVar(&l2.GratuitousInterval, "gratuitous-interval", 100*time.Millisecond, "interval between gratuitous rounds")
	flag.DurationVar(&l2.LinkUpDelay, "link-up-delay", 500*time.Millisecond, "keep a link that came back silent (no ARP/NDP) this long while membership heals; negative disables")
	flag.DurationVar(&o.HandoverDelay, "handover-delay", time.Second, "keep answering this long after leaving on SIGTERM")
	flag.BoolVar(&o.IgnoreNoClass, "ignore-no-class", false, "announce only Services with loadBalancerClass portico.dev/lb")
	metricsAddr := flag.String("metrics-bind-address", ":7472", "Prometheus metrics address; 0 disables")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	addr, err := netip.ParseAddr(*bind)
	if err != nil || m.NodeName == "" {
		log.Error(err, "--bind-address (NODE_IP) and --node-name (NODE_NAME) are required")
		os.Exit(2)
	}
	m.BindAddr, o.NodeName = addr, m.NodeName

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1beta1.AddToScheme(scheme)
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress: "0",
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:        {Namespaces: map[string]cache.Config{m.Namespace: {}}},
			&coordinationv1.Lease{}: {Namespaces: map[string]cache.Config{m.Namespace: {}}},
		}},
	})
	if err != nil {
		log.Error(err, "creating manager")
		os.Exit(1)
	}
	if o.Membership, err = membership.New(m, mgr.GetClient(), ctrl.Log.WithName("membership")); err != nil {
		log.Error(err, "membership")
		os.Exit(1)
	}
	o.Layer2 = layer2.New(l2, ctrl.Log.WithName("layer2"))
	s, err := speaker.New(mgr, o)
	if err != nil {
		log.Error(err, "speaker")
		os.Exit(1)
	}
	metrics.Registry.MustRegister(append(append(o.Membership.Collectors(), o.Layer2.Collectors()...), s.Collectors()...)...)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "running manager")
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
