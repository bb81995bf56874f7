// Command bench runs Portico's benchmarks against a real kube-apiserver and
// the portico-controller binary, and prints the figures.
//
//	go run ./e2etest/cmd/bench alloc -n 5000
//	go run ./e2etest/cmd/bench failover -reps 20 -stress 10m
//	go run ./e2etest/cmd/bench external -reps 10 -services 500
//	go run ./e2etest/cmd/bench bgp -latency 100 -scale 1000 -reps 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/portico-lb/portico/e2etest/bench"
)

const usage = `usage: bench <benchmark> [flags]

benchmarks:
  alloc     create N LoadBalancer Services, restart the controller, delete
            some, and compare with the API server's own limit
  failover  kill, unplug and stop the announcing node of a lab cluster (root)
            and of keepalived, and compare the client-observed outages
  external  kill and unplug a real Redis behind an ExternalService, switch
            its primary, and measure 500 ExternalServices probed every
            second (root)
  bgp       Service address → route in an FRR router's FIB, 1000 Services,
            SIGTERM, kill -9 and link down, against a bare gobgpd (GoBGP
            v4, built in a throwaway module) peering with the same router
            (root)

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
	case "failover":
		err = failover(ctx, os.Args[2:])
	case "external":
		err = external(ctx, os.Args[2:])
	case "bgp":
		err = bgp(ctx, os.Args[2:])
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown benchmark %q\n%s\n", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
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

func failover(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	var o bench.FailoverOptions
	fs.IntVar(&o.Reps, "reps", 20, "repetitions of each fault")
	faults := fs.String("faults", "kill,linkdown,sigterm", "faults to inject, comma separated")
	keepalived := fs.Bool("keepalived", true, "also measure keepalived (VRRPv3, advert_int 0.1) under the same faults")
	fs.DurationVar(&o.Stress, "stress", 0, "run a busy loop per CPU on the announcer this long, counting announcer changes (0 skips)")
	fs.DurationVar(&o.Observe, "observe", 10*time.Second, "how long to watch for a move back after a restore")
	speaker := fs.String("speaker-args", "", "extra speaker flags, space separated")
	fs.BoolVar(&o.Sticky, "sticky", false, "run the speakers with --sticky: a restored node takes nothing back, so no move back is expected")
	fs.BoolVar(&o.Verbose, "v", false, "print every repetition")
	fs.BoolVar(&o.Keep, "keep", false, "keep the logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("failover: unexpected arguments %q", fs.Args())
	}
	o.Faults, o.NoKeepalived, o.SpeakerArgs = strings.Split(*faults, ","), !*keepalived, strings.Fields(*speaker)
	return bench.Failover(ctx, o, os.Stdout)
}

func external(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("external", flag.ContinueOnError)
	var o bench.ExternalOptions
	fs.IntVar(&o.Reps, "reps", 10, "repetitions of each fault and of the role switch")
	fs.IntVar(&o.Services, "services", 500, "ExternalServices (two endpoints each) of the scale run; negative skips it")
	fs.DurationVar(&o.Steady, "steady", time.Minute, "how long the scale run measures CPU and API writes")
	fs.BoolVar(&o.Verbose, "v", false, "print every repetition")
	fs.BoolVar(&o.Keep, "keep", false, "keep the logs")
	fs.StringVar(&o.Profile, "profile", "", "write a CPU profile of the controller during the steady window to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("external: unexpected arguments %q", fs.Args())
	}
	return bench.External(ctx, o, os.Stdout)
}

func bgp(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bgp", flag.ContinueOnError)
	var o bench.BGPOptions
	fs.IntVar(&o.Latency, "latency", 100, "Services created one at a time for address → route")
	fs.IntVar(&o.Scale, "scale", 1000, "Services created at once")
	fs.IntVar(&o.Reps, "reps", 10, "repetitions of each fault")
	fs.IntVar(&o.Creators, "creators", 16, "concurrent clients creating the scale Services")
	fs.DurationVar(&o.HoldTime, "hold", 3*time.Second, "BGP hold time of the peer and of gobgpd")
	fs.StringVar(&o.GoBGPDir, "gobgp-dir", "", "where gobgpd and its driver are built (and reused); default: the user cache dir")
	phases := fs.String("phases", "latency,scale,faults", "phases to run, comma separated (they run in this order)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bgp: unexpected arguments %q", fs.Args())
	}
	o.Phases = strings.Split(*phases, ",")
	return bench.BGP(ctx, o, os.Stdout)
}
