package ipam

import (
	"strings"
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: ipam decides and never talks to
// the API server. It may import the standard library without I/O, the API
// types' constants, the config model and the allocator; a client (client-go,
// controller-runtime) or core API objects mean reconciler work leaked in.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		switch path {
		case "github.com/portico-lb/portico/api/v1beta1", "github.com/portico-lb/portico/config",
			"github.com/portico-lb/portico/controller/allocator":
			return true
		case "os", "net", "io", "io/fs", "io/ioutil", "syscall", "unsafe", "context":
			return false
		}
		return importcheck.Standard(path) && !strings.HasPrefix(path, "net/http") && !strings.HasPrefix(path, "os/")
	})
}
