// Command lab runs Portico's network lab: network namespaces for three
// nodes and a client on a bridge, a real kube-apiserver and etcd, the
// controller, a speaker and kube-proxy per node, and a router running FRR
// that peers with every node over BGP, with a guided demo.
//
//	go run ./e2etest/cmd/lab up      # make lab
//	go run ./e2etest/cmd/lab status
//	go run ./e2etest/cmd/lab down    # make lab-down
//
// The state directory is /tmp/portico-lab, or $PORTICO_LAB_DIR.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/portico-lb/portico/e2etest/lab"
)

const usage = `usage: lab <command> [arguments]

commands (as root):
  up                       start the lab in the background, run the demo, print how to poke it
  status                   say whether the lab is up: kubeconfig, namespaces, speaker PIDs
  down                     stop the lab and remove everything it made (nothing to do is fine)
` + lab.PokeUsage + `

The state directory is /tmp/portico-lab, or $PORTICO_LAB_DIR.`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := lab.Options{}
	if os.Args[1] == "serve" {
		// The supervisor writes to its log file, which is its stderr.
		opts.Out = os.Stderr
	}
	l, err := lab.New(opts)
	if err == nil {
		err = run(ctx, l, os.Args[1], os.Args[2:])
	}
	if errors.Is(err, lab.ErrUsage) {
		fmt.Fprintf(os.Stderr, "%v\n%s\n", err, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // errors of package lab say "lab:" already
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, l *lab.Lab, cmd string, args []string) error {
	if len(args) > 0 && (cmd == "up" || cmd == "down" || cmd == "status" || cmd == "serve") {
		return fmt.Errorf("%w: %s takes no arguments", lab.ErrUsage, cmd)
	}
	switch cmd {
	case "up":
		return l.Up(ctx)
	case "down":
		return l.Down(ctx)
	case "status":
		st, err := l.Status()
		if err != nil {
			return err
		}
		fmt.Println(st)
		return nil
	case "serve":
		// Started by "up", detached; not for people to run.
		return l.Serve(ctx)
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return nil
	default:
		// dial, resolve, kill-speaker, start-speaker; ErrUsage for the rest.
		return l.Poke(ctx, cmd, args)
	}
}
