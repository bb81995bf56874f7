package speaker_test

import (
	"flag"
	"fmt"
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

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	flag.Parse()
	srv, skip, err := kubeapi.StartForTests(kubeapi.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if srv == nil {
		apiSkipWhy = skip
		return m.Run()
	}
	defer func() { _ = srv.Stop() }()
	apiConfig = srv.Config
	return m.Run()
}
