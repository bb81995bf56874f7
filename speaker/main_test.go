package speaker

import (
	"os"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/portico-lb/portico/internal/kubeapi"
)

// The tests that need real API semantics (a Create that only one of several
// racing speakers wins, server-side apply of the announced conditions) run
// against one kube-apiserver + etcd, started here; the other tests run
// without it. TestMain lives in the package itself so that its tests reach
// the server too; the external tests get it from APIServerForTest.
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

// APIServerForTest returns TestMain's API server, or nil and why there is
// none, to the tests in package speaker_test.
func APIServerForTest() (*rest.Config, string) { return apiConfig, apiSkipWhy }
