package kubeapi

import (
	"flag"
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

// Main is the TestMain of a package whose integration tier runs against one
// API server: it parses the flags, starts the server with o (see
// StartForTests), calls setup with it, runs the tests, stops the server and
// returns the exit code for os.Exit. When the tier cannot run here it sets
// *skip to why, calls no setup and runs the tests without a server: those
// that need one skip with that reason (see NeedServer). A server that does
// not start, or a setup that fails, fails the run.
func Main(m *testing.M, o Options, skip *string, setup func(*Server) error) int {
	flag.Parse()
	srv, why, err := StartForTests(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if srv == nil {
		*skip = why
		return m.Run()
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	if err := setup(srv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
