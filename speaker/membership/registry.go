package membership

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// registry is a Membership's side of the peer source: it renews this
// speaker's record, withdraws it once for good, lists everyone's, and keeps
// the last error of each for Healthy.
//
// A withdraw must come after every publish, or a renewal that was under
// way would bring back the record the others were told to drop. So
// withdraw first cancels the publish in flight (through leaving), then
// waits for it to return (inflight) before it removes the record, and no
// publish starts afterwards (withdrawn).
//
// mu guards the fields below it, and is never held across a call to the
// peer source, so Healthy does not wait for the API server.
type registry struct {
	src  peerSource
	name string
	log  logr.Logger
	// leaving is cancelled when the withdraw begins; it aborts a publish
	// in flight.
	leaving     context.Context
	stopPublish context.CancelFunc

	mu        sync.Mutex
	withdrawn bool
	inflight  chan struct{} // closed when the publish in flight returns; nil when none is
	pubErr    error         // last failure to publish ours, nil after a success
	listErr   error         // last failure to list the records, nil after a success
}

func newRegistry(src peerSource, name string, logger logr.Logger) *registry {
	leaving, stop := context.WithCancel(context.Background())
	return &registry{src: src, name: name, log: logger, leaving: leaving, stopPublish: stop}
}

// publish creates or renews self's record, giving up after timeout. It does
// nothing once the record is withdrawn. One goroutine calls it.
func (r *registry) publish(ctx context.Context, self peer, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer context.AfterFunc(r.leaving, cancel)()
	r.mu.Lock()
	if r.withdrawn {
		r.mu.Unlock()
		return
	}
	done := make(chan struct{})
	r.inflight = done
	r.mu.Unlock()
	defer close(done)

	err := r.src.publish(ctx, self)
	if err != nil && ctx.Err() == nil {
		r.log.Error(err, "publishing this speaker")
	}
	r.mu.Lock()
	r.pubErr, r.inflight = err, nil
	r.mu.Unlock()
}

// withdraw removes self's record for good, after the publish in flight.
// Only the first call does anything.
func (r *registry) withdraw(ctx context.Context) error {
	r.stopPublish()
	r.mu.Lock()
	if r.withdrawn {
		r.mu.Unlock()
		return nil
	}
	r.withdrawn = true
	wait := r.inflight
	r.mu.Unlock()
	if wait != nil {
		<-wait
	}
	return r.src.withdraw(ctx, r.name)
}

// list returns every speaker's record, and keeps the error for Healthy.
func (r *registry) list(ctx context.Context) ([]peer, error) {
	ps, err := r.src.peers(ctx)
	r.mu.Lock()
	r.listErr = err
	r.mu.Unlock()
	return ps, err
}

// lastErr returns the last failures to publish and to list, joined; nil
// when the last of each succeeded.
func (r *registry) lastErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.pubErr, r.listErr)
}
