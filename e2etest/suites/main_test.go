package suites

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/internal/roottier"
)

var keepLogs = flag.Bool("e2e.keep-logs", false, "keep the cluster's logs even when every test passed")

// shared is the package's one cluster, started by the first test that asks.
var shared struct {
	once sync.Once
	c    *cluster.Cluster
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if shared.c != nil {
		start := time.Now()
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "suites: stopping the cluster: %v\n", err)
			code = 1
		}
		fmt.Fprintf(os.Stderr, "suites: cluster stopped in %v\n", time.Since(start).Round(time.Millisecond))
	}
	if shared.dir != "" {
		if code != 0 || *keepLogs {
			fmt.Fprintf(os.Stderr, "suites: logs and kubeconfig kept in %s\n", shared.dir)
		} else {
			os.RemoveAll(shared.dir)
		}
	}
	os.Exit(code)
}

// theCluster returns the shared cluster, starting it on first use, or
// skips the test when the root tier cannot run here.
func theCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	requireLab(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "portico-e2e-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		start := time.Now()
		shared.c, shared.err = cluster.Start(ctx, cluster.Options{Dir: dir})
		if shared.err == nil {
			l := shared.c.Lab
			t.Logf("cluster up in %v: lab %s, LAN %s %s, API server %s, logs in %s",
				time.Since(start).Round(time.Millisecond), l.Prefix, l.LANv4, l.LANv6, shared.c.APIServer, dir)
		}
	})
	if shared.err != nil {
		t.Fatalf("starting the cluster: %v (logs in %s)", shared.err, shared.dir)
	}
	return shared.c
}

// requireLab skips the test, or fails it with PORTICO_E2E=1, when the root
// tier cannot run here.
func requireLab(t *testing.T) {
	t.Helper()
	roottier.Require(t)
	if err := cluster.Available(cluster.Options{}); err != nil {
		if os.Getenv("PORTICO_E2E") == "1" {
			t.Fatalf("PORTICO_E2E=1, but: %v", err)
		}
		t.Skipf("skipped: %v (set PORTICO_E2E=1 to fail instead)", err)
	}
}
