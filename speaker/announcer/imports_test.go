package announcer

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the promise of doc.go: the election is computed, never
// fetched. The package may import the standard library without anything
// that does I/O, the config model and Kubernetes API types; a client, a
// socket or a file means the logic has leaked in from a caller.
func TestImports(t *testing.T) {
	allowed := func(path string) bool {
		switch path {
		case "github.com/portico-lb/portico/config", "k8s.io/api/core/v1", "k8s.io/apimachinery/pkg/labels":
			return true
		case "os", "net", "io", "io/fs", "io/ioutil", "syscall", "unsafe", "time", "math/rand", "math/rand/v2":
			// time and rand too: the result must not depend on when or
			// where it is computed.
			return false
		}
		first, _, _ := strings.Cut(path, "/")
		return !strings.Contains(first, ".") && !strings.HasPrefix(path, "net/http") && !strings.HasPrefix(path, "os/")
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
			if path, _ := strconv.Unquote(imp.Path.Value); !allowed(path) {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
