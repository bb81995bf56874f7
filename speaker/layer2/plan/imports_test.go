package plan

import (
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: planning is computed from its
// arguments; a socket, a file, a clock or a client means logic leaked in
// from the Responders.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		switch path {
		case "fmt", "net/netip", "slices", "strings":
			return true
		}
		return false
	})
}
