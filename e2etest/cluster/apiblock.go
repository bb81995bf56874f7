package cluster

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// BlockAPIServer cuts every node namespace off the API server, in both
// directions, as if it had stopped: the speakers and kube-proxies keep
// running on what they last saw, their watches stall and their writes time
// out. The controller, in the root namespace, is unaffected. It is an
// nftables table of the harness's own in each node namespace; kube-proxy's
// tables are left alone.
//
// Why not stop the API server: envtest cannot restart it on the same port
// and certificates, so every process would need a new kubeconfig, which is
// a restart, not an outage.
func (c *Cluster) BlockAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blocked {
		return nil
	}
	ap := c.APIServer
	script := fmt.Sprintf(`table inet %[1]s {
	chain output {
		type filter hook output priority -300; policy accept;
		ip daddr %[2]s tcp dport %[3]d drop
	}
	chain input {
		type filter hook input priority -300; policy accept;
		ip saddr %[2]s tcp sport %[3]d drop
	}
}
`, c.blockTable(), ap.Addr(), ap.Port())
	for _, h := range c.Lab.Nodes {
		cmd := h.Command(ctx, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			return errors.Join(fmt.Errorf("cluster: %s: blocking the API server: %w: %s", h.Name, err, out), c.unblockLocked(ctx))
		}
	}
	c.blocked = true
	return nil
}

// UnblockAPIServer undoes BlockAPIServer. Connections the processes kept
// open resume if TCP has not given up on them; new ones work at once.
func (c *Cluster) UnblockAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.blocked {
		return nil
	}
	if err := c.unblockLocked(ctx); err != nil {
		return err
	}
	c.blocked = false
	return nil
}

func (c *Cluster) unblockLocked(ctx context.Context) error {
	var errs []error
	for _, h := range c.Lab.Nodes {
		// Listing first keeps "no such table" (a node not yet blocked) quiet.
		if err := h.Command(ctx, "nft", "list", "table", "inet", c.blockTable()).Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				continue
			}
			errs = append(errs, fmt.Errorf("cluster: %s: %w", h.Name, err))
			continue
		}
		if out, err := h.Command(ctx, "nft", "delete", "table", "inet", c.blockTable()).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: %s: unblocking the API server: %w: %s", h.Name, err, out))
		}
	}
	return errors.Join(errs...)
}

// blockTable names the harness's nftables table, with the lab's prefix.
func (c *Cluster) blockTable() string { return c.Lab.Prefix + "_apiblock" }
