package routes

import (
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: the plan is computed from its
// arguments. A socket, a clock, a client or GoBGP here means the session's
// I/O leaked into the decision.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		switch path {
		case "github.com/portico-lb/portico/config", "github.com/portico-lb/portico/speaker/announce", "k8s.io/apimachinery/pkg/labels":
			return true
		case "time", "math/rand", "math/rand/v2":
			return false
		}
		return importcheck.StandardNoIO(path)
	})
}
