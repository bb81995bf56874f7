package lab

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// ErrUsage is returned by Poke for a command it does not know or bad
// arguments; the message says which.
var ErrUsage = errors.New("lab: usage")

// PokeUsage describes the commands Poke runs.
const PokeUsage = `  dial [-w] <ip>[:port]    one TCP connection from the client namespace through a VIP (port 80 by
                           default); -w: one every half second until Ctrl-C, to watch a takeover
  resolve <ip>             one ARP request / Neighbor Solicitation from the client: who answers
  kill-speaker <node>      kill -9 the speaker on node-N; nothing restarts it
  start-speaker <node>     start it again and wait until the speakers count it as a member
  routes [-w]              the lab router's BGP routes (FRR's table and its kernel FIB); -w: print
                           them whenever they change until Ctrl-C, to watch a withdrawal`

// Dial opens one TCP connection from the client namespace to target
// ("ip", "ip:port" or "[ipv6]:port"; port 80 by default) through the
// running lab, and returns the podserver's answer and where the client
// sent the packets.
func (l *Lab) Dial(ctx context.Context, target string) (DialResult, error) {
	ap, err := parseTarget(target)
	if err != nil {
		return DialResult{}, err
	}
	var res DialResult
	err = l.call(ctx, http.MethodGet, "/dial", url.Values{"addr": {ap.String()}}, nil, &res)
	return res, err
}

// Resolve asks from the client namespace who has ip and returns the MAC
// that answered and the node it belongs to.
func (l *Lab) Resolve(ctx context.Context, ip string) (mac, node string, err error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", "", fmt.Errorf("%w: resolve %q: %v", ErrUsage, ip, err)
	}
	var res DialResult
	err = l.call(ctx, http.MethodGet, "/resolve", url.Values{"ip": {a.String()}}, nil, &res)
	return res.MAC, res.Node, err
}

// KillSpeaker kills node's speaker with SIGKILL, as a crash would, and
// returns its pid. The supervisor does not restart it.
func (l *Lab) KillSpeaker(ctx context.Context, node string) (pid int, err error) {
	var res speakerReply
	err = l.call(ctx, http.MethodPost, "/speakers/"+url.PathEscape(node)+"/kill", nil, nil, &res)
	return res.PID, err
}

// StartSpeaker starts node's speaker again and waits until every speaker
// counts it as a stable member; it returns its pid and that wait.
func (l *Lab) StartSpeaker(ctx context.Context, node string) (pid int, settled time.Duration, err error) {
	var res speakerReply
	err = l.call(ctx, http.MethodPost, "/speakers/"+url.PathEscape(node)+"/start", nil, nil, &res)
	return res.PID, res.Settled, err
}

// parseTarget reads "ip", "ip:port" or "[ipv6]:port", with port 80 when
// none is given.
func parseTarget(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %q is not ip, ip:port or [ipv6]:port", ErrUsage, s)
	}
	return netip.AddrPortFrom(a, 80), nil
}

// Poke runs one of the commands in PokeUsage against the running lab and
// prints the result to Out.
func (l *Lab) Poke(ctx context.Context, cmd string, args []string) error {
	out := l.opts.Out
	switch cmd {
	case "dial", "resolve", "kill-speaker", "start-speaker", "routes":
	default:
		return fmt.Errorf("%w: unknown command %q", ErrUsage, cmd)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	watch := fs.Bool("w", false, "")
	if cmd == "routes" {
		if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
			return fmt.Errorf("%w: lab routes %s: want no argument but -w", ErrUsage, strings.Join(args, " "))
		}
		if *watch {
			return l.watchRoutes(ctx, out)
		}
		rs, err := l.Routes(ctx)
		if err != nil {
			return err
		}
		printRoutes(out, rs)
		return nil
	}
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || (*watch && cmd != "dial") {
		return fmt.Errorf("%w: lab %s %s: want one argument", ErrUsage, cmd, strings.Join(args, " "))
	}
	arg := fs.Arg(0)
	switch cmd {
	case "dial":
		if *watch {
			return l.watchDial(ctx, out, arg)
		}
		res, err := l.Dial(ctx, arg)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, dialLine(res))
	case "resolve":
		mac, node, err := l.Resolve(ctx, arg)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s is at %s (%s)\n", arg, mac, orUnknown(node))
	case "kill-speaker":
		pid, err := l.KillSpeaker(ctx, arg)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "killed the speaker on %s (pid %d) with SIGKILL; it stays down until `lab start-speaker %s`\n", arg, pid, arg)
	case "start-speaker":
		pid, settled, err := l.StartSpeaker(ctx, arg)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "started the speaker on %s (pid %d); every speaker counts it as a member after %.1fs\n", arg, pid, settled.Seconds())
	}
	return nil
}

// watchDial dials target every half second until ctx ends, one line each,
// so a person sees a takeover as it happens.
func (l *Lab) watchDial(ctx context.Context, out io.Writer, target string) error {
	if _, err := parseTarget(target); err != nil {
		return err
	}
	fmt.Fprintf(out, "Connecting to %s from the client every 0.5s; Ctrl-C stops.\n", target)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := l.Dial(ctx, target)
		if ctx.Err() != nil {
			return nil
		}
		msg := dialLine(res)
		if err != nil {
			msg = "no answer: " + err.Error()
		}
		fmt.Fprintf(out, "%s  %s\n", time.Now().Format("15:04:05.000"), msg)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// dialLine is a DialResult for a person.
func dialLine(r DialResult) string {
	if r.MAC == "" {
		return r.Line
	}
	return fmt.Sprintf("%s   (the client sent it to %s = %s)", r.Line, r.MAC, orUnknown(r.Node))
}

func orUnknown(node string) string {
	if node == "" {
		return "no node of the lab"
	}
	return node
}
