package allocator

import (
	"strings"
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: the allocator is a pure data
// structure. It may import the standard library without anything that does
// I/O or reads the clock, and internal/iprange; no Kubernetes package, not
// even API types: what it needs of a Service arrives as an Owner.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		switch path {
		case "github.com/portico-lb/portico/internal/iprange":
			return true
		case "os", "net", "io", "io/fs", "io/ioutil", "syscall", "unsafe", "time", "context":
			return false
		}
		return importcheck.Standard(path) && !strings.HasPrefix(path, "net/http") && !strings.HasPrefix(path, "os/")
	})
}
