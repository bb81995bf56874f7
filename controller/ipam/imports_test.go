package ipam

import (
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: ipam decides and never talks to
// the API server. Beside the standard library without I/O it may import the
// API types' constants, the config model and the allocator; a client
// (client-go, controller-runtime), core API objects or a context mean
// reconciler work leaked in.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		switch path {
		case "github.com/portico-lb/portico/api/v1beta1", "github.com/portico-lb/portico/config",
			"github.com/portico-lb/portico/controller/allocator":
			return true
		case "context":
			return false
		}
		return importcheck.StandardNoIO(path)
	})
}
