package config

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the promise of doc.go: no client, no I/O. The package
// may import the standard library (without os, net or net/http beyond
// net/netip), API types and internal/iprange, nothing else.
func TestImports(t *testing.T) {
	allowed := func(path string) bool {
		switch {
		case path == "os" || strings.HasPrefix(path, "os/") || path == "net" || strings.HasPrefix(path, "net/http") ||
			path == "io/ioutil" || path == "syscall" || path == "unsafe":
			return false
		case !strings.Contains(strings.SplitN(path, "/", 2)[0], "."):
			return true // standard library
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
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed(path) {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
