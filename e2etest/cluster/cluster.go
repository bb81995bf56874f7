package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/netlab"
	"github.com/portico-lb/portico/internal/kubeapi"
)

// Namespace is where the speakers keep their Leases, as in a real install.
const Namespace = "portico-system"

// serviceCIDR is the cluster's Service range, dual-stack so that Services
// of either family get a ClusterIP. Neither range overlaps the lab's LANs
// (10.213.X.0/24, fd00:213:X::/64) or the pod ranges.
const serviceCIDR = "10.96.0.0/16,fd00:96::/112"

// Cluster is a running cluster in a lab. Its exported fields never change
// after Start; its methods may be called from any goroutine.
type Cluster struct {
	Lab *netlab.Lab
	// Client talks to the API server with the core and portico.dev/v1beta1
	// types registered.
	Client client.Client
	// Config is the admin rest.Config, for clientsets and kubectl-like code.
	Config *rest.Config
	// Kubeconfig is the path of the admin kubeconfig (in Dir).
	Kubeconfig string
	// KubectlPath is the kubectl built beside the API server.
	KubectlPath string
	// Dir holds the kubeconfig and one log per process.
	Dir string
	// APIServer is the API server's address on the bridge.
	APIServer netip.AddrPort

	o      Options
	ip     string // the ip command
	bin    string // the built binaries; "" until acquired
	ownDir bool   // Dir was made by Start, so Stop removes it
	api    *kubeapi.Server
	// kcm runs kube-controller-manager's garbage collector and
	// EndpointSlice mirroring, what a cluster does with Portico's objects.
	kcm *kubeapi.Controllers
	// ctx lives until Stop; the processes started in node namespaces stop
	// when it ends.
	ctx    context.Context
	cancel context.CancelFunc

	stopOnce sync.Once
	stopErr  error

	mu         sync.Mutex // guards the fields below
	controller *netlab.Process
	speakers   map[string]*netlab.Process
	proxies    map[string]*netlab.Process
	pods       map[string]*Pod
	podSeq     int // for pod link names, never reused
	podIDs     map[string]int
	blocked    bool
}

// Start brings up a cluster and waits until it is ready: kube-proxy healthy
// on every node, every speaker seeing every other as a stable member. ctx
// bounds the start, not the cluster's life: call Stop for that. On error
// Start removes whatever it had created.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	o, err = setOptionsDefaults(o, os.UserHomeDir, os.Getenv)
	if err != nil {
		return nil, err
	}
	if err := Available(o); err != nil {
		return nil, err
	}
	c := &Cluster{
		o: o, Dir: o.Dir,
		speakers: map[string]*netlab.Process{}, proxies: map[string]*netlab.Process{},
		pods: map[string]*Pod{}, podIDs: map[string]int{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	if c.ip, err = netlab.IPCommand(); err != nil {
		return nil, err
	}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "portico-cluster-"); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		c.ownDir = true
	} else if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	bin, err := acquireBinaries(ctx)
	if err != nil {
		return nil, err
	}
	c.bin = bin
	if c.Lab, err = netlab.Create(ctx, netlab.Options{Nodes: o.Nodes}); err != nil {
		return nil, err
	}
	if err := c.startAPIServer(); err != nil {
		return nil, err
	}
	if err := c.createObjects(ctx); err != nil {
		return nil, err
	}
	if err := c.routeNodes(ctx); err != nil {
		return nil, err
	}
	if err := c.startController(ctx); err != nil {
		return nil, err
	}
	for _, h := range c.Lab.Nodes {
		if !o.NoKubeProxy {
			if err := c.startKubeProxy(h); err != nil {
				return nil, err
			}
		}
		if err := c.StartSpeaker(h.Name); err != nil {
			return nil, err
		}
	}
	if !o.NoKubeProxy {
		if err := c.waitKubeProxies(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.WaitSettled(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// startAPIServer starts kube-apiserver and etcd on the bridge's address and
// connects the cluster's client.
func (c *Cluster) startAPIServer() error {
	api, err := kubeapi.Start(kubeapi.Options{ListenAddress: c.Lab.GatewayV4.String(), ServiceCIDR: serviceCIDR})
	if err != nil {
		return err
	}
	c.api = api
	if c.kcm, err = api.StartControllers("garbage-collector-controller", "endpointslice-mirroring-controller"); err != nil {
		return err
	}
	c.KubectlPath = api.KubectlPath
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := api.WriteKubeconfig(c.Kubeconfig); err != nil {
		return err
	}
	u, err := url.Parse(api.Config.Host)
	if err != nil || u.Host == "" {
		u = &url.URL{Host: api.Config.Host}
	}
	if c.APIServer, err = netip.ParseAddrPort(u.Host); err != nil {
		return fmt.Errorf("cluster: API server address %q: %w", api.Config.Host, err)
	}
	c.Config = rest.CopyConfig(api.Config)
	c.Config.QPS, c.Config.Burst = 200, 400
	c.Config.Timeout = 30 * time.Second
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("cluster: scheme: %w", err)
	}
	if err := v1beta1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("cluster: scheme: %w", err)
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("cluster: client: %w", err)
	}
	return nil
}

// createObjects creates the install namespace and one Node per node
// namespace, as kubelet would register it.
func (c *Cluster) createObjects(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	if err := c.Client.Create(ctx, ns); err != nil {
		return fmt.Errorf("cluster: namespace %s: %w", Namespace, err)
	}
	for i, h := range c.Lab.Nodes {
		if err := c.createNode(ctx, h, i+1); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every process, removes the lab and the API server, and the
// directory if Start made it. It is idempotent and safe after a failed
// Start.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	c.mu.Lock()
	var stops []func() error
	for _, p := range c.pods {
		stops = append(stops, func() error { return p.proc.Stop(time.Second) })
	}
	if p := c.controller; p != nil {
		stops = append(stops, func() error { return p.Stop(5 * time.Second) })
	}
	// Speakers hand over (1 s) and exit; kube-proxy exits at once. They
	// close their API connections while the network is still there.
	for _, m := range []map[string]*netlab.Process{c.speakers, c.proxies} {
		for _, p := range m {
			stops = append(stops, func() error { return p.Stop(5 * time.Second) })
		}
	}
	c.mu.Unlock()
	errs := make([]error, len(stops))
	var wg sync.WaitGroup
	for i, stop := range stops {
		wg.Go(func() { errs[i] = stop() })
	}
	wg.Wait()
	// The API server goes before the lab: it talks to itself on the
	// bridge's address, and shutting down without that address makes it
	// hang until envtest's stop timeout.
	if c.kcm != nil {
		errs = append(errs, c.kcm.Stop())
	}
	if c.api != nil {
		errs = append(errs, c.api.Stop())
	}
	// Destroy removes every namespace with the lab's prefix, pods included,
	// and kills whatever still runs there.
	if c.Lab != nil {
		errs = append(errs, c.Lab.Destroy())
	}
	c.cancel()
	if c.bin != "" {
		errs = append(errs, releaseBinaries())
	}
	if c.ownDir && c.Dir != "" {
		errs = append(errs, os.RemoveAll(c.Dir))
	}
	return errors.Join(errs...)
}
