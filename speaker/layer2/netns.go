package layer2

import (
	"context"
	"fmt"

	"github.com/portico-lb/portico/internal/netns"
)

// nsThread runs functions on one OS thread that has entered a network
// namespace (internal/netns). Linux keeps the namespace per thread, and a
// socket belongs to the namespace of the thread that created it for its
// whole life, so listing interfaces and opening sockets are the only steps
// that need this; reading, writing and setsockopt on the sockets work from
// any goroutine.
//
// A nil *nsThread runs functions directly, in the caller's namespace.
type nsThread struct{ t *netns.Thread }

// enterNetns starts the thread for the namespace at path, or returns nil for
// an empty path. The thread lives until ctx ends.
func enterNetns(ctx context.Context, path string) (*nsThread, error) {
	if path == "" {
		return nil, nil
	}
	t, err := netns.Start(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("layer2: network namespace: %w", err)
	}
	return &nsThread{t: t}, nil
}

// do runs fn inside the namespace and waits for it. fn must not start
// goroutines that expect the namespace: they would run on other threads.
func (t *nsThread) do(ctx context.Context, fn func() error) error {
	if t == nil {
		return fn()
	}
	return t.t.Do(ctx, fn)
}
