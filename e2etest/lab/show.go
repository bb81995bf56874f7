package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// watchColumns is a kubectl custom-columns spec that shows who announces
// each Service's addresses, for `kubectl get svc -w`.
const watchColumns = `NAME:.metadata.name,` +
	`IPV4-ANNOUNCED:.status.conditions[?(@.type=="portico.dev/announced-ipv4")].message,` +
	`IPV6-ANNOUNCED:.status.conditions[?(@.type=="portico.dev/announced-ipv6")].message`

// vip is one address of a demo Service and who serves it.
type vip struct {
	services  string // "dns-tcp, dns-udp" for a shared address
	ip        string
	announcer string // from the Service's announced condition
	stale     bool   // the condition named announcer earlier but is gone now
}

// show prints what the demo made, as the user would see it: kubectl, who
// announces each address and who answers the client's ARP/NDP, TCP
// connections from the client; then how to poke and stop the lab.
func (l *Lab) show(ctx context.Context, c client.Client, info readyInfo, seen map[string]string) error {
	out := l.opts.Out
	for _, s := range []struct {
		why  string
		args []string
	}{
		{"The Services: web has an address of each family, dns-tcp and dns-udp share one, wants-taken is pending:",
			[]string{"get", "svc", "-n", demoNamespace, "-o", "wide"}},
		{"The pools, with how many addresses they have handed out, and the L2Advertisement:",
			[]string{"get", "ipaddresspools,l2advertisements", "-o", "wide"}},
	} {
		fmt.Fprintf(out, "\n%s\n$ kubectl %s\n", s.why, shellJoin(s.args))
		b, err := l.kubectl(ctx, info.Kubectl, s.args...)
		out.Write(b)
		if err != nil {
			return err
		}
	}
	vips, reason, err := demoVIPs(ctx, c, seen)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nwants-taken is pending: %s\n", reason)

	fmt.Fprintf(out, "\nWho announces each address (the Services' %s and -ipv6 conditions), and who answers\nthe client's ARP request or Neighbor Solicitation for it (MACs are 02:00 and the node's IPv4 address in hex):\n",
		v1beta1.ServiceConditionAnnouncedIPv4)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  SERVICE\tADDRESS\tANNOUNCED BY\tTHE CLIENT RESOLVES IT TO")
	for _, v := range vips {
		var mac, node string
		err := netlab.Poll(ctx, 200*time.Millisecond, 5*time.Second, "an answer for "+v.ip, func(ctx context.Context) (err error) {
			mac, node, err = l.Resolve(ctx, v.ip)
			return err
		})
		answer := fmt.Sprintf("%s (%s)", mac, orUnknown(node))
		if err != nil {
			answer = err.Error()
		}
		by := v.announcer
		if v.stale {
			by += " (condition gone since)"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", v.services, v.ip, by, answer)
	}
	w.Flush()

	fmt.Fprintf(out, "\nTCP connections from the client (namespace %s, %s) through the addresses:\n", info.Client.Namespace, info.Client.IPv4)
	web4, web6, local := vips[0], vips[1], vips[2]
	l.dialSome(ctx, out, web4.ip, 4)
	l.dialSome(ctx, out, "["+web6.ip+"]:80", 2)
	fmt.Fprintf(out, "  web answers from any of its pods: with externalTrafficPolicy Cluster the announcing node's kube-proxy\n")
	fmt.Fprintf(out, "  picks one and masquerades, so the pod sees the announcing node's address as client=.\n")
	l.dialSome(ctx, out, local.ip, 2)
	fmt.Fprintf(out, "  web-local has externalTrafficPolicy Local: only %s, which has its pod, announces it, and the pod\n", localNode)
	fmt.Fprintf(out, "  sees the client's own address, %s.\n", info.Client.IPv4)
	bgpIP, err := l.demoBGP(ctx, c, info)
	if err != nil {
		return err
	}
	return l.printPoke(out, info, web4, web6, bgpIP)
}

// demoVIPs returns web's IPv4 and IPv6 address, web-local's and the shared
// one, in that order, with their announcers, and why wants-taken is pending.
// An announcer is the one the condition names now, else the last one seen
// (address → node), marked as such.
func demoVIPs(ctx context.Context, c client.Client, seen map[string]string) (vips []vip, pending string, err error) {
	for _, name := range []string{"web", "web-local", "dns-tcp"} {
		svc, err := getService(ctx, c, name)
		if err != nil {
			return nil, "", err
		}
		services := name
		if name == "dns-tcp" {
			services = "dns-tcp, dns-udp"
		}
		ips := ingressIPs(svc)
		// IPv4 first, whatever order the status lists them in.
		slices.SortStableFunc(ips, func(a, b string) int { return strings.Count(a, ":") - strings.Count(b, ":") })
		for _, ip := range ips {
			v := vip{services: services, ip: ip, announcer: announcedBy(svc, ip)}
			if v.announcer == "" && seen[ip] != "" {
				v.announcer, v.stale = seen[ip], true
			}
			vips = append(vips, v)
		}
	}
	if len(vips) != 4 {
		return nil, "", fmt.Errorf("lab: demo: the Services have %d addresses, want 4", len(vips))
	}
	svc, err := getService(ctx, c, "wants-taken")
	if err != nil {
		return nil, "", err
	}
	cond := meta.FindStatusCondition(svc.Status.Conditions, v1beta1.ServiceConditionIPAssigned)
	if cond == nil {
		return nil, "", errors.New("lab: demo: wants-taken has no " + v1beta1.ServiceConditionIPAssigned + " condition")
	}
	return vips, fmt.Sprintf("condition %s is %s, reason %s: %s", cond.Type, cond.Status, cond.Reason, cond.Message), nil
}

// dialSome opens n connections from the client to target and prints each
// answer. The first may take a moment: kube-proxy may still be writing the
// rules for the new endpoints.
func (l *Lab) dialSome(ctx context.Context, out io.Writer, target string, n int) {
	fmt.Fprintf(out, "  $ lab dial %s\n", target)
	for i := range n {
		var res DialResult
		wait := time.Second
		if i == 0 {
			wait = 10 * time.Second
		}
		err := netlab.Poll(ctx, 200*time.Millisecond, wait, "an answer from "+target, func(ctx context.Context) (err error) {
			res, err = l.Dial(ctx, target)
			return err
		})
		if err != nil {
			fmt.Fprintf(out, "    no answer: %v\n", err)
			continue
		}
		fmt.Fprintf(out, "    %s\n", dialLine(res))
	}
}

// printPoke prints how to use, break and stop the lab, with the real
// names, addresses and PIDs.
func (l *Lab) printPoke(out io.Writer, info readyInfo, web4, web6 vip, bgpIP string) error {
	if cur, err := readReady(l.opts.Dir); err == nil {
		info = cur // the speaker PIDs as they are now
	}
	var set settings
	if err := readJSON(filepath.Join(l.opts.Dir, fileSettings), &set); err != nil {
		return err
	}
	cli := "go -C " + set.ModuleRoot + " run ./e2etest/cmd/lab"
	if l.opts.Dir != DefaultDir {
		cli = "PORTICO_LAB_DIR=" + l.opts.Dir + " " + cli
	}
	victim, _ := info.node(web4.announcer)
	kill := "lab kill-speaker " + victim.Name
	if victim.SpeakerPID > 0 {
		kill = fmt.Sprintf("kill -9 %d", victim.SpeakerPID)
	}
	localNote := fmt.Sprintf("Kill %s's speaker instead and web-local goes dark: no other node has its pod.", localNode)
	if victim.Name == localNode {
		localNote = fmt.Sprintf("web-local goes dark meanwhile: no node but %s has its pod.", localNode)
	}
	cl, n1 := info.Client.Namespace, info.Nodes[0]
	fmt.Fprintf(out, "\nThe lab keeps running. Poke it from a root shell:\n\n")
	commented(out, [][2]string{
		{"export KUBECONFIG=" + l.Kubeconfig(), ""},
		{"alias kubectl=" + info.Kubectl, ""},
		{"alias lab='" + cli + "'", ""},
		{"", ""},
		{"lab status", "the namespaces, their addresses and MACs, the speakers' PIDs"},
		{"lab dial " + web4.ip, "one TCP connection from the client through web's address"},
		{"lab resolve " + web6.ip, "who answers the client's Neighbor Solicitation for web's IPv6 address"},
		{"ip netns exec " + cl + " bash -c 'cat </dev/tcp/" + web4.ip + "/80'", "the connection by hand"},
		{"ip netns exec " + cl + " ip neigh", "the client's ARP/NDP cache"},
		{"ip netns exec " + n1.Namespace + " nft list ruleset", "kube-proxy's rules on " + n1.Name},
		{"kubectl create service loadbalancer another -n demo --tcp=80:8080", "gets the next free address"},
	})
	fmt.Fprintf(out, "\nKill the speaker of %s, which announces web's %s, and watch another node take over:\n", victim.Name, web4.ip)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, step := range [][2]string{
		{"1. in one terminal:", "lab dial -w " + web4.ip + "   # a connection every 0.5s, and where the client sent it"},
		{"2. in another:", "kubectl get events -n demo -w"},
		{"   or:", "kubectl get svc -n demo -w -o custom-columns='" + watchColumns + "'"},
		{"3. then:", kill + "   # " + victim.Name + "'s speaker (or: lab kill-speaker " + victim.Name + ")"},
	} {
		fmt.Fprintf(w, "  %s\t%s\n", step[0], step[1])
	}
	w.Flush()
	fmt.Fprintf(out, `  Another node takes %[1]s over within a second or so and tells the client with
  gratuitous ARP; the connections go to it and the Service's condition names it.
  %[2]s
  Nothing restarts the speaker: bring it back with `+"`lab start-speaker %[3]s`"+`.
  Logs: %[4]s/speaker-node-N.log, kube-proxy-node-N.log, controller.log; what the lab did: lab.log

Check on it with `+"`lab status`"+`; stop it with `+"`make lab-down`"+`, which removes everything.
`, web4.ip, localNote, victim.Name, l.opts.Dir)
	printBGPPoke(out, info, bgpIP)
	return nil
}

// commented prints shell commands with their comments aligned; an empty
// command is an empty line.
func commented(out io.Writer, lines [][2]string) {
	w := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	for _, l := range lines {
		switch {
		case l[0] == "":
			fmt.Fprintln(w)
		case l[1] == "":
			fmt.Fprintf(w, "  %s\n", l[0])
		default:
			fmt.Fprintf(w, "  %s\t# %s\n", l[0], l[1])
		}
	}
	w.Flush()
}

// kubectl runs the lab's kubectl against the lab's API server and returns
// its combined output.
func (l *Lab) kubectl(ctx context.Context, kubectl string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+l.Kubeconfig())
	b, err := cmd.CombinedOutput()
	if err != nil {
		return b, fmt.Errorf("lab: kubectl %s: %w", shellJoin(args), err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return b, nil
}

// shellJoin quotes the arguments that a shell would otherwise split or expand,
// so the printed command can be pasted.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@%+", r))
		}) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		quoted[i] = a
	}
	return strings.Join(quoted, " ")
}
