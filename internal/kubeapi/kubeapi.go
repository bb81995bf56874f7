package kubeapi

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// DefaultK8sVersion is the Kubernetes version whose binaries the setup script builds.
const DefaultK8sVersion = "v1.37.2"

// ErrNoBinaries is returned when kube-apiserver or etcd cannot be found.
var ErrNoBinaries = errors.New("kubeapi: kube-apiserver or etcd not found; run `make setup`")

// Options configures the API server.
type Options struct {
	// BinDir holds kube-apiserver and kubectl. Default: $PORTICO_K8S_BIN, else
	// $HOME/.cache/portico/k8s-<DefaultK8sVersion>.
	BinDir string
	// Etcd is the etcd binary. Default: etcd on $PATH.
	Etcd string
	// CRDDir holds the CRD manifests to install. Default: deploy/crd/bases in
	// the module this process runs in (found by walking up to go.mod).
	CRDDir string
	// ServiceCIDR is the cluster's Service range. Default 10.96.0.0/12, wide
	// enough for benchmark-sized runs.
	ServiceCIDR string
	// NodePortRange defaults to 30000-50000.
	NodePortRange string
	// ListenAddress is the address the API server binds to; default 127.0.0.1.
	ListenAddress string
	// ExtraArgs are set on the API server command line (flag name without dashes).
	ExtraArgs map[string]string
}

// Server is a running API server and etcd.
type Server struct {
	env    *envtest.Environment
	Config *rest.Config
	// KubectlPath is the kubectl built beside kube-apiserver.
	KubectlPath string
	binDir      string
}

func setOptionsDefaults(o Options) (Options, error) {
	if o.BinDir == "" {
		o.BinDir = os.Getenv("PORTICO_K8S_BIN")
	}
	if o.BinDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return o, fmt.Errorf("kubeapi: locating cache: %w", err)
		}
		o.BinDir = filepath.Join(home, ".cache", "portico", "k8s-"+DefaultK8sVersion)
	}
	if o.Etcd == "" {
		if p, err := exec.LookPath("etcd"); err == nil {
			o.Etcd = p
		}
	}
	if o.CRDDir == "" {
		root, err := ModuleRoot()
		if err != nil {
			return o, err
		}
		o.CRDDir = filepath.Join(root, "deploy", "crd", "bases")
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = "10.96.0.0/12"
	}
	if o.NodePortRange == "" {
		o.NodePortRange = "30000-50000"
	}
	if o.ListenAddress == "" {
		o.ListenAddress = "127.0.0.1"
	}
	return o, nil
}

// Available reports whether the binaries Start needs are present.
func Available(o Options) error {
	o, err := setOptionsDefaults(o)
	if err != nil {
		return err
	}
	for _, p := range []string{filepath.Join(o.BinDir, "kube-apiserver"), o.Etcd} {
		if p == "" {
			return ErrNoBinaries
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w: %v", ErrNoBinaries, err)
		}
	}
	return nil
}

// Start launches etcd and kube-apiserver and installs the CRDs.
func Start(o Options) (*Server, error) {
	o, err := setOptionsDefaults(o)
	if err != nil {
		return nil, err
	}
	if err := Available(o); err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{o.CRDDir},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	env.ControlPlane.Etcd = &envtest.Etcd{Path: o.Etcd}
	api := &envtest.APIServer{Path: filepath.Join(o.BinDir, "kube-apiserver")}
	// envtest keeps an address only when a port comes with it; otherwise it
	// picks loopback. The lab needs the bridge address, so reserve a port there.
	port, err := freePort(o.ListenAddress)
	if err != nil {
		return nil, err
	}
	api.SecureServing.Address = o.ListenAddress
	api.SecureServing.Port = strconv.Itoa(port)
	args := api.Configure()
	args.Set("service-cluster-ip-range", o.ServiceCIDR)
	args.Set("service-node-port-range", o.NodePortRange)
	for k, v := range o.ExtraArgs {
		args.Set(k, v)
	}
	env.ControlPlane.APIServer = api
	kubectl := filepath.Join(o.BinDir, "kubectl")
	env.ControlPlane.KubectlPath = kubectl

	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("kubeapi: starting API server: %w", err)
	}
	return &Server{env: env, Config: cfg, KubectlPath: kubectl, binDir: o.BinDir}, nil
}

// Stop stops the API server and etcd and removes their data.
func (s *Server) Stop() error {
	if err := s.env.Stop(); err != nil {
		return fmt.Errorf("kubeapi: stopping: %w", err)
	}
	return nil
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("kubeapi: reserving a port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ModuleRoot walks up from the working directory to the directory holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("kubeapi: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kubeapi: no go.mod above the working directory")
		}
		dir = parent
	}
}
