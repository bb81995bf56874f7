package membership

import (
	"strings"
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: membership decides nothing
// about addresses, so it imports no other Portico package.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		return !strings.HasPrefix(path, "github.com/portico-lb/portico/")
	})
}
