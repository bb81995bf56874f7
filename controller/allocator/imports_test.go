package allocator

import (
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: the allocator is a pure data
// structure. It may import the standard library without I/O, and
// internal/iprange; no clock or context (nothing waits), and no Kubernetes
// package, not even API types: what it needs of a Service arrives as an
// Owner.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		switch path {
		case "github.com/portico-lb/portico/internal/iprange":
			return true
		case "time", "context":
			return false
		}
		return importcheck.StandardNoIO(path)
	})
}
