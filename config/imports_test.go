package config

import (
	"strings"
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: no client, no I/O. The package
// may import the standard library (without os, net or net/http beyond
// net/netip), API types and internal/iprange, nothing else.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		switch {
		case path == "os" || strings.HasPrefix(path, "os/") || path == "net" || strings.HasPrefix(path, "net/http") ||
			path == "io/ioutil" || path == "syscall" || path == "unsafe":
			return false
		case importcheck.Standard(path):
			return true
		}
		for _, prefix := range []string{
			"github.com/portico-lb/portico/api/",
			"github.com/portico-lb/portico/internal/iprange",
			"k8s.io/api/",
			"k8s.io/apimachinery/",
		} {
			if strings.HasPrefix(path, prefix) {
				return true
			}
		}
		return false
	})
}
