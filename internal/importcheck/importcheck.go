// Package importcheck lets a package's tests enforce what its doc.go promises
// about imports (no client, no I/O, no other Portico package): it reads the
// import lines of the package's non-test files and reports the ones a policy
// refuses. It is test support; production code does not import it.
package importcheck

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Check fails t for every import of the Go files in the working directory
// (the package under test), tests excluded, for which allowed is false.
func Check(t testing.TB, allowed func(path string) bool) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("importcheck: no Go files in the working directory")
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

// CheckTree fails t for every import of every Go file under root, tests
// included, for which allowed is false: for a tree of packages that promise
// the same (e2etest never imports controller/, config/ or speaker/, its
// tests least of all). Directories named testdata are skipped.
func CheckTree(t testing.TB, root string, allowed func(path string) bool) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		n++
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); !allowed(path) {
				t.Errorf("%s imports %s", name, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("importcheck: no Go files under %s", root)
	}
}

// Standard reports whether path is in the standard library (its first
// element has no dot).
func Standard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
