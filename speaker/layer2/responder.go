package layer2

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// wire is what differs between the ARP and the NDP responder: the socket and
// the packets. It is sealed to this package's two implementations.
type wire interface {
	// serve answers questions for r's addresses until the socket is closed.
	serve(ctx context.Context, r *responder)
	// announce sends one gratuitous round for ip.
	announce(ip netip.Addr) error
	// sync brings socket state (multicast groups) in line with the complete
	// new set of addresses; it is called before gained addresses are
	// announced and after lost ones stop being answered.
	sync(addrs []netip.Addr) error
	close() error
}

// addrSet is an immutable set of announced addresses. A responder swaps whole
// sets atomically, so the read path never waits for Set and an IP that is
// removed is not answered by the very next packet.
type addrSet map[netip.Addr]struct{}

// responder answers for a set of addresses on one interface and one family.
type responder struct {
	iface    string
	protocol string // "arp" or "ndp": metric label and log key
	w        wire
	count    int
	interval time.Duration
	log      logr.Logger
	m        *metrics

	// quietUntil is when the responder starts answering and announcing;
	// see Config.LinkUpDelay.
	quietUntil time.Time
	// defending is shared with the Responders: false once it yields.
	defending *atomic.Bool
	defMu     sync.Mutex
	defended  map[netip.Addr]time.Time // last defence of each address

	addrs atomic.Pointer[addrSet]
	mu    sync.Mutex // serialises set

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newResponder starts serving w on the named interface. It answers nothing
// until set gives it addresses, and nothing at all for quiet.
func newResponder(ctx context.Context, iface, protocol string, w wire, cfg Config, log logr.Logger, m *metrics, o openOptions) *responder {
	if o.defending == nil {
		o.defending = new(atomic.Bool)
		o.defending.Store(true)
	}
	r := &responder{
		quietUntil: time.Now().Add(o.quiet),
		defending:  o.defending,
		defended:   map[netip.Addr]time.Time{},
		iface:      iface,
		protocol:   protocol,
		w:          w,
		count:      cfg.GratuitousCount,
		interval:   cfg.GratuitousInterval,
		log:        log.WithValues("interface", iface, "protocol", protocol),
		m:          m,
	}
	r.addrs.Store(&addrSet{})
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Go(func() { w.serve(r.ctx, r) })
	return r
}

// openOptions is how the Responders opens a responder.
type openOptions struct {
	quiet     time.Duration // stay silent this long (Config.LinkUpDelay)
	defending *atomic.Bool  // nil: always defend
}

const (
	// defendDelay is how long a defence waits before re-announcing, and
	// then only if the address is still ours: when an address moves on
	// purpose (a hold-down ended, an endpoint moved), the new owner can
	// announce a few milliseconds before the old one has let go, and the
	// old one must not pull it back.
	defendDelay = 250 * time.Millisecond
	// defendInterval is the least time between two defences of one address,
	// so two nodes that both believe they own it (a split that membership
	// has not yet healed) re-announce once a second each, not in a storm.
	defendInterval = time.Second
)

// defend answers another station's claim on ip (a gratuitous ARP, an ARP
// packet or a Neighbor Advertisement from by saying ip is at its MAC): if ip
// is still ours after defendDelay, it is announced once more, so that
// neighbours that believed the claim come back. Two nodes answering for
// one address is a bug or a partition; a host configured with the VIP is
// a misconfiguration. Either way the elected node keeps the address
// reachable, and says so in the log and the conflicts metric.
func (r *responder) defend(ip netip.Addr, by net.HardwareAddr) {
	if !r.defending.Load() || !r.has(ip) {
		return
	}
	now := time.Now()
	r.defMu.Lock()
	if now.Sub(r.defended[ip]) < defendInterval {
		r.defMu.Unlock()
		return
	}
	if len(r.defended) >= 64 {
		for a, at := range r.defended {
			if now.Sub(at) >= defendInterval {
				delete(r.defended, a)
			}
		}
	}
	r.defended[ip] = now
	r.defMu.Unlock()

	r.m.conflicts.WithLabelValues(r.iface, r.protocol).Inc()
	r.log.Info("another station claims an address this node announces; defending it", "ip", ip, "by", by.String())
	r.wg.Go(func() {
		t := time.NewTimer(defendDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.ctx.Done():
			return
		}
		if !r.defending.Load() || !r.has(ip) {
			return
		}
		if err := r.w.announce(ip); err != nil {
			r.log.Error(err, "defending an address", "ip", ip)
			return
		}
		r.m.gratuitous.WithLabelValues(r.iface, r.protocol).Inc()
	})
}

// has reports whether ip is announced on this responder right now.
func (r *responder) has(ip netip.Addr) bool {
	if time.Now().Before(r.quietUntil) {
		return false
	}
	_, ok := (*r.addrs.Load())[ip]
	return ok
}

// set replaces the announced addresses. Lost ones stop being answered before
// set returns; gained ones are announced at once and GratuitousCount-1 more
// times, GratuitousInterval apart, in the background.
func (r *responder) set(ips []netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.addrs.Load()
	next := make(addrSet, len(ips))
	var gained, lost []netip.Addr
	for _, ip := range ips {
		next[ip] = struct{}{}
		if _, ok := old[ip]; !ok {
			gained = append(gained, ip)
		}
	}
	for ip := range old {
		if _, ok := next[ip]; !ok {
			lost = append(lost, ip)
		}
	}
	if len(gained) == 0 && len(lost) == 0 {
		return
	}
	if len(lost) > 0 {
		sortAddrs(lost)
		r.log.Info("no longer answering", "ips", lost)
	}
	sorted := slices.SortedFunc(maps.Keys(next), netip.Addr.Compare)
	if len(gained) == 0 {
		// Only losses: stop answering first, then leave groups.
		r.addrs.Store(&next)
		r.syncWire(sorted)
		return
	}
	// Join groups first so the first question after the announcement is heard.
	r.syncWire(sorted)
	r.addrs.Store(&next)
	slices.SortFunc(gained, netip.Addr.Compare)
	r.log.Info("announcing", "ips", gained)
	r.wg.Go(func() { r.gratuitous(gained) })
}

func (r *responder) syncWire(addrs []netip.Addr) {
	if err := r.w.sync(addrs); err != nil {
		r.log.Error(err, "updating socket for announced addresses")
	}
}

// gratuitous announces ips count times. An IP lost in the meantime is
// dropped from later rounds: another node may own it by now.
func (r *responder) gratuitous(ips []netip.Addr) {
	for round := 0; round < r.count; round++ {
		wait := r.interval
		if round == 0 {
			wait = time.Until(r.quietUntil)
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
				return
			}
		}
		for _, ip := range ips {
			if !r.has(ip) || r.ctx.Err() != nil {
				continue
			}
			if err := r.w.announce(ip); err != nil {
				r.log.Error(err, "sending gratuitous announcement", "ip", ip)
				continue
			}
			r.m.gratuitous.WithLabelValues(r.iface, r.protocol).Inc()
		}
	}
}

// close stops answering and announcing, closes the socket and waits for the
// goroutines. Closing (rather than a read deadline) is what unblocks a read.
func (r *responder) close() {
	r.cancel()
	if err := r.w.close(); err != nil {
		r.log.V(1).Info("closing socket", "error", err.Error())
	}
	r.wg.Wait()
}

// readFailed handles an error from a blocking read and reports whether the
// read loop should go on. Socket errors (the link went down, buffers
// overflowed) back off so a broken socket never spins; the rescan replaces
// sockets of links that went away. Any other error means one malformed
// packet was consumed, so reading on at once is safe.
func (r *responder) readFailed(ctx context.Context, err error, b *backoff) bool {
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		return false
	}
	var ne net.Error
	if !errors.As(err, &ne) {
		return true
	}
	if b.failures == 0 {
		r.log.Error(err, "reading from socket; backing off")
	}
	return b.wait(ctx)
}

// backoff doubles a delay from 10ms up to 1s while failures repeat.
type backoff struct {
	failures int
	delay    time.Duration
}

const (
	minBackoff = 10 * time.Millisecond
	maxBackoff = time.Second
)

func (b *backoff) wait(ctx context.Context) bool {
	b.failures++
	b.delay = min(max(2*b.delay, minBackoff), maxBackoff)
	t := time.NewTimer(b.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (b *backoff) reset() { *b = backoff{} }
