package membership_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/portico-lb/portico/speaker/membership"
)

// A speaker alone in its cluster: it publishes its Lease, finds no one
// else, and counts itself alive and Stable without waiting out the
// hold-down. (A fake client stands in for the API server.)
func ExampleMembership() {
	m, err := membership.New(membership.Config{
		NodeName:  "node-1",
		BindAddr:  netip.MustParseAddr("127.0.0.1"),
		Namespace: "portico-system",
		Subnets:   []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	}, fake.NewClientBuilder().Build(), logr.Discard())
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	for {
		select {
		case <-m.Changed():
		case <-ctx.Done():
			fmt.Println("timed out")
			return
		}
		alive := m.Alive()
		if len(alive) == 1 && alive[0].Stable {
			fmt.Println(alive[0].Name, alive[0].Subnets)
			return
		}
	}
	// Output: node-1 [192.0.2.0/24]
}
