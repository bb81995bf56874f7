package bfd_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/portico-lb/portico/speaker/bfd"
)

func ExamplePacket() {
	p := bfd.Packet{
		State:         bfd.StateDown,
		Diag:          bfd.DiagControlDetectionExpired,
		DetectMult:    3,
		MyDiscr:       0x01020304,
		DesiredMinTx:  time.Second, // §6.8.3: at least 1 s until Up
		RequiredMinRx: 300 * time.Millisecond,
	}
	b, err := p.MarshalBinary()
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", b)

	var q bfd.Packet
	if err := q.UnmarshalBinary(b); err != nil {
		panic(err)
	}
	fmt.Println(q.State, "/", q.Diag, "/", q.RequiredMinRx)

	b[1] |= 0x04 // the A bit: no authentication is configured
	fmt.Println(q.UnmarshalBinary(b))
	// Output:
	// 21 40 03 18 01 02 03 04 00 00 00 00 00 0f 42 40 00 04 93 e0 00 00 00 00
	// Down / control detection time expired / 300ms
	// bfd: malformed control packet: authentication present (A bit), and none is configured
}

// Two Managers on one machine, each the other's peer over 127.0.0.1 (on
// test ports rather than 3784): the sessions come Up, and a BGP session
// would now follow its peer's StateChanges.
func ExampleManager() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lo := netip.MustParseAddr("127.0.0.1")
	timers := bfd.Timers{DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 50 * time.Millisecond, DetectMult: 3}
	up := make(chan string, 2)
	for _, ports := range [][2]uint16{{43784, 43785}, {43785, 43784}} {
		m := bfd.New(bfd.Config{Port: ports[0], MultihopPort: ports[0] + 1000})
		go m.Run(ctx)
		name := fmt.Sprint("port ", ports[0])
		err := m.Add(ctx, bfd.Peer{Addr: lo, Port: ports[1], Timers: timers, OnStateChange: func(c bfd.StateChange) {
			if c.New == bfd.StateUp {
				up <- name
			}
		}})
		if err != nil {
			panic(err)
		}
	}
	for range 2 {
		select {
		case <-up:
		case <-time.After(10 * time.Second):
			fmt.Println("timed out")
			return
		}
	}
	fmt.Println("both sessions Up")
	// Output: both sessions Up
}
