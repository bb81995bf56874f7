package importcheck

import "testing"

// recorder collects failures instead of failing, so Check itself can be
// tested: this package imports go/parser, which a strict policy refuses.
type recorder struct {
	testing.TB
	errors int
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.errors++ }
func (r *recorder) Fatal(args ...any)     { r.TB.Fatal(args...) }

func TestCheck(t *testing.T) {
	strict := &recorder{TB: t}
	Check(strict, func(path string) bool { return path != "go/parser" })
	if strict.errors != 1 {
		t.Errorf("refusing go/parser: %d errors, want 1", strict.errors)
	}
	lax := &recorder{TB: t}
	Check(lax, func(string) bool { return true })
	if lax.errors != 0 {
		t.Errorf("allowing all: %d errors, want 0", lax.errors)
	}
}

func TestCheckTree(t *testing.T) {
	// This package's own files, its test included: the test imports only
	// testing, the code go/parser among others.
	strict := &recorder{TB: t}
	CheckTree(strict, ".", func(path string) bool { return path != "go/parser" && path != "testing" })
	// go/parser once (importcheck.go), testing twice (both files).
	if strict.errors != 3 {
		t.Errorf("refusing go/parser and testing: %d errors, want 3", strict.errors)
	}
	lax := &recorder{TB: t}
	CheckTree(lax, ".", func(string) bool { return true })
	if lax.errors != 0 {
		t.Errorf("allowing all: %d errors, want 0", lax.errors)
	}
}

func TestStandard(t *testing.T) {
	for path, want := range map[string]bool{"net/netip": true, "os": true, "k8s.io/api/core/v1": false, "github.com/x/y": false} {
		if got := Standard(path); got != want {
			t.Errorf("Standard(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestStandardNoIO(t *testing.T) {
	for path, want := range map[string]bool{
		"net/netip": true, "fmt": true, "slices": true, "math/rand/v2": true,
		"os": false, "os/exec": false, "net": false, "net/http": false, "net/http/httptest": false,
		"io": false, "io/fs": false, "io/ioutil": false, "syscall": false, "unsafe": false,
		"k8s.io/api/core/v1": false,
	} {
		if got := StandardNoIO(path); got != want {
			t.Errorf("StandardNoIO(%q) = %v, want %v", path, got, want)
		}
	}
}
