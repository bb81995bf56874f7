package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/portico-lb/portico/speaker"
	"github.com/portico-lb/portico/speaker/layer2"
	"github.com/portico-lb/portico/speaker/membership"
)

// options is the parsed command line. speaker.Membership and
// speaker.Announcers are left for main to build.
type options struct {
	membership  membership.Config
	layer2      layer2.Config
	speaker     speaker.Options
	metricsAddr string
	probeAddr   string
	// memberlistSecret names the Secret in membership.Namespace holding the
	// gossip keys, created if missing; plainGossip turns encryption off.
	memberlistSecret string
	plainGossip      bool
	zap              zap.Options
}

// parseFlags defines the speaker's flags on fs and parses args. getenv
// supplies the defaults the DaemonSet sets through the downward API:
// NODE_NAME, NODE_IP and POD_NAMESPACE.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) (options, error) {
	var o options
	envOr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	bind := fs.String("bind-address", getenv("NODE_IP"), "this node's address for memberlist (env NODE_IP); required")
	fs.StringVar(&o.membership.NodeName, "node-name", getenv("NODE_NAME"), "this node's name (env NODE_NAME); required")
	fs.StringVar(&o.membership.Namespace, "namespace", envOr("POD_NAMESPACE", "portico-speaker"), "namespace of the speakers' Leases and of --memberlist-secret (env POD_NAMESPACE)")
	fs.StringVar(&o.memberlistSecret, "memberlist-secret", speaker.DefaultGossipSecret, "Secret in --namespace whose \""+speaker.GossipKeyField+"\" key (16, 24 or 32 bytes) encrypts and authenticates gossip; created with a random key if missing")
	fs.BoolVar(&o.plainGossip, "insecure-plain-gossip", false, "do not encrypt or authenticate gossip: anyone on the network can join the membership (not recommended)")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":7472", "Prometheus metrics address; without a host, --bind-address's; 0 disables")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":7473", "healthz/readyz address; without a host, --bind-address's; 0 disables")
	// Each package registers the flags of its own Config, with its own
	// defaults; only the Pod's identity and main's own settings are here.
	o.membership.BindFlags(fs)
	o.layer2.BindFlags(fs)
	o.speaker.BindFlags(fs)
	o.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}

	if o.membership.NodeName == "" {
		return o, errors.New("--node-name (env NODE_NAME) is required")
	}
	addr, err := netip.ParseAddr(*bind)
	if err != nil {
		return o, fmt.Errorf("--bind-address (env NODE_IP) must be this node's IP address: %w", err)
	}
	o.membership.BindAddr, o.speaker.NodeName, o.speaker.Namespace = addr, o.membership.NodeName, o.membership.Namespace
	if o.memberlistSecret == "" && !o.plainGossip {
		return o, errors.New("--memberlist-secret must name a Secret; to run gossip without encryption, say --insecure-plain-gossip")
	}
	// hostNetwork puts these ports on every interface of the node unless
	// they are bound to one address: the node's, where the kubelet's probes
	// and Prometheus reach a hostNetwork Pod.
	if o.metricsAddr, err = onHost(o.metricsAddr, addr); err != nil {
		return o, fmt.Errorf("--metrics-bind-address: %w", err)
	}
	if o.probeAddr, err = onHost(o.probeAddr, addr); err != nil {
		return o, fmt.Errorf("--health-probe-bind-address: %w", err)
	}
	return o, nil
}

// onHost returns addr ("host:port", ":port" or "0") with host for a
// missing host. "0" (disabled) stays.
func onHost(addr string, host netip.Addr) (string, error) {
	if addr == "0" {
		return addr, nil
	}
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if h != "" {
		return addr, nil
	}
	return net.JoinHostPort(host.String(), port), nil
}
