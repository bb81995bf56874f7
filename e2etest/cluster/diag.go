package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// tail returns the last n lines of a file, introduced by its name, or a
// note saying it could not be read.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%s: %v)\n", path, err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last %d lines of %s:\n%s", len(lines), path, bytes.Join(lines, nil))
}

// Diagnose writes what a human needs when a test fails: the tail of every
// process's log, each node's addresses, routes, neighbours and nftables
// ruleset (kube-proxy's included), the client's neighbours, and the
// Services with their status. It is best effort and bounded in time.
func (c *Cluster) Diagnose(ctx context.Context, w io.Writer, logLines int) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	logs, _ := filepath.Glob(filepath.Join(c.Dir, "*.log"))
	slices.Sort(logs)
	for _, l := range logs {
		io.WriteString(w, tail(l, logLines))
	}
	show := func(title, ns string, args ...string) {
		fmt.Fprintf(w, "--- %s: ip %s\n", title, strings.Join(args, " "))
		out, err := c.run(ctx, c.ip, append([]string{"-n", ns}, args...)...)
		if err != nil {
			fmt.Fprintf(w, "(%v)\n", err)
		}
		w.Write(out)
	}
	for _, h := range c.Lab.Nodes {
		show(h.Name, h.Namespace, "-br", "addr")
		show(h.Name, h.Namespace, "route")
		show(h.Name, h.Namespace, "-6", "route")
		show(h.Name, h.Namespace, "neigh")
		fmt.Fprintf(w, "--- %s: nft list ruleset\n", h.Name)
		out, err := h.Command(ctx, "nft", "list", "ruleset").CombinedOutput()
		if err != nil {
			fmt.Fprintf(w, "(%v)\n", err)
		}
		w.Write(out)
	}
	if cl := c.Lab.Client; cl != nil {
		show("client", cl.Namespace, "neigh")
	}
	if c.KubectlPath != "" {
		for _, args := range [][]string{
			{"get", "nodes", "-o", "wide", "--show-labels"},
			{"get", "services,endpointslices", "-A", "-o", "wide"},
			{"get", "services", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.status}{\"\\n\"}{end}"},
			{"get", "ipaddresspools,l2advertisements,leases", "-A"},
			{"get", "externalservices,endpoints", "-A", "-o", "yaml"},
			{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		} {
			fmt.Fprintf(w, "--- kubectl %s\n", strings.Join(args, " "))
			out, err := c.run(ctx, c.KubectlPath, append([]string{"--kubeconfig", c.Kubeconfig, "--request-timeout", "5s"}, args...)...)
			if err != nil {
				fmt.Fprintf(w, "(%v)\n", err)
			}
			w.Write(out)
		}
	}
}
