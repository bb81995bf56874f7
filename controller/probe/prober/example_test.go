package prober_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
	"github.com/portico-lb/portico/controller/probe/prober"
)

// The TCP check of an address something listens on, within a timeout.
func ExampleNew() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	p, err := prober.New(v1beta1.HealthCheckTCP, nil)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r := p.Probe(ctx, netip.MustParseAddrPort(l.Addr().String()))
	fmt.Println(r.Outcome == probe.Success, r.Role)
	// Output: true Unknown
}
