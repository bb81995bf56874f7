package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/portico-lb/portico/internal/kubeapi"
)

// Options shape a Cluster. The zero value is three nodes, each with a
// speaker and kube-proxy, logging to a temporary directory that Stop removes.
type Options struct {
	// Nodes is the number of node namespaces. Default 3.
	Nodes int

	// Dir receives the kubeconfig and one log per process. Default: a new
	// temporary directory, removed by Stop. A Dir the caller names is kept.
	Dir string

	// NoKubeProxy leaves kube-proxy out: VIPs are still answered, but no
	// traffic reaches a pod. (Negative, so the zero value runs it.)
	NoKubeProxy bool

	// KubeProxy is the kube-proxy binary. Default: kube-proxy beside the API
	// server's binaries ($PORTICO_K8S_BIN, else
	// $HOME/.cache/portico/k8s-<version>), which `make setup` builds.
	KubeProxy string

	// SpeakerArgs are added to every speaker's command line, after the
	// cluster's own flags, so they override them.
	SpeakerArgs []string

	// ControllerArgs are added to the controller's command line.
	ControllerArgs []string
}

// ErrNoKubeProxy is returned by Start when the kube-proxy binary is missing.
var ErrNoKubeProxy = errors.New("cluster: kube-proxy not found; run `make setup`")

// maxNodes keeps node indexes within one byte of the pod ranges and within
// netlab's node IDs.
const maxNodes = 89

// setOptionsDefaults fills the unset fields of o. home and env stand for
// os.UserHomeDir and os.Getenv, so the table test needs no environment.
// Dir is left alone: making a temporary directory is Start's job.
func setOptionsDefaults(o Options, home func() (string, error), env func(string) string) (Options, error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 1 || o.Nodes > maxNodes {
		return o, fmt.Errorf("cluster: %d nodes: want 1 to %d", o.Nodes, maxNodes)
	}
	if o.KubeProxy == "" && !o.NoKubeProxy {
		dir := env("PORTICO_K8S_BIN")
		if dir == "" {
			h, err := home()
			if err != nil {
				return o, fmt.Errorf("cluster: locating kube-proxy: %w", err)
			}
			dir = filepath.Join(h, ".cache", "portico", "k8s-"+kubeapi.DefaultK8sVersion)
		}
		o.KubeProxy = filepath.Join(dir, "kube-proxy")
	}
	return o, nil
}

// Available reports whether everything Start needs from outside the module
// is installed: the API server's binaries, etcd and kube-proxy.
func Available(o Options) error {
	if err := kubeapi.Available(kubeapi.Options{}); err != nil {
		return err
	}
	o, err := setOptionsDefaults(o, os.UserHomeDir, os.Getenv)
	if err != nil {
		return err
	}
	if o.NoKubeProxy {
		return nil
	}
	if _, err := os.Stat(o.KubeProxy); err != nil {
		return fmt.Errorf("%w: %v", ErrNoKubeProxy, err)
	}
	return nil
}
