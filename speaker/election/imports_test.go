package election

import (
	"strings"
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: the election is computed, never
// fetched. The package may import the standard library without anything
// that does I/O, the config model and Kubernetes API types; a client, a
// socket or a file means the logic has leaked in from a caller.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		switch path {
		case "github.com/portico-lb/portico/config", "github.com/portico-lb/portico/speaker/announce", "k8s.io/api/core/v1", "k8s.io/apimachinery/pkg/labels":
			return true
		case "os", "net", "io", "io/fs", "io/ioutil", "syscall", "unsafe", "time", "math/rand", "math/rand/v2":
			// time and rand too: the result must not depend on when or
			// where it is computed.
			return false
		}
		return importcheck.Standard(path) && !strings.HasPrefix(path, "net/http") && !strings.HasPrefix(path, "os/")
	})
}
