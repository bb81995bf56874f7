package v1beta1_test

import (
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/kubeapi"
)

// One real kube-apiserver + etcd serves every admission test of the package;
// the CRDs it installs are the generated ones in deploy/crd/bases.
var (
	k8s        client.Client
	restConfig *rest.Config
	// noServer says why there is no API server; tests that need one skip
	// with it, or fail when PORTICO_REQUIRE_APISERVER is set (kubeapi.NeedServer).
	noServer string
)

func TestMain(m *testing.M) {
	os.Exit(kubeapi.Main(m, kubeapi.Options{}, &noServer, func(srv *kubeapi.Server) error {
		scheme := runtime.NewScheme()
		if err := v1beta1.AddToScheme(scheme); err != nil {
			return err
		}
		restConfig = srv.Config
		var err error
		k8s, err = client.New(restConfig, client.Options{Scheme: scheme})
		return err
	}))
}
