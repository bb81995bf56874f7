package realserver

import (
	"strings"
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: the standard library,
// internal/netns and github.com/miekg/dns, so that both controller/ tests
// and e2etest may use it.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		return !strings.Contains(path, ".") || path == "github.com/portico-lb/portico/internal/netns" || path == "github.com/miekg/dns"
	})
}
