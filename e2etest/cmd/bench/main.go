// Command bench runs Portico's benchmarks against a real kube-apiserver and
// the portico-controller binary, and prints the figures.
//
//	go run ./e2etest/cmd/bench alloc -n 5000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/portico-lb/portico/e2etest/bench"
)

const usage = `usage: bench <benchmark> [flags]

benchmarks:
  alloc   create N LoadBalancer Services, restart the controller, delete some,
          and compare with the API server's own limit

run "bench <benchmark> -h" for its flags`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A closed stdout (bench ... | head) must not kill the bench before it
	// stops the API server and the controller.
	signal.Ignore(syscall.SIGPIPE)
	var err error
	switch os.Args[1] {
	case "alloc":
		err = alloc(ctx, os.Args[2:])
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown benchmark %q\n%s\n", os.Args[1], usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
}

func alloc(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("alloc", flag.ContinueOnError)
	var o bench.AllocOptions
	fs.IntVar(&o.N, "n", 1000, "number of Services to create")
	fs.IntVar(&o.Workers, "workers", 4, "portico-controller --workers (and the API-server limit run's concurrency)")
	fs.Float64Var(&o.QPS, "qps", 500, "portico-controller --kube-api-qps")
	fs.IntVar(&o.Burst, "burst", 1000, "portico-controller --kube-api-burst")
	fs.IntVar(&o.Creators, "creators", 16, "concurrent clients creating Services")
	fs.StringVar(&o.Controller, "controller", "", "a built portico-controller; default: go build it into the temp dir")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temp dir (kubeconfig, controller logs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("alloc: unexpected arguments %q", fs.Args())
	}
	return bench.Alloc(ctx, o, os.Stdout)
}
