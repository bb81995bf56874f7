// Package e2etest holds only this test: the import rule every package
// below it keeps (see its doc.go files and STYLE.md). e2etest observes
// Portico from outside, as a user would, so it may import api/ and
// internal/ from this module and never controller/, config/ or speaker/.
package e2etest

import (
	"strings"
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

const module = "github.com/portico-lb/portico/"

// allowed says whether an e2etest file may import path.
func allowed(path string) bool {
	rest, ours := strings.CutPrefix(path, module)
	if !ours {
		return true // the standard library and other modules
	}
	for _, ok := range []string{"api/", "internal/", "e2etest/"} {
		if strings.HasPrefix(rest, ok) {
			return true
		}
	}
	return false
}

func TestImports(t *testing.T) {
	importcheck.CheckTree(t, ".", allowed)
}

func TestAllowed(t *testing.T) {
	for path, want := range map[string]bool{
		"net/netip":                            true,
		"k8s.io/api/core/v1":                   true,
		module + "api/v1beta1":                 true,
		module + "internal/netns":              true,
		module + "e2etest/cluster":             true,
		module + "controller/allocator":        false,
		module + "config":                      false,
		module + "speaker/layer2":              false,
		module + "speaker/cmd/portico-speaker": false,
	} {
		if got := allowed(path); got != want {
			t.Errorf("allowed(%q) = %v, want %v", path, got, want)
		}
	}
}
