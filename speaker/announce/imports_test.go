package announce

import (
	"testing"

	"github.com/portico-lb/portico/internal/importcheck"
)

// TestImports keeps the promise of doc.go: data only, so that an announcer
// implementing speaker.Announcer imports nothing of the speaker's.
func TestImports(t *testing.T) {
	importcheck.Check(t, func(path string) bool { return path == "net/netip" })
}
