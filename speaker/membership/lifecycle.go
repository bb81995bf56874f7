package membership

import (
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// lifecycle owns a Membership's lifecycle and memberlist's within it: Run
// starts it once, creates memberlist and stops it; Leave ends it for good.
// It is the only code that creates memberlist, calls its Leave or its
// Shutdown, or lends it out (for joins and metadata updates), so the rules
// they need are kept in one place:
//
//   - memberlist panics on a Leave after Shutdown: shutdown waits for a
//     Leave that is under way, and leave does nothing once shutdown began.
//   - Nothing is lent out once this speaker has left, or memberlist is shut
//     down: a join would bring a node that said goodbye back in.
//   - Leave and Join block (up to the leave timeout and tcpTimeout), so
//     they run with no lock held, and one never holds up the other.
//
// mu guards every field, and is never held across a call into memberlist.
type lifecycle struct {
	mu    sync.Mutex
	state runState
	// list is memberlist once Run has created it; it stays nil when
	// memberlist could not be created, and err says why.
	list *memberlist.Memberlist
	err  error
	// left: Leave was called. leaving is closed when memberlist's Leave
	// returns (nil when it never started). shut: Shutdown was called, or is
	// about to be.
	left    bool
	leaving chan struct{}
	shut    bool
}

// runState is where Run is.
type runState int

const (
	notStarted runState = iota
	starting            // Run began, memberlist is not created yet
	running             // memberlist created (or failed to be: list is nil)
	stopped             // Run returned
)

var errRunTwice = errors.New("membership: Run called twice")

// begin marks the start of Run; it fails if Run was called before.
func (l *lifecycle) begin() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != notStarted {
		return errRunTwice
	}
	l.state = starting
	return nil
}

// create creates memberlist from c. On failure Run carries on without it,
// and the error is kept for Healthy.
func (l *lifecycle) create(c *memberlist.Config) error {
	// Outside the lock: Create binds sockets and calls our delegates.
	list, err := memberlist.Create(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list, l.err, l.state = list, err, running
	return err
}

// end records that Run returned.
func (l *lifecycle) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state = stopped
}

// status reports whether Run is running and, if memberlist is not, why
// (nil when it is).
func (l *lifecycle) status() (isRunning bool, noMemberlist error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.list == nil {
		noMemberlist = l.err
	}
	return l.state == running, noMemberlist
}

// hasMemberlist reports whether memberlist was created; it stays true
// after a leave or a shutdown.
func (l *lifecycle) hasMemberlist() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.list != nil
}

// healthScore is memberlist's local health score, -1 without memberlist.
func (l *lifecycle) healthScore() float64 {
	l.mu.Lock()
	list := l.list
	l.mu.Unlock()
	if list == nil {
		return -1
	}
	return float64(list.GetHealthScore())
}

// use runs f with memberlist unless it was not created, this speaker has
// left, or memberlist is shut down. f runs without mu held: a Join can take
// up to tcpTimeout, and must not hold up a Leave.
func (l *lifecycle) use(f func(*memberlist.Memberlist)) {
	l.mu.Lock()
	list, ok := l.list, l.list != nil && !l.left && !l.shut
	l.mu.Unlock()
	if ok {
		f(list)
	}
}

// markLeft records that this speaker is leaving, from now on: nothing is
// lent out afterwards. It reports whether this is the first call.
func (l *lifecycle) markLeft() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.left {
		return false
	}
	l.left = true
	return true
}

// leave broadcasts memberlist's leave and waits up to timeout for it to
// spread. It does nothing without memberlist, once shutdown began, or when
// it ran before.
func (l *lifecycle) leave(timeout time.Duration) error {
	l.mu.Lock()
	if l.list == nil || l.shut || l.leaving != nil {
		l.mu.Unlock()
		return nil
	}
	list, done := l.list, make(chan struct{})
	l.leaving = done
	l.mu.Unlock()
	defer close(done)
	return list.Leave(timeout)
}

// shutdown stops memberlist without leaving: to the others it looks like
// a crash. It waits for a leave that is under way first, and does nothing
// the second time.
func (l *lifecycle) shutdown() error {
	l.mu.Lock()
	list, leaving, again := l.list, l.leaving, l.shut
	l.shut = true
	l.mu.Unlock()
	if list == nil || again {
		return nil
	}
	if leaving != nil {
		<-leaving
	}
	return list.Shutdown()
}
