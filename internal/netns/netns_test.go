package netns

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// self names the network namespace of the calling thread.
func self() (string, error) { return os.Readlink("/proc/thread-self/ns/net") }

func TestRun(t *testing.T) {
	want := errors.New("from fn")
	if err := Run("", func() error { return want }); err != want {
		t.Errorf("Run returned %v, want fn's error", err)
	}
	// t.Fatal inside fn (runtime.Goexit) would end only fn's goroutine; Run must say so
	// instead of hanging or returning nil.
	if err := Run("", func() error { runtime.Goexit(); return nil }); !errors.Is(err, ErrGoexit) {
		t.Errorf("Run with Goexit returned %v, want ErrGoexit", err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want fn's panic", v)
			}
		}()
		Run("", func() error { panic("boom") })
		t.Error("Run returned after fn panicked")
	}()
	if err := Run("/nonexistent/netns", func() error { return nil }); err == nil {
		t.Error("Run with a missing namespace succeeded")
	}
}

func TestThread(t *testing.T) {
	th, err := Start(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	// Many calls, with the caller and busy goroutines sleeping in between,
	// so an unlocked goroutine would be resumed on other threads.
	tids := map[int]bool{}
	stop := make(chan struct{})
	for range 8 {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
	}
	for range 200 {
		if err := th.Do(t.Context(), func() error { tids[unix.Gettid()] = true; return nil }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	close(stop)
	if len(tids) != 1 {
		t.Errorf("calls ran on %d threads, want one", len(tids))
	}
	th.Close()
	th.Close() // idempotent
	if err := th.Do(t.Context(), func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	th, err = Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := th.Do(t.Context(), func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after ctx ended: %v, want ErrClosed", err)
	}

	if _, err := Start(t.Context(), "/nonexistent/netns"); err == nil {
		t.Error("Start with a missing namespace succeeded")
	}

	var nilThread *Thread
	ran := false
	if err := nilThread.Do(t.Context(), func() error { ran = true; return nil }); err != nil || !ran {
		t.Errorf("nil Thread: ran %v, err %v; want fn run directly", ran, err)
	}
}

// TestThreadKeepsNamespace unshares a new namespace on a Thread and checks
// that later calls still run in it while the caller stays outside: the
// property layer 2 and the lab's spawner rely on.
func TestThreadKeepsNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to unshare a network namespace")
	}
	outside, err := self()
	if err != nil {
		t.Fatal(err)
	}
	th, err := Start(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	err = th.Do(t.Context(), func() error { return unix.Unshare(unix.CLONE_NEWNET) })
	if errors.Is(err, unix.EPERM) {
		t.Skip("unshare(CLONE_NEWNET): operation not permitted here")
	}
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := th.Do(t.Context(), func() (err error) { inside, err = self(); return err }); err != nil {
		t.Fatal(err)
	}
	if inside == outside {
		t.Errorf("second call ran in %s, the caller's namespace; want the unshared one", inside)
	}
	// Run enters a namespace by path: the thread's, through /proc.
	var tid int
	th.Do(t.Context(), func() error { tid = unix.Gettid(); return nil })
	var viaRun string
	if err := Run("/proc/self/task/"+strconv.Itoa(tid)+"/ns/net", func() (err error) { viaRun, err = self(); return err }); err != nil {
		t.Fatal(err)
	}
	if viaRun != inside {
		t.Errorf("Run entered %s, want %s", viaRun, inside)
	}
	if now, _ := self(); now != outside {
		t.Errorf("caller moved to %s", now)
	}
}
