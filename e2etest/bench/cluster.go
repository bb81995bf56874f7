package bench

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
)

// requestTimeout bounds every request the bench makes, except watches.
const requestTimeout = time.Minute

// clients are the bench's connections to the API server: a fast one for
// creating, deleting and /metrics, and one without a request timeout for
// watches. The API-server limit run makes its own (see throttled).
type clients struct {
	fast    kubernetes.Interface
	watch   kubernetes.Interface
	crd     client.Client
	metrics rest.Interface
}

func newClients(cfg *rest.Config) (*clients, error) {
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = 5000, 10000
	fast.UserAgent = "portico-bench"
	watch, err := kubernetes.NewForConfig(fast)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	fast.Timeout = requestTimeout
	cs, err := kubernetes.NewForConfig(fast)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := v1beta1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("client: scheme: %w", err)
	}
	crd, err := client.New(fast, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &clients{fast: cs, watch: watch, crd: crd, metrics: cs.CoreV1().RESTClient()}, nil
}

// throttled returns a clientset limited to qps and burst, like the controller's.
func throttled(cfg *rest.Config, qps float64, burst int) (kubernetes.Interface, error) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = float32(qps), burst
	c.Timeout = requestTimeout
	c.UserAgent = "portico-bench-limit"
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cs, nil
}

func createNamespaces(ctx context.Context, cs kubernetes.Interface, names ...string) error {
	for _, n := range names {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("namespace %s: %w", n, err)
		}
	}
	return nil
}

// poolFor returns a CIDR with at least twice n addresses, outside the
// default Service CIDR 10.96.0.0/12.
func poolFor(n int) string {
	if n <= 60000 {
		return "10.200.0.0/16"
	}
	return "10.128.0.0/10"
}

func createPool(ctx context.Context, c client.Client, cidr string) error {
	if err := c.Create(ctx, cluster.Pool("bench", true, cidr)); err != nil {
		return fmt.Errorf("pool %s: %w", cidr, err)
	}
	return nil
}
