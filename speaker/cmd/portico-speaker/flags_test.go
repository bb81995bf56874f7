package main

import (
	"flag"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestParseFlags checks the defaults the DaemonSet relies on (downward-API
// env, the ports deploy/speaker/daemonset.yaml declares) and the errors for
// what a speaker cannot start without.
func TestParseFlags(t *testing.T) {
	podEnv := map[string]string{"NODE_NAME": "node-1", "NODE_IP": "192.0.2.11", "POD_NAMESPACE": "lb"}
	type got struct {
		Node, Namespace, Secret, Metrics, Probe string
		Plain                                   bool
		Bind                                    netip.Addr
		Port                                    int
		Handover                                time.Duration
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    got
		wantErr string
	}{{
		// Issue 8: gossip is encrypted with the key Secret by default, and
		// metrics and probes listen on the node's address only.
		name: "DaemonSet: everything from the environment",
		env:  podEnv,
		want: got{Node: "node-1", Bind: netip.MustParseAddr("192.0.2.11"), Namespace: "lb", Secret: "portico-memberlist",
			Metrics: "192.0.2.11:7472", Probe: "192.0.2.11:7473", Port: 7946, Handover: time.Second},
	}, {
		name: "flags win over the environment",
		env:  podEnv,
		args: []string{"--node-name", "n2", "--bind-address", "2001:db8::2", "--namespace", "x",
			"--memberlist-secret", "portico-memberlist", "--health-probe-bind-address", "0", "--memberlist-port", "17946"},
		want: got{Node: "n2", Bind: netip.MustParseAddr("2001:db8::2"), Namespace: "x", Secret: "portico-memberlist",
			Metrics: "[2001:db8::2]:7472", Probe: "0", Port: 17946, Handover: time.Second},
	}, {
		name: "an explicit host is kept, even the wildcard",
		env:  podEnv,
		args: []string{"--metrics-bind-address", "0.0.0.0:9000", "--health-probe-bind-address", "127.0.0.1:9001", "--memberlist-secret", "mine"},
		want: got{Node: "node-1", Bind: netip.MustParseAddr("192.0.2.11"), Namespace: "lb", Secret: "mine",
			Metrics: "0.0.0.0:9000", Probe: "127.0.0.1:9001", Port: 7946, Handover: time.Second},
	}, {
		name: "plain gossip only when asked for",
		env:  podEnv,
		args: []string{"--insecure-plain-gossip", "--memberlist-secret", ""},
		want: got{Node: "node-1", Bind: netip.MustParseAddr("192.0.2.11"), Namespace: "lb", Plain: true,
			Metrics: "192.0.2.11:7472", Probe: "192.0.2.11:7473", Port: 7946, Handover: time.Second},
	}, {
		name:    "no Secret and no opt-out",
		env:     podEnv,
		args:    []string{"--memberlist-secret", ""},
		wantErr: "--memberlist-secret must name a Secret; to run gossip without encryption, say --insecure-plain-gossip",
	}, {
		name:    "bad metrics address",
		env:     podEnv,
		args:    []string{"--metrics-bind-address", "7472"},
		wantErr: "--metrics-bind-address: address 7472: missing port in address",
	}, {
		name: "outside a Pod the namespace is the speaker's",
		args: []string{"--node-name", "n1", "--bind-address", "10.0.0.1"},
		want: got{Node: "n1", Bind: netip.MustParseAddr("10.0.0.1"), Namespace: "portico-speaker", Secret: "portico-memberlist",
			Metrics: "10.0.0.1:7472", Probe: "10.0.0.1:7473", Port: 7946, Handover: time.Second},
	}, {
		name:    "no node name",
		env:     map[string]string{"NODE_IP": "192.0.2.11"},
		wantErr: "--node-name (env NODE_NAME) is required",
	}, {
		name:    "no address",
		env:     map[string]string{"NODE_NAME": "node-1"},
		wantErr: "--bind-address (env NODE_IP) must be this node's IP address",
	}, {
		name:    "bad address",
		env:     podEnv,
		args:    []string{"--bind-address", "node-1.example"},
		wantErr: "--bind-address (env NODE_IP) must be this node's IP address: ParseAddr(\"node-1.example\")",
	}, {
		name:    "unknown flag",
		env:     podEnv,
		args:    []string{"--memberlist-key", "x"},
		wantErr: "flag provided but not defined: -memberlist-key",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("portico-speaker", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			o, err := parseFlags(fs, tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.speaker.NodeName != o.membership.NodeName {
				t.Errorf("speaker node %q, membership node %q", o.speaker.NodeName, o.membership.NodeName)
			}
			g := got{Node: o.membership.NodeName, Namespace: o.membership.Namespace, Secret: o.memberlistSecret, Plain: o.plainGossip,
				Metrics: o.metricsAddr, Probe: o.probeAddr, Bind: o.membership.BindAddr, Port: o.membership.BindPort,
				Handover: o.speaker.HandoverDelay}
			if diff := cmp.Diff(tc.want, g, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}
