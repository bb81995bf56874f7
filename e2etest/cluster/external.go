package cluster

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// What the controller is told about the world outside the cluster, for
// ExternalServices: the resolv.conf it resolves endpoint names with (Dir/
// resolv.conf, which SetNameservers rewrites; the controller reads it at
// every lookup) and the pod and node ranges it refuses as targets, as an
// install would set them (the lab's database hosts share the LAN with the
// nodes, so the node range is the nodes' own addresses, not the LAN).

// controllerExternalArgs are the controller's ExternalService flags.
func (c *Cluster) controllerExternalArgs() ([]string, error) {
	if err := c.SetNameservers(); err != nil {
		return nil, err
	}
	var nodes []string
	for _, h := range c.Lab.Nodes {
		nodes = append(nodes, netip.PrefixFrom(h.IPv4, 32).String(), netip.PrefixFrom(h.IPv6, 128).String())
	}
	return []string{
		"--external-resolv-conf", c.ResolvConf(),
		"--external-refuse-pod-cidrs", clusterCIDRs,
		"--external-refuse-node-cidrs", strings.Join(nodes, ","),
	}, nil
}

// ResolvConf is the path of the resolv.conf the controller resolves
// ExternalService endpoint names with.
func (c *Cluster) ResolvConf() string { return filepath.Join(c.Dir, "resolv.conf") }

// SetNameservers makes servers (DNS servers on lab hosts, port 53) the
// controller's nameservers; none leaves the controller without any, so
// every name fails to resolve. The file is replaced in one rename, so a
// lookup never reads half of it.
func (c *Cluster) SetNameservers(servers ...netip.Addr) error {
	var b strings.Builder
	b.WriteString("# e2etest/cluster: the ExternalService controller's resolver (SetNameservers)\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	b.WriteString("options timeout:1 attempts:1\n")
	tmp := c.ResolvConf() + ".new"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("cluster: resolv.conf: %w", err)
	}
	if err := os.Rename(tmp, c.ResolvConf()); err != nil {
		return fmt.Errorf("cluster: resolv.conf: %w", err)
	}
	return nil
}
