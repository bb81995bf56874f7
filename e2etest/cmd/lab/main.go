// Command lab runs Portico's test lab: a real kube-apiserver and etcd with
// portico-controller running against them, plus a guided demo.
//
//	go run ./e2etest/cmd/lab up      # make lab
//	go run ./e2etest/cmd/lab status
//	go run ./e2etest/cmd/lab down    # make lab-down
//
// The state directory is /tmp/portico-lab, or $PORTICO_LAB_DIR.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/portico-lb/portico/e2etest/lab"
)

const usage = `usage: lab <command>

commands:
  up      start the lab in the background, run the demo, print how to use it
  status  say whether the lab is up and where its kubeconfig is
  down    stop the lab and remove its state directory (nothing to do is fine)

The state directory is /tmp/portico-lab, or $PORTICO_LAB_DIR.`

func main() {
	if len(os.Args) != 2 {
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
		err = run(ctx, l, os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // errors of package lab say "lab:" already
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, l *lab.Lab, cmd string) error {
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
		fmt.Fprintf(os.Stderr, "lab: unknown command %q\n%s\n", cmd, usage)
		os.Exit(2)
		return nil
	}
}
