package netlab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Poll calls check at once and then every interval until check returns nil,
// and returns nil then. A non-nil error from check says what is still
// missing ("2 of 3 nodes ready", "no ingress yet") and polling goes on;
// wrap it with Permanent to stop at once instead (a process exited, a
// command failed).
//
// It gives up when timeout passes (never, for timeout <= 0: only ctx then)
// or ctx ends, with a *PollError that says what was awaited, for how long,
// and what check said last. This is e2etest's one poll loop, on
// wait.PollUntilContextTimeout, for every package from netlab up.
func Poll(ctx context.Context, interval, timeout time.Duration, what string, check func(context.Context) error) error {
	start := time.Now()
	var last, stop error
	cond := func(ctx context.Context) (bool, error) {
		err := check(ctx)
		if p, ok := errors.AsType[*permanentError](err); ok {
			stop = p.err
			return false, stop
		}
		last = err
		return err == nil, nil
	}
	var err error
	if timeout > 0 {
		err = wait.PollUntilContextTimeout(ctx, interval, timeout, true, cond)
	} else {
		err = wait.PollUntilContextCancel(ctx, interval, true, cond)
	}
	switch {
	case err == nil:
		return nil
	case stop != nil:
		return fmt.Errorf("waiting for %s: %w", what, stop)
	}
	pe := &PollError{What: what, Waited: time.Since(start), Last: last, Err: err}
	if ctx.Err() != nil {
		pe.Err = context.Cause(ctx) // the caller's reason, not ours
	} else if timeout > 0 {
		pe.Waited = timeout
	}
	return pe
}

// Permanent marks an error from a Poll check as final: Poll stops and
// returns it (wrapped with what it was waiting for).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// PollError is a Poll that gave up.
type PollError struct {
	What   string        // what was awaited
	Waited time.Duration // the timeout, or how long it polled before ctx ended
	Last   error         // what check said last; nil if it never said
	Err    error         // why it stopped: context.DeadlineExceeded or ctx's cause
}

func (e *PollError) Error() string {
	s := fmt.Sprintf("waited %v for %s: ", e.Waited.Round(time.Millisecond), e.What)
	switch {
	case e.Last == nil:
		return s + e.Err.Error()
	case errors.Is(e.Err, context.DeadlineExceeded):
		return s + e.Last.Error()
	}
	return s + e.Err.Error() + "; last: " + e.Last.Error()
}

// Unwrap lets errors.Is see both the last state and the reason.
func (e *PollError) Unwrap() []error {
	if e.Last == nil {
		return []error{e.Err}
	}
	return []error{e.Last, e.Err}
}
