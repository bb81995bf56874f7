package speaker_test

import (
	"os"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/portico-lb/portico/internal/kubeapi"
)

// The gossip key tests that need real API semantics (a Create that only one
// of several racing speakers wins) run against one kube-apiserver + etcd,
// started here; the other tests run without it.
var (
	apiConfig  *rest.Config // nil without an API server
	apiSkipWhy string
)

func TestMain(m *testing.M) {
	os.Exit(kubeapi.Main(m, kubeapi.Options{}, &apiSkipWhy, func(srv *kubeapi.Server) error {
		apiConfig = srv.Config
		return nil
	}))
}
