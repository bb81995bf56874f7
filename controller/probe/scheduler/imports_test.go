package scheduler

import (
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports enforces doc.go: the standard library and package probe only.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		switch path {
		case "github.com/portico-lb/portico/controller/probe":
			return true
		}
		return importcheck.Standard(path)
	})
}
