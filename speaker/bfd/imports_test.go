package bfd

import (
	"strings"
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: no Kubernetes, no Portico API
// or config; the standard library, x/net, x/sys/unix and logr.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		return importcheck.Standard(path) ||
			strings.HasPrefix(path, "golang.org/x/net/") ||
			path == "golang.org/x/sys/unix" ||
			path == "github.com/go-logr/logr"
	})
}
