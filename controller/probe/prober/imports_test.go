package prober

import (
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports enforces doc.go: the standard library, the two database drivers, api/v1beta1 and probe; no Kubernetes client.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool {
		switch path {
		case "github.com/go-sql-driver/mysql", "github.com/redis/go-redis/v9",
			"github.com/portico-lb/portico/api/v1beta1", "github.com/portico-lb/portico/controller/probe":
			return true
		}
		return importcheck.Standard(path)
	})
}
