package layer2

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// fakeConn is the socket boundary of the ARP tests: the embedded
// net.PacketConn is nil, so a method the responder is not expected to call
// panics. ReadFrom serves frames the test queues, WriteTo records, Close
// unblocks a pending read as a real socket's close does.
type fakeConn struct {
	net.PacketConn

	in        chan []byte
	readErr   func() error // when set, every read fails with it
	reads     int
	closed    chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	sent []sentFrame
}

type sentFrame struct {
	at    time.Time
	frame *ethernet.Frame
	pkt   *arp.Packet
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan []byte), closed: make(chan struct{})}
}

func (c *fakeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.mu.Lock()
	c.reads++
	readErr := c.readErr
	c.mu.Unlock()
	if readErr != nil {
		select {
		case <-c.closed:
			return 0, nil, net.ErrClosed
		default:
			return 0, nil, readErr()
		}
	}
	select {
	case f := <-c.in:
		return copy(b, f), nil, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *fakeConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(b); err != nil {
		return 0, err
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, sentFrame{at: time.Now(), frame: &f, pkt: &p})
	return len(b), nil
}

func (c *fakeConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

// take returns and forgets what was written so far.
func (c *fakeConn) take() []sentFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sent
	c.sent = nil
	return s
}

var (
	ownMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xaa}
	peerMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xbb}
	peerIP  = netip.MustParseAddr("192.0.2.2")
	vip4    = netip.MustParseAddr("192.0.2.10")
	other4  = netip.MustParseAddr("192.0.2.11")
	vip6    = netip.MustParseAddr("2001:db8::10")
)

// newFakeARP builds an ARP responder on a fakeConn, the way production builds
// one on arp.Dial.
func newFakeARP(t *testing.T, name string, cfg Config, m *metrics, quiet ...time.Duration) (*responder, *fakeConn) {
	t.Helper()
	c, conn := newFakeARPClient(t, name)
	if m == nil {
		m = newMetrics()
	}
	var q time.Duration
	if len(quiet) > 0 {
		q = quiet[0]
	}
	r := newARPResponder(context.Background(), name, c, setConfigDefaults(cfg), testr.New(t), m, openOptions{quiet: q})
	t.Cleanup(r.close)
	return r, conn
}

// newFakeARPClient is what arp.Dial returns, on a fakeConn. arp.New looks
// the interface's addresses up by index and insists on an IPv4 one, so the
// fake interface borrows loopback's index (127.0.0.1, readable without
// privileges) while keeping its own name and MAC.
func newFakeARPClient(t *testing.T, name string) (*arp.Client, *fakeConn) {
	t.Helper()
	ifis, err := net.Interfaces()
	if err != nil {
		t.Fatalf("listing interfaces: %v", err)
	}
	index := 0
	for _, ifi := range ifis {
		if ifi.Flags&net.FlagLoopback != 0 {
			index = ifi.Index
		}
	}
	if index == 0 {
		t.Skip("no loopback interface to lend arp.New an IPv4 address")
	}
	conn := newFakeConn()
	c, err := arp.New(&net.Interface{Index: index, Name: name, MTU: 1500, HardwareAddr: ownMAC}, conn)
	if err != nil {
		t.Skipf("arp.New on loopback's index: %v", err)
	}
	return c, conn
}

// arpFrame is an Ethernet frame carrying p, as a peer would send it.
func arpFrame(t testing.TB, p *arp.Packet) []byte {
	t.Helper()
	pb, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	f := &ethernet.Frame{Destination: ethernet.Broadcast, Source: p.SenderHardwareAddr, EtherType: ethernet.EtherTypeARP, Payload: pb}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func arpRequest(t testing.TB, senderMAC net.HardwareAddr, sender, target netip.Addr) *arp.Packet {
	t.Helper()
	p, err := arp.NewPacket(arp.OperationRequest, senderMAC, sender, ethernet.Broadcast, target)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// equateAddrs lets cmp compare netip.Addr, whose fields are unexported.
var equateAddrs = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// cmpSortStrings compares string slices as sets.
var cmpSortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
})
