package kubeapi

import (
	"fmt"
	"os"
	"testing"
)

// RequireEnv names the environment variable that asks for the integration
// tier (make test sets it): a missing API server then fails tests instead of
// skipping them.
const RequireEnv = "PORTICO_REQUIRE_APISERVER"

// NeedServer is for tests that need the package's API server: it does nothing
// when up, skips t saying why there is no server, or fails t when RequireEnv
// is set and -short is not, so `make test` cannot pass by skipping.
func NeedServer(t testing.TB, up bool, why string) {
	t.Helper()
	if up {
		return
	}
	if os.Getenv(RequireEnv) != "" && !testing.Short() {
		t.Fatalf("%s is set but there is no API server: %s", RequireEnv, why)
	}
	t.Skip(why)
}

// StartForTests starts the package's API server from a TestMain (after
// flag.Parse). When the integration tier cannot run here, because of -short
// or because kube-apiserver and etcd are missing while RequireEnv is unset,
// it returns no server and why, for the tests to skip with. Missing binaries
// with RequireEnv set are an error, so `make test` cannot pass by skipping.
func StartForTests(o Options) (srv *Server, skip string, err error) {
	if testing.Short() {
		return nil, "needs kube-apiserver and etcd; skipped with -short", nil
	}
	if err := Available(o); err != nil {
		if os.Getenv(RequireEnv) != "" {
			return nil, "", fmt.Errorf("%s is set but there is no API server: %w", RequireEnv, err)
		}
		return nil, err.Error(), nil
	}
	srv, err = Start(o)
	return srv, "", err
}
