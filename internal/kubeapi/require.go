package kubeapi

import (
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
