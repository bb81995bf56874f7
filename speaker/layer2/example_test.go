package layer2_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/go-logr/logr"

	"github.com/portico-lb/portico/speaker/layer2"
)

// The speaker wires a Responders like this: New, Run in the background, Set
// whenever the election changes, Healthy for the health endpoint.
func ExampleResponders_Healthy() {
	a := layer2.New(layer2.Config{RescanInterval: 50 * time.Millisecond}, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)

	a.Set(map[netip.Addr][]string{
		netip.MustParseAddr("192.0.2.10"): {"eth-missing0"},
	})
	for i := 0; i < 100 && a.Healthy() == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println(a.Healthy())
	// Output: layer2: interface "eth-missing0": not found
}
