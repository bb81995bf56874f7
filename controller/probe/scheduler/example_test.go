package scheduler_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/portico-lb/portico/controller/probe"
	"github.com/portico-lb/portico/controller/probe/scheduler"
)

type alwaysUp struct{}

func (alwaysUp) Probe(context.Context, netip.AddrPort) probe.Result {
	return probe.Result{Outcome: probe.Success, At: time.Now()}
}

// One ExternalService's two targets, probed every 10ms until the context
// ends; results arrive through OnResult.
func ExampleScheduler() {
	results := make(chan scheduler.Key, 100)
	s := scheduler.New(scheduler.Options{Concurrency: 4, OnResult: func(j scheduler.Job, r probe.Result) {
		if r.Outcome == probe.Success {
			select {
			case results <- j.Key:
			default:
			}
		}
	}})
	var jobs []scheduler.Job
	for _, a := range []string{"10.1.0.41:3306", "10.1.0.42:3306"} {
		jobs = append(jobs, scheduler.Job{
			Key:    scheduler.Key{Owner: "shop/mysql", Target: netip.MustParseAddrPort(a)},
			Prober: alwaysUp{}, Interval: 10 * time.Millisecond, Timeout: 5 * time.Millisecond,
		})
	}
	s.Set("shop/mysql", jobs)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = s.Run(ctx) // returns when ctx ends and every probe has returned
	seen := map[netip.AddrPort]bool{}
	for len(results) > 0 {
		seen[(<-results).Target] = true
	}
	fmt.Println(len(seen), "targets probed")
	// Output: 2 targets probed
}
