package layer2

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// nsThread runs functions on one OS thread that has entered a network
// namespace. Linux keeps the namespace per thread, and a socket belongs to the
// namespace of the thread that created it for its whole life, so listing
// interfaces and opening sockets are the only steps that need this; reading,
// writing and setsockopt on the sockets work from any goroutine.
//
// A nil *nsThread runs functions directly, in the caller's namespace.
type nsThread struct {
	calls chan func()
}

// enterNetns starts the thread for the namespace at path, or returns nil for
// an empty path. The thread lives until ctx ends.
func enterNetns(ctx context.Context, path string) (*nsThread, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("layer2: network namespace: %w", err)
	}
	t := &nsThread{calls: make(chan func())}
	entered := make(chan error, 1)
	go func() {
		defer f.Close()
		// Never unlocked: a goroutine that exits while locked takes its thread
		// with it, so no other goroutine ever runs in this namespace. The
		// runtime also spawns new threads from a clean template thread rather
		// than from a locked one, so the namespace does not leak that way.
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			entered <- fmt.Errorf("layer2: entering network namespace %s: %w", path, err)
			return
		}
		entered <- nil
		for {
			select {
			case fn := <-t.calls:
				fn()
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := <-entered; err != nil {
		return nil, err
	}
	return t, nil
}

// do runs fn inside the namespace and waits for it. fn must not start
// goroutines that expect the namespace: they would run on other threads.
func (t *nsThread) do(ctx context.Context, fn func() error) error {
	if t == nil {
		return fn()
	}
	errc := make(chan error, 1)
	select {
	case t.calls <- func() { errc <- fn() }:
		return <-errc
	case <-ctx.Done():
		return ctx.Err()
	}
}
