package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/portico-lb/portico/internal/kubeapi"
)

// Binary names in the build directory.
const (
	binController = "portico-controller"
	binSpeaker    = "portico-speaker"
	binPodserver  = "podserver"
)

// builds holds the binaries of this process's clusters. They are built once
// and shared (a test binary that starts several clusters compiles once), and
// removed when the last cluster using them stops. This is the package's only
// mutable state: it stands for the process-wide build, not for a cluster.
var builds struct {
	mu    sync.Mutex
	dir   string // "" until built
	users int
}

// acquireBinaries builds the controller, speaker and podserver from the
// module this process runs in, unless a live cluster already did, and
// returns their directory. Each call must be paired with releaseBinaries.
func acquireBinaries(ctx context.Context) (string, error) {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir == "" {
		dir, err := build(ctx)
		if err != nil {
			return "", err
		}
		builds.dir = dir
	}
	builds.users++
	return builds.dir, nil
}

// releaseBinaries drops one user and removes the binaries after the last.
func releaseBinaries() error {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	builds.users--
	if builds.users > 0 || builds.dir == "" {
		return nil
	}
	dir := builds.dir
	builds.dir = ""
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("cluster: removing binaries: %w", err)
	}
	return nil
}

// build compiles the three binaries in one go build into a new directory.
func build(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "portico-e2e-bin-")
	if err != nil {
		return "", fmt.Errorf("cluster: %w", err)
	}
	if _, err := GoBuild(ctx, dir, "./controller/cmd/"+binController, "./speaker/cmd/"+binSpeaker, "./e2etest/cmd/"+binPodserver); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// GoBuild builds the commands pkgs (paths in this process's module, such as
// ./e2etest/cmd/podserver) into dir in one go build, within five minutes,
// and returns the binaries' paths, each named after its package's last
// element, in the order of pkgs. It is e2etest's one way to build
// Portico's binaries.
func GoBuild(ctx context.Context, dir string, pkgs ...string) ([]string, error) {
	root, err := kubeapi.ModuleRoot()
	if err != nil {
		return nil, fmt.Errorf("cluster: finding the module to build: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	// The module builds with -mod=mod (see the Makefile); other GOFLAGS stay.
	if flags := os.Getenv("GOFLAGS"); !strings.Contains(flags, "-mod=") {
		cmd.Env = append(cmd.Env, "GOFLAGS="+strings.TrimSpace(flags+" -mod=mod"))
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cluster: building %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	bins := make([]string, len(pkgs))
	for i, p := range pkgs {
		bins[i] = filepath.Join(dir, filepath.Base(p))
	}
	return bins, nil
}
