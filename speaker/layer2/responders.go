package layer2

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/layer2/plan"
)

// Responders answers ARP and NDP for the IPs this node announces, on the
// interfaces it is told to, and announces take-overs with gratuitous ARP and
// unsolicited Neighbor Advertisements. Set may be called at any time, before
// or during Run, from any goroutine.
type Responders struct {
	cfg     Config
	log     logr.Logger
	m       *metrics
	kick    chan struct{} // Set asks Run to open missing responders now
	sockets sockets

	mu       sync.Mutex
	running  bool
	want     map[netip.Addr][]string
	links    map[string]link        // last successful scan; nil until the first
	ifaces   map[string]*ifaceState // open responders, by interface name
	scanErr  error
	problems map[string]error // per interface: why it could not be bound
	// defending is cleared by Yield; every responder reads it.
	defending atomic.Bool
	// relinked holds interfaces whose responders were closed because the
	// link went down, flapped or was re-created, and when a scan first saw
	// the link usable again (zero until then): responders opened within
	// LinkUpDelay of that stay quiet until it has passed.
	relinked map[string]time.Time
}

// ifaceState is what is open on one interface, and the link it was opened on.
type ifaceState struct {
	link     link
	arp, ndp *responder
}

// New returns a Responders with cfg's zero fields defaulted. Nothing is
// opened before Run.
func New(cfg Config, logger logr.Logger) *Responders {
	a := &Responders{
		cfg:      setConfigDefaults(cfg),
		sockets:  hostSockets{},
		log:      logger,
		m:        newMetrics(),
		kick:     make(chan struct{}, 1),
		want:     map[netip.Addr][]string{},
		ifaces:   map[string]*ifaceState{},
		relinked: map[string]time.Time{},
	}
	a.defending.Store(true)
	return a
}

// Yield stops defending announced addresses against other stations'
// claims, and keeps answering questions for them. A speaker handing over
// calls it first: the new node's gratuitous announcements are then the
// point, not a conflict.
func (a *Responders) Yield() { a.defending.Store(false) }

// Collectors returns the metrics of a Responders, for main to register once.
func (a *Responders) Collectors() []prometheus.Collector { return a.m.collectors() }

// Set replaces the desired set: each IP maps to the interfaces to answer on,
// and no names means every up interface with an address whose prefix contains
// the IP. IPs dropped from the set are no longer answered when Set returns;
// gained ones are announced at once on interfaces already open, and within
// moments on interfaces Run still has to open.
func (a *Responders) Set(want map[netip.Addr][]string) {
	norm, rejected := plan.Normalize(want)
	if len(rejected) > 0 {
		a.log.Info("ignoring addresses nobody resolves with ARP/NDP", "ips", rejected)
	}
	a.mu.Lock()
	a.want = norm
	if a.links != nil {
		p, _ := plan.Assign(norm, planLinks(a.links))
		a.applyLocked(p)
	}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default: // a reconcile is already pending
	}
}

// Method is how Responders announce, as Status reports it.
const Method = "ARP/NDP"

// Announce answers for the addresses d elects this node for, as Set does:
// layer 2 needs exactly one node per address, so mere eligibility is not
// enough. It is the speaker's entry point (speaker.Announcer).
func (a *Responders) Announce(d announce.Desired) { a.Set(d.Elected()) }

// Status reports, for every address d elects this node for, whether it is
// answered: it is, unless Unplaced finds no interface for it. known is false
// until interfaces were listed once.
func (a *Responders) Status(d announce.Desired) (st map[netip.Addr]announce.Status, known bool) {
	want := d.Elected()
	unplaced, known := a.Unplaced(want)
	st = make(map[netip.Addr]announce.Status, len(want))
	for ip, ifaces := range want {
		why, no := unplaced[ip]
		st[ip] = announce.Status{Announced: !no, Method: Method, Interfaces: ifaces, Why: why}
	}
	return st, known
}

// Unplaced returns the IPs of the desired set that this node cannot answer
// for, each with the reason: no Ethernet interface, up or down, has a subnet
// containing it (or, for IPs with interface names, none of those exists as
// an Ethernet interface), or it is not a unicast address. known is false
// until interfaces were listed once. Callers report these instead of
// claiming to announce them.
func (a *Responders) Unplaced(want map[netip.Addr][]string) (why map[netip.Addr]string, known bool) {
	norm, rejected := plan.Normalize(want)
	why = map[netip.Addr]string{}
	for _, ip := range rejected {
		why[ip] = "it is not a unicast address, which nobody resolves with ARP/NDP"
	}
	a.mu.Lock()
	known = a.links != nil
	if known {
		maps.Copy(why, plan.Unplaced(norm, planLinks(a.links)))
	}
	a.mu.Unlock()
	// Report by the caller's keys, which normalize may have unmapped.
	out := make(map[netip.Addr]string, len(why))
	for ip := range want {
		if reason, ok := why[ip.WithZone("").Unmap()]; ok {
			out[ip] = reason
		}
	}
	return out, known
}

// Run opens responders for the interfaces the desired set needs, re-lists
// interfaces every RescanInterval, and answers until ctx ends; then it closes
// every socket and returns nil. An interface that cannot be bound is reported
// by Healthy, retried at the next rescan, and does not stop the others.
func (a *Responders) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return errors.New("layer2: Run is already running")
	}
	a.running = true
	a.mu.Unlock()
	defer a.shutdown()

	ns, err := enterNetns(ctx, a.cfg.NetNS)
	if err != nil {
		return err
	}
	tick := time.NewTicker(a.cfg.RescanInterval)
	defer tick.Stop()
	for {
		a.reconcile(ctx, ns)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-a.kick:
		}
	}
}

// Healthy returns nil, or why interfaces could not be listed or bound, one
// error per interface: a named interface that does not exist or is not
// Ethernet, a socket the kernel refused, an IPv6 link-local address still in
// DAD. The other interfaces keep serving meanwhile. A link that is merely down
// is not reported: nothing can be sent on it, and it is picked up (and
// re-announced) when it comes back.
func (a *Responders) Healthy() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	if a.scanErr != nil {
		errs = append(errs, a.scanErr)
	}
	for _, name := range slices.Sorted(maps.Keys(a.problems)) {
		errs = append(errs, a.problems[name])
	}
	return errors.Join(errs...)
}

// reconcile lists interfaces and makes the open responders match the desired
// set: it closes those no longer needed or whose link went away, flapped or
// changed, and opens the missing ones, which then announce their IPs.
//
// Sockets are opened and closed outside the lock, which Set, Status and
// Healthy take: an open goes through the namespace thread and the kernel,
// and the election must not wait on it. So reconcile decides under the
// lock what to close and open, does it unlocked, and installs the new
// responders under the lock again, handing them the desired set as it is
// by then. Only Run calls reconcile, so nothing else changes ifaces in
// between.
func (a *Responders) reconcile(ctx context.Context, ns *nsThread) {
	var links map[string]link
	err := ns.do(ctx, func() (err error) {
		links, err = a.sockets.listLinks()
		return err
	})
	if ctx.Err() != nil {
		return
	}
	opens, closing, ok := a.diff(links, err)
	for _, r := range closing {
		r.close()
	}
	if !ok {
		return
	}
	problems := map[string]error{}
	for i := range opens {
		o := &opens[i]
		var errs []error
		if o.v4 {
			if o.arp, err = a.openARP(ctx, ns, o.link, o.quiet); err != nil {
				errs = append(errs, fmt.Errorf("layer2: interface %q: ARP: %w", o.link.name, err))
			}
		}
		if o.v6 {
			if o.ndp, err = a.openNDP(ctx, ns, o.link, o.quiet); err != nil {
				errs = append(errs, fmt.Errorf("layer2: interface %q: NDP: %w", o.link.name, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			problems[o.link.name] = err
		}
	}
	a.install(links, opens, problems)
}

// open is a responder reconcile opens on one link, and what came of it.
type open struct {
	link     link
	quiet    time.Duration
	v4, v6   bool       // which sockets to open
	arp, ndp *responder // what opened
}

// diff records the scan and takes out of ifaces the responders that are no
// longer needed or whose link changed, for the caller to close; it returns
// what to open. ok is false when the scan failed: the current responders
// are kept.
func (a *Responders) diff(links map[string]link, scanErr error) (opens []open, closing []*responder, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if scanErr != nil {
		if a.scanErr == nil {
			a.log.Error(scanErr, "listing interfaces; keeping current responders")
		}
		a.scanErr = scanErr
		return nil, nil, false
	}
	a.scanErr = nil
	a.links = links
	p, _ := plan.Assign(a.want, planLinks(links))

	for name, st := range a.ifaces {
		l, ok := links[name]
		need := p[name]
		// A changed index means the interface was re-created; a changed
		// carrier count means it went down and up since the last scan, and
		// neighbours may have flushed us. Either way: reopen and re-announce.
		same := ok && l.usable() && l.index == st.link.index && l.carrierUps == st.link.carrierUps
		if !same {
			a.relinked[name] = time.Time{}
		}
		if st.arp != nil && (!same || need == nil || len(need.V4) == 0) {
			closing = append(closing, st.arp)
			st.arp = nil
		}
		// The NDP socket is bound to the link-local address; if that went
		// away (IPv6 addresses are flushed on link down) the socket is dead.
		if st.ndp != nil && (!same || need == nil || len(need.V6) == 0 || l.linkLocal != st.link.linkLocal) {
			closing = append(closing, st.ndp)
			st.ndp = nil
		}
		if st.arp == nil && st.ndp == nil {
			delete(a.ifaces, name)
			continue
		}
		st.link = l
	}

	// After the loop above, which marks links that went down or flapped
	// since the last scan: a link that flapped between two scans is usable
	// again now, and its quiet period starts now.
	now := time.Now()
	stampRelinked(a.relinked, links, now, a.cfg.LinkUpDelay)
	for name, need := range p {
		st := a.ifaces[name]
		o := open{link: links[name], quiet: a.quietLocked(name, now),
			v4: len(need.V4) > 0 && (st == nil || st.arp == nil),
			v6: len(need.V6) > 0 && (st == nil || st.ndp == nil)}
		if o.v4 || o.v6 {
			opens = append(opens, o)
		}
	}
	return opens, closing, true
}

// install adds the responders reconcile opened and hands every responder
// its share of the desired set as Set last left it; problems are the
// failed opens, beside the plan's own.
func (a *Responders) install(links map[string]link, opens []open, problems map[string]error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, o := range opens {
		if o.arp == nil && o.ndp == nil {
			continue
		}
		st := a.ifaces[o.link.name]
		if st == nil {
			st = &ifaceState{link: o.link}
			a.ifaces[o.link.name] = st
		}
		if o.arp != nil {
			st.arp = o.arp
		}
		if o.ndp != nil {
			st.ndp = o.ndp
		}
	}
	p, planned := plan.Assign(a.want, planLinks(links))
	for name, err := range problems {
		planned[name] = errors.Join(planned[name], err)
	}
	a.applyLocked(p)
	a.setProblemsLocked(planned)
}

// stampRelinked records when each relinked interface was first seen usable
// again, and forgets those back for longer than delay.
func stampRelinked(relinked map[string]time.Time, links map[string]link, now time.Time, delay time.Duration) {
	for name, back := range relinked {
		l, ok := links[name]
		switch {
		case back.IsZero() && ok && l.usable():
			relinked[name] = now
		case !back.IsZero() && now.Sub(back) >= delay:
			delete(relinked, name)
		}
	}
}

// quietLocked returns how long a responder opened at now on the usable link
// name must stay quiet: what is left of LinkUpDelay since a scan first saw
// the link back after it went down or flapped (stampRelinked).
func (a *Responders) quietLocked(name string, now time.Time) time.Duration {
	back, ok := a.relinked[name]
	if !ok || back.IsZero() {
		return 0
	}
	return max(a.cfg.LinkUpDelay-now.Sub(back), 0)
}

// applyLocked hands every open responder its share of the plan.
func (a *Responders) applyLocked(p plan.Interfaces) {
	served := map[netip.Addr]struct{}{}
	for name, st := range a.ifaces {
		need := p[name]
		if need == nil {
			need = &plan.Interface{}
		}
		if st.arp != nil {
			st.arp.set(need.V4)
			for _, ip := range need.V4 {
				served[ip] = struct{}{}
			}
		}
		if st.ndp != nil {
			st.ndp.set(need.V6)
			for _, ip := range need.V6 {
				served[ip] = struct{}{}
			}
		}
	}
	a.m.announced.Set(float64(len(served)))
}

// setProblemsLocked records the problems of this reconcile and logs the ones
// that changed, so a socket that fails every second logs once.
func (a *Responders) setProblemsLocked(problems map[string]error) {
	for name, err := range problems {
		if old, ok := a.problems[name]; !ok || old.Error() != err.Error() {
			a.log.Error(err, "interface cannot be served; retrying at every rescan", "interface", name)
		}
	}
	for name := range a.problems {
		if _, ok := problems[name]; !ok {
			a.log.Info("interface problem resolved", "interface", name)
		}
	}
	a.problems = problems
}

// sockets is the socket boundary of a Responders: everything its reconcile
// asks the kernel for, always on the namespace thread. hostSockets is the
// real one; tests put their own in the field.
type sockets interface {
	listLinks() (map[string]link, error)
	dialARP(l link) (*arp.Client, error)
	listenNDP(l link) (*ndp.Conn, error)
}

// hostSockets lists the calling thread's links and opens real sockets.
type hostSockets struct{}

var _ sockets = hostSockets{}

func (hostSockets) listLinks() (map[string]link, error) { return listLinks() }
func (hostSockets) dialARP(l link) (*arp.Client, error) { return arp.Dial(l.netInterface()) }
func (hostSockets) listenNDP(l link) (*ndp.Conn, error) { return listenNDP(l) }

// openARP and openNDP open a responder on l whose first announcement waits
// quiet.
func (a *Responders) openARP(ctx context.Context, ns *nsThread, l link, quiet time.Duration) (*responder, error) {
	var c *arp.Client
	err := ns.do(ctx, func() (err error) {
		c, err = a.sockets.dialARP(l)
		return err
	})
	if err != nil {
		return nil, err
	}
	return newARPResponder(ctx, l.name, c, a.cfg, a.log, a.m, openOptions{quiet: quiet, defending: &a.defending}), nil
}

func (a *Responders) openNDP(ctx context.Context, ns *nsThread, l link, quiet time.Duration) (*responder, error) {
	var c *ndp.Conn
	err := ns.do(ctx, func() (err error) {
		c, err = a.sockets.listenNDP(l)
		return err
	})
	if err != nil {
		return nil, err
	}
	return newNDPResponder(ctx, l.name, c, l.mac, a.cfg, a.log, a.m, openOptions{quiet: quiet, defending: &a.defending}), nil
}

// shutdown closes every responder once Run ends; Set keeps working and the
// next Run starts from the desired set. The sockets close after the lock is
// released, as in reconcile.
func (a *Responders) shutdown() {
	a.mu.Lock()
	ifaces := a.ifaces
	a.ifaces = map[string]*ifaceState{}
	a.links = nil
	a.scanErr = nil
	a.problems = nil
	a.m.announced.Set(0)
	a.mu.Unlock()
	for _, st := range ifaces {
		if st.arp != nil {
			st.arp.close()
		}
		if st.ndp != nil {
			st.ndp.close()
		}
	}
	a.mu.Lock()
	a.running = false
	a.mu.Unlock()
}
