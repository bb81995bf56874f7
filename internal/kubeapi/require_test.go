package kubeapi

import (
	"strings"
	"testing"
)

// TestStartForTestsWithoutBinaries: without kube-apiserver the tier is
// skipped with the reason, unless RequireEnv asks for it, which is an error.
func TestStartForTestsWithoutBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("StartForTests returns early with -short")
	}
	o := Options{BinDir: t.TempDir()}

	t.Setenv(RequireEnv, "")
	srv, skip, err := StartForTests(o)
	if srv != nil || err != nil || !strings.Contains(skip, "kube-apiserver") {
		t.Errorf("RequireEnv unset: StartForTests = %v, %q, %v; want no server and a skip reason naming kube-apiserver", srv, skip, err)
	}

	t.Setenv(RequireEnv, "1")
	srv, skip, err = StartForTests(o)
	if srv != nil || skip != "" || err == nil || !strings.Contains(err.Error(), RequireEnv) {
		t.Errorf("RequireEnv set: StartForTests = %v, %q, %v; want an error naming %s", srv, skip, err, RequireEnv)
	}
}
