// Command portico-controller assigns external addresses to LoadBalancer
// Services from IPAddressPools.
package main

import (
	"flag"
	"os"

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
	"github.com/portico-lb/portico/controller"
	"github.com/portico-lb/portico/controller/externalservice"
)

func main() {
	var (
		namespace   = flag.String("namespace", envOr("POD_NAMESPACE", "portico-system"), "namespace Portico runs in")
		leaderElect = flag.Bool("leader-elect", false, "elect a leader so only one replica assigns addresses")
		metricsAddr = flag.String("metrics-bind-address", ":8080", "Prometheus metrics address; 0 disables")
		probeAddr   = flag.String("health-probe-bind-address", ":8081", "healthz/readyz address; 0 disables")
		pprofAddr   = flag.String("pprof-bind-address", "0", "net/http/pprof address for profiling; 0 disables")
		qps         = flag.Float64("kube-api-qps", 500, "client-side QPS limit towards the API server")
		burst       = flag.Int("kube-api-burst", 1000, "client-side burst towards the API server")
		zapOpts     = zap.Options{}
	)
	var o controller.Options
	o.BindFlags(flag.CommandLine)
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	// --kubeconfig is registered by controller-runtime's config package.
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "loading kubeconfig")
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = float32(*qps), *burst
	o.Namespace = *namespace

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1beta1.AddToScheme} {
		if err := add(scheme); err != nil {
			log.Error(err, "building scheme")
			os.Exit(1)
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:  *probeAddr,
		PprofBindAddress:        *pprofAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        "portico-controller",
		LeaderElectionNamespace: *namespace,
		// Only Portico's own namespace's Secrets are cached (BGP passwords),
		// and only Portico's EndpointSlices.
		Cache: cache.Options{ByObject: cacheByObject(*namespace)},
	})
	if err != nil {
		log.Error(err, "creating manager")
		os.Exit(1)
	}
	controllers, err := controller.Setup(mgr, o)
	if err != nil {
		log.Error(err, "setting up controllers")
		os.Exit(1)
	}
	metrics.Registry.MustRegister(controllers.ExternalServices.Collectors()...)
	_ = mgr.AddHealthzCheck("healthz", healthz.Ping)
	_ = mgr.AddReadyzCheck("readyz", healthz.Ping)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "running manager")
		os.Exit(1)
	}
}

func cacheByObject(namespace string) map[client.Object]cache.ByObject {
	by := externalservice.CacheByObject()
	by[&corev1.Secret{}] = cache.ByObject{Namespaces: map[string]cache.Config{namespace: {}}}
	return by
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
