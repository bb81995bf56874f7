package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// conditionPath prints each Service condition as type, status, reason and message.
const conditionPath = `{range .status.conditions[*]}{.type}{"\t"}{.status}{"\t"}{.reason}{"\t"}{.message}{"\n"}{end}`

// show prints what the demo did through the real kubectl, as the user would
// see it, then how to use and stop the lab.
func (l *Lab) show(ctx context.Context, info readyInfo) error {
	out := l.opts.Out
	steps := []struct {
		why  string
		args []string
	}{
		{"The pools, with how many addresses they have handed out:",
			[]string{"get", "ipaddresspools", "-o", "wide"}},
		{"The Services: dns-tcp and dns-udp share one address, dual has one of each family,\nwants-taken is pending:",
			[]string{"get", "svc", "-n", demoNamespace, "-o", "wide"}},
		{"Why wants-taken is pending (its condition: type, status, reason, message):",
			[]string{"get", "svc", "wants-taken", "-n", demoNamespace, "-o", "jsonpath=" + conditionPath}},
		{"The Warning Events the controller wrote:",
			[]string{"get", "events", "-n", demoNamespace, "--field-selector", "type=Warning"}},
	}
	for _, s := range steps {
		fmt.Fprintf(out, "\n%s\n$ kubectl %s\n", s.why, shellJoin(s.args))
		b, err := l.kubectl(ctx, info.Kubectl, s.args...)
		out.Write(b)
		if err != nil {
			return err
		}
	}
	dir := l.opts.Dir
	fmt.Fprintf(out, `
The lab keeps running. Poke it from a shell:

  export KUBECONFIG=%[1]s
  alias kubectl=%[2]s

  kubectl create service loadbalancer another -n demo --tcp=8080:8080   # gets the next free address
  kubectl delete svc web -n demo        # frees web's address; wants-taken takes it
  kubectl edit ipaddresspool demo-v4    # e.g. add 198.51.100.64/28, or set disabled: true
  kubectl get svc -n demo -w            # watch addresses come and go
  kubectl get events -n demo -w         # why the controller did what it did
  tail -f %[3]s

Check on it with `+"`go run ./e2etest/cmd/lab status`"+`; stop it with `+"`make lab-down`"+`.
`, l.Kubeconfig(), info.Kubectl, filepath.Join(dir, fileCtrlLog))
	return nil
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
