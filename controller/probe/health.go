package probe

import (
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// Outcome is how one probe ended.
type Outcome int

const (
	// Failure: no connection, a timeout, a protocol error or a server that
	// says it cannot serve (Redis LOADING, a MySQL "too many connections").
	Failure Outcome = iota
	// Success: the server answered as the check requires.
	Success
	// AuthFailure: the server answered but refused the credentials.
	AuthFailure
)

// Result is the outcome of one probe of one address.
type Result struct {
	Outcome Outcome
	// Role is what the server said it is; RoleUnknown (or empty) when the
	// check does not ask, or the probe failed before it could.
	Role v1beta1.TargetRole
	// At is when the probe finished, Latency how long it took.
	At      time.Time
	Latency time.Duration
	// Err says why a probe failed; it never holds credentials.
	Err string
}

// Thresholds are the rise and fall counts of a health check: Healthy
// successes in a row make a target healthy, Unhealthy failures in a row make
// it unhealthy. Values below 1 count as 1.
type Thresholds struct {
	Healthy, Unhealthy int
}

// Tracker is the health of one target address, built from its results.
// The zero Tracker is Pending and knows no role. A Tracker is not safe for
// concurrent use.
type Tracker struct {
	th      Thresholds
	up      bool // the hysteresis output; meaningful once decided
	decided bool
	// successes and failures count the current run of results of one kind.
	successes, failures int
	// role is the confirmed role; roleSeen/roleRun count the run of the
	// last successfully reported role towards confirming it.
	role     v1beta1.TargetRole
	roleSeen v1beta1.TargetRole
	roleRun  int
	last     Result
	seen     bool
}

// NewTracker returns a Pending tracker with the given thresholds.
func NewTracker(th Thresholds) *Tracker {
	return &Tracker{th: Thresholds{Healthy: max(th.Healthy, 1), Unhealthy: max(th.Unhealthy, 1)}, role: v1beta1.RoleUnknown}
}

// Observe records one result and reports whether Health, Up or Role changed,
// which is what the caller writes (one write per transition, not per probe).
// Seed gives a tracker that has seen no probe a verdict recorded earlier
// (a restarted controller reading its own status), so a target published
// as healthy stays published while the first probes run instead of going
// back to Pending. Probes then move it as usual; a tracker that has seen a
// probe ignores Seed.
func (t *Tracker) Seed(up bool, role v1beta1.TargetRole) {
	if t.seen {
		return
	}
	t.decided, t.up = true, up
	if up {
		t.successes = t.th.Healthy
		t.role, t.roleSeen, t.roleRun = role, role, t.th.Healthy
	} else {
		t.failures = t.th.Unhealthy
	}
}

// SetThresholds changes the thresholds without forgetting the state, so an
// edit of healthyThreshold does not send a healthy target back to Pending.
func (t *Tracker) SetThresholds(th Thresholds) {
	t.th = Thresholds{Healthy: max(th.Healthy, 1), Unhealthy: max(th.Unhealthy, 1)}
}

func (t *Tracker) Observe(r Result) (changed bool) {
	before := t.snapshot()
	t.last, t.seen = r, true
	// An auth failure counts as alive: the server completed a handshake,
	// and the credentials refused are the monitor's, not the clients'. It
	// tells no role, so it cannot keep or make a primary.
	alive := r.Outcome == Success || r.Outcome == AuthFailure
	if alive {
		t.successes++
		t.failures = 0
		if t.successes >= t.th.Healthy {
			t.up, t.decided = true, true
		}
	} else {
		t.failures++
		t.successes = 0
		if t.failures >= t.th.Unhealthy {
			t.up, t.decided = false, true
		}
	}
	t.observeRole(r)
	return before != t.snapshot()
}

// observeRole confirms a new role after Healthy reports of it in a row, but
// drops Primary at once: a server that says it is read-only must not be
// written to for another interval. A failed probe says nothing about the
// role and leaves the run alone; the liveness hysteresis handles it.
func (t *Tracker) observeRole(r Result) {
	switch r.Outcome {
	case Failure:
		if t.decided && !t.up {
			// A dead server has no role; it must earn Primary again.
			t.role, t.roleSeen, t.roleRun = v1beta1.RoleUnknown, "", 0
		}
		return
	case AuthFailure:
		r.Role = v1beta1.RoleUnknown
	}
	role := r.Role
	if role == "" {
		role = v1beta1.RoleUnknown
	}
	if role == t.roleSeen {
		t.roleRun++
	} else {
		t.roleSeen, t.roleRun = role, 1
	}
	if t.role == v1beta1.RolePrimary && role != v1beta1.RolePrimary {
		t.role = role
		return
	}
	if t.roleRun >= t.th.Healthy {
		t.role = role
	}
}

type trackerState struct {
	health v1beta1.TargetHealth
	up     bool
	role   v1beta1.TargetRole
}

func (t *Tracker) snapshot() trackerState {
	return trackerState{t.Health(), t.Up(), t.Role()}
}

// Up reports whether the target is alive by the thresholds; false while
// Pending.
func (t *Tracker) Up() bool { return t.decided && t.up }

// Role is the confirmed role; RoleUnknown until one is confirmed and while
// the target is down.
func (t *Tracker) Role() v1beta1.TargetRole {
	if !t.Up() {
		return v1beta1.RoleUnknown
	}
	return t.role
}

// Health is what status reports: AuthFailed while the last probe was refused
// the credentials, else Pending until a threshold is first reached, then
// Healthy or Unhealthy.
func (t *Tracker) Health() v1beta1.TargetHealth {
	switch {
	case t.seen && t.last.Outcome == AuthFailure:
		return v1beta1.TargetAuthFailed
	case !t.decided:
		return v1beta1.TargetPending
	case t.up:
		return v1beta1.TargetHealthy
	default:
		return v1beta1.TargetUnhealthy
	}
}

// Last is the latest result and whether there was one.
func (t *Tracker) Last() (Result, bool) { return t.last, t.seen }
