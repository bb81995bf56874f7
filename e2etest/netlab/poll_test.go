package netlab

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPoll(t *testing.T) {
	errGone := errors.New("process exited")
	errCause := errors.New("supervisor exited")
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		cancel  time.Duration // cancel the caller's ctx with errCause after this, if > 0
		ready   int           // check succeeds on this call (0: never)
		stopAt  int           // check fails permanently on this call (0: never)
		want    string        // the error, "" for nil
		calls   int
		is      []error
	}{
		{name: "at once", timeout: time.Second, ready: 1, calls: 1},
		{name: "third call", timeout: time.Second, ready: 3, calls: 3},
		{name: "timeout names what and the last state", timeout: 1050 * time.Millisecond, calls: 11,
			want: "waited 1.05s for the thing: 11 of 12 ready", is: []error{context.DeadlineExceeded}},
		{name: "permanent stops at once", timeout: time.Second, stopAt: 2, calls: 2,
			want: "waiting for the thing: process exited", is: []error{errGone}},
		{name: "caller's cause", timeout: 0, cancel: 250 * time.Millisecond, calls: 3,
			want: "waited 250ms for the thing: supervisor exited; last: 3 of 12 ready", is: []error{errCause}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancelCause(t.Context())
				defer cancel(nil)
				if tc.cancel > 0 {
					time.AfterFunc(tc.cancel, func() { cancel(errCause) })
				}
				calls := 0
				err := Poll(ctx, 100*time.Millisecond, tc.timeout, "the thing", func(context.Context) error {
					calls++
					switch calls {
					case tc.ready:
						return nil
					case tc.stopAt:
						return Permanent(errGone)
					}
					return fmt.Errorf("%d of 12 ready", calls)
				})
				got := ""
				if err != nil {
					got = err.Error()
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				if calls != tc.calls {
					t.Errorf("%d calls, want %d", calls, tc.calls)
				}
				for _, target := range tc.is {
					if !errors.Is(err, target) {
						t.Errorf("errors.Is(%v, %v) = false", err, target)
					}
				}
			})
		})
	}
}
