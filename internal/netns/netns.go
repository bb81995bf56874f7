package netns

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by Do once the thread has ended.
var ErrClosed = errors.New("netns: thread closed")

// ErrGoexit is returned by Run when fn called runtime.Goexit (t.Fatal, for
// instance) instead of returning.
var ErrGoexit = errors.New("netns: fn called runtime.Goexit (t.Fatal inside it?)")

// Thread is one locked OS thread that runs the functions given to Do, one at
// a time, in the namespace it entered. A nil *Thread runs them directly on
// the caller's goroutine, in the caller's namespace.
type Thread struct {
	calls chan func()
	quit  chan struct{}
	done  chan struct{} // closed when the thread has ended
	once  sync.Once
}

// Start locks a new OS thread, moves it into the network namespace bound at
// path (it stays in the caller's for an empty path) and returns it once it
// is there. The thread ends when ctx ends or Close is called.
func Start(ctx context.Context, path string) (*Thread, error) {
	t := &Thread{calls: make(chan func()), quit: make(chan struct{}), done: make(chan struct{})}
	entered := make(chan error, 1)
	go func() {
		defer close(t.done)
		runtime.LockOSThread() // never unlocked; see the package doc
		if err := enter(path); err != nil {
			entered <- err
			return
		}
		entered <- nil
		for {
			select {
			case fn := <-t.calls:
				fn()
			case <-ctx.Done():
				return
			case <-t.quit:
				return
			}
		}
	}()
	if err := <-entered; err != nil {
		return nil, err
	}
	return t, nil
}

// Do runs fn on the thread and waits for it. It returns ctx's error if ctx
// ends before the thread takes fn, and ErrClosed if the thread has ended.
// fn must not start goroutines that expect the namespace: they run on
// other threads.
func (t *Thread) Do(ctx context.Context, fn func() error) error {
	if t == nil {
		return fn()
	}
	errc := make(chan error, 1)
	select {
	case t.calls <- func() { errc <- fn() }:
		return <-errc
	case <-t.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends the thread and waits until it has ended. It is idempotent.
func (t *Thread) Close() {
	if t == nil {
		return
	}
	t.once.Do(func() { close(t.quit) })
	<-t.done
}

// Run runs fn on a fresh locked OS thread that has entered the network
// namespace bound at path (the caller's for an empty path), waits for it and
// discards the thread. A panic in fn is raised again in the caller; if fn
// calls runtime.Goexit, Run returns ErrGoexit.
func Run(path string, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked; see the package doc
		var r result
		returned := false
		defer func() {
			if v := recover(); v != nil {
				r = result{panicked: true, value: v}
			} else if !returned {
				r.err = ErrGoexit
			}
			done <- r
		}()
		if err := enter(path); err != nil {
			r.err = err
			returned = true
			return
		}
		r.err = fn()
		returned = true
	}()
	r := <-done
	if r.panicked {
		panic(r.value)
	}
	return r.err
}

// enter moves the calling thread into the namespace at path; an empty path
// leaves it where it is.
func enter(path string) error {
	if path == "" {
		return nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns: open %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns: entering %s: %w", path, err)
	}
	return nil
}
