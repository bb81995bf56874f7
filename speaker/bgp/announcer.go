package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/speaker/announce"
	"github.com/portico-lb/portico/speaker/bgp/routes"
	"github.com/portico-lb/portico/speaker/bgp/session"
)

// Method is how an Announcer announces, as Status reports it.
const Method = "BGP"

// Config configures an Announcer.
type Config struct {
	// RetryInterval is how often the plan is applied again (a failed step
	// retried) and session counts refreshed; default 5s. Session states
	// and errors are refreshed as GoBGP reports them.
	RetryInterval time.Duration
	// CloseTimeout bounds closing the sessions when Run ends; default 5s.
	CloseTimeout time.Duration
}

const (
	defaultRetryInterval = 5 * time.Second
	defaultCloseTimeout  = 5 * time.Second
)

// setConfigDefaults fills every unset field. It does not validate.
func setConfigDefaults(c Config) Config {
	if c.RetryInterval <= 0 {
		c.RetryInterval = defaultRetryInterval
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = defaultCloseTimeout
	}
	return c
}

// Announcer announces this node's eligible addresses over BGP.
type Announcer struct {
	cfg      Config
	log      logr.Logger
	sessions *session.Sessions
	kick     chan struct{}
	changed  chan struct{}
	yield    chan struct{} // closed by Yield
	yieldOne sync.Once

	mu       sync.Mutex // guards the fields below; never held across I/O
	model    *config.Config
	node     routes.Node
	nodeIPv4 netip.Addr
	desired  announce.Desired
	plan     routes.Plan
	states   []session.Status
	applied  bool // a plan was applied (or tried) once
	running  bool
}

// New returns an Announcer holding no session; Run starts them.
func New(cfg Config, log logr.Logger) *Announcer {
	return &Announcer{
		cfg: setConfigDefaults(cfg), log: log, kick: make(chan struct{}, 1), changed: make(chan struct{}, 1),
		yield:    make(chan struct{}),
		sessions: session.New(session.Options{Logger: log.WithName("gobgp")}),
	}
}

// SetConfig hands over the configuration model and this node: its labels
// and its IPv4 InternalIP, the default router ID. It does not wait.
func (a *Announcer) SetConfig(model *config.Config, node routes.Node, nodeIPv4 netip.Addr) {
	a.mu.Lock()
	a.model, a.node, a.nodeIPv4 = model, node, nodeIPv4
	a.mu.Unlock()
	a.poke()
}

// Announce replaces the desired state. It does not wait.
func (a *Announcer) Announce(d announce.Desired) {
	a.mu.Lock()
	a.desired = d
	a.mu.Unlock()
	a.poke()
}

func (a *Announcer) poke() {
	select {
	case a.kick <- struct{}{}:
	default: // an apply is already pending
	}
}

// Yield closes the sessions (a Cease to every peer) without waiting, so a
// stopping speaker's routes go at once and the router moves its flows to
// the other nodes while this one still forwards (the speaker's handover
// delay); a router that must wait for a hold time has no such grace. Run
// announces nothing more afterwards and returns when its context ends.
func (a *Announcer) Yield() { a.yieldOne.Do(func() { close(a.yield) }) }

// Sessions returns the state of every session as last seen, sorted by peer,
// for the per-node status object.
func (a *Announcer) Sessions() []session.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.states)
}

// SessionsChanged signals that Sessions may return something new (a state,
// an error, a count). Signals coalesce: the channel holds one.
func (a *Announcer) SessionsChanged() <-chan struct{} { return a.changed }

// Status reports, for every address of d that the plan for d announces to
// some peer, whether a session that carries it is established. Addresses
// the plan announces to no peer are not BGP's to report. known is false
// until a plan was applied once.
//
// The plan is made for d, not taken from the last apply: the speaker asks
// right after Announce(d), before Run has applied it, and a new address
// would otherwise be reported as sent to no peer, then rewritten as
// announced a moment later — two writes and two Events per Service where
// one is true. Handing the route to an established session is Run's next
// step, and a failure there is retried and logged.
func (a *Announcer) Status(d announce.Desired) (map[netip.Addr]announce.Status, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	up := map[string]bool{}
	down := map[string]string{}
	for _, s := range a.states {
		up[s.Peer] = s.State == "Established"
		why := fmt.Sprintf("peer %s is %s", s.Peer, s.State)
		if s.LastError != "" {
			why += ": " + s.LastError
		}
		down[s.Peer] = why
	}
	plan := a.plan
	if a.model != nil {
		plan = routes.For(a.model, a.node, d)
	}
	carried := map[netip.Addr][]string{} // address → peers whose routes hold it
	for name, rs := range plan {
		for _, r := range rs {
			for _, ip := range r.Addrs {
				carried[ip] = append(carried[ip], name)
			}
		}
	}
	out := map[netip.Addr]announce.Status{}
	for ip := range d {
		peers := carried[ip.WithZone("").Unmap()]
		if len(peers) == 0 {
			continue
		}
		slices.Sort(peers)
		st := announce.Status{Method: Method}
		var whys []string
		for _, p := range slices.Compact(peers) {
			if up[p] {
				st.Announced = true
				break
			}
			if w, ok := down[p]; ok {
				whys = append(whys, w)
			} else {
				whys = append(whys, fmt.Sprintf("peer %s has no session yet", p))
			}
		}
		if !st.Announced {
			st.Why = "no BGP session that carries it is established (" + strings.Join(whys, "; ") + ")"
		}
		out[ip] = st
	}
	return out, a.applied
}

// Run applies the plan at every change and every RetryInterval, and
// refreshes the sessions' states whenever one changes, until ctx ends;
// then it closes every session with a Cease NOTIFICATION and returns.
func (a *Announcer) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return fmt.Errorf("bgp: Run is already running")
	}
	a.running = true
	a.mu.Unlock()

	tick := time.NewTicker(a.cfg.RetryInterval)
	defer tick.Stop()
	for {
		a.apply(ctx)
		select {
		case <-ctx.Done():
			return a.close(ctx)
		case <-a.yield:
			err := a.close(ctx)
			<-ctx.Done()
			return err
		case <-tick.C:
		case <-a.kick:
		case <-a.sessions.Changed():
			// A state or error moved, not the plan: only read it, so a
			// session going up or down reaches the status at once
			// rather than at the next tick.
			a.refresh(ctx)
			continue
		}
	}
}

// close closes every session within CloseTimeout, even once ctx ended.
func (a *Announcer) close(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.CloseTimeout)
	defer cancel()
	if err := a.sessions.Close(cctx); err != nil {
		return fmt.Errorf("bgp: %w", err)
	}
	return nil
}

// apply plans from the last model and desired state and applies the plan.
func (a *Announcer) apply(ctx context.Context) {
	a.mu.Lock()
	model, node, nodeIPv4, desired := a.model, a.node, a.nodeIPv4, a.desired
	a.mu.Unlock()
	if model == nil {
		return // nothing to plan from yet
	}
	plan := routes.For(model, node, desired)
	peers := make([]session.PeerConfig, 0, len(plan))
	for name := range plan {
		peers = append(peers, session.PeerFor(model.BGPPeer(name), nodeIPv4))
	}
	if err := a.sessions.Apply(ctx, peers, plan); err != nil {
		a.log.Error(err, "applying the BGP plan; retrying", "in", a.cfg.RetryInterval)
	}
	a.mu.Lock()
	a.plan, a.applied = plan, true
	a.mu.Unlock()
	a.refresh(ctx)
}

// refresh reads the sessions' states and signals SessionsChanged if they
// differ from the last read.
func (a *Announcer) refresh(ctx context.Context) {
	states := a.sessions.Status(ctx)
	a.mu.Lock()
	changed := !slices.Equal(a.states, states)
	a.states = states
	a.mu.Unlock()
	if changed {
		select {
		case a.changed <- struct{}{}:
		default:
		}
	}
}
