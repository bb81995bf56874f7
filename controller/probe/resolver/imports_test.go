package resolver

import (
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports enforces doc.go: the standard library and miekg/dns only.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		switch path {
		case "github.com/miekg/dns":
			return true
		}
		return importcheck.Standard(path)
	})
}
