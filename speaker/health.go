package speaker

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/portico-lb/portico/speaker/membership"
)

// Ready is the speaker's readiness check (a controller-runtime
// healthz.Checker). A DaemonSet has no Service to take a Pod out of, so
// readiness decides one thing: whether a rolling update may go on to the next
// node. It must hold a release that cannot do its job, and must not hold one
// for a problem of this node alone.
//
// So it fails while membership is not running (before Start, or after it
// stopped) and until the first election has been applied: a speaker that is
// a member but has not read the cluster yet would be elected for addresses it
// does not answer. It stays ready when
//   - membership runs on Leases alone (membership.ErrDegraded): failover is
//     slower, but this node still announces and the others still see it;
//   - layer2 cannot bind an interface: the other interfaces keep serving, the
//     Announcer retries at every rescan, and its logs and metrics name the
//     interface;
//   - the API server goes away: the speaker keeps announcing what it had, as
//     it must.
func (s *Speaker) Ready(*http.Request) error {
	if err := s.o.Membership.Healthy(); err != nil && !errors.Is(err, membership.ErrDegraded) {
		return fmt.Errorf("speaker: %w", err)
	}
	if !s.elected.Load() {
		return errors.New("speaker: no election applied yet (waiting for the API server's objects)")
	}
	return nil
}
