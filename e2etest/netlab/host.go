package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/portico-lb/portico/internal/netns"
)

// Host is one namespace on the lab's bridge. Its exported fields never change.
type Host struct {
	Name      string           // node-1, client, …
	Namespace string           // <prefix>-<name>; see NetNSPath
	Interface string           // eth0, the host's link to the bridge
	MAC       net.HardwareAddr // eth0's address
	IPv4      netip.Addr
	IPv6      netip.Addr
	HostLink  string // the root-side end of eth0, a port of the bridge

	lab *Lab
}

// NetNSPath is the namespace's bind mount, /run/netns/<Namespace>, for code
// that opens it itself (setns, a speaker's netns option).
func (h *Host) NetNSPath() string { return filepath.Join("/run/netns", h.Namespace) }

// Command returns a command that runs name inside the host's namespace (via
// ip netns exec, which also mounts a /sys that shows the namespace's links).
// The caller runs and waits for it; Destroy kills it if it is still running.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, h.lab.ip, append([]string{"netns", "exec", h.Namespace, name}, args...)...)
}

// Do runs fn on a fresh OS thread that has entered the host's namespace, for
// Go code that opens sockets there (a listener in a node, a dial from the
// client). Sockets keep the namespace they were opened in, so they can be
// used from any goroutine afterwards; but goroutines that fn starts run on
// other threads, in the root namespace, so open sockets in fn itself.
//
// The thread is discarded when fn returns (internal/netns.Run). A panic in
// fn is re-raised in the caller; fn must not call t.Fatal
// (runtime.Goexit), which Do reports as an error.
func (h *Host) Do(fn func() error) error {
	entered := false
	err := netns.Run(h.NetNSPath(), func() error { entered = true; return fn() })
	switch {
	case err == nil:
		return nil
	case !entered:
		return fmt.Errorf("netlab: %s: %w", h.Name, err)
	case errors.Is(err, netns.ErrGoexit):
		return fmt.Errorf("netlab: %s: Do: %w", h.Name, err)
	}
	return err // fn's own, as it returned it
}

// SetLink takes the host's eth0 down or up, as pulling and plugging its
// cable would: the bridge port loses carrier and frames to the host are
// dropped. Its addresses survive (keep_addr_on_down); bringing the link up
// returns once none of them is tentative any more.
func (h *Host) SetLink(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.lab.run(ctx, h.Name, "-n", h.Namespace, "link", "set", h.Interface, state); err != nil {
		return err
	}
	if up {
		return h.waitNotTentative(ctx)
	}
	return nil
}

// waitNotTentative waits until no IPv6 address on eth0 is tentative. With
// DAD off, nodad addresses are never tentative, but the kernel still marks
// the link-local address (and, after a flap, every kept address added
// without nodad) tentative when the link comes up and clears the flag only
// when its DAD work item runs, which on a busy machine can take a while.
func (h *Host) waitNotTentative(ctx context.Context) error {
	// 2s: the work item normally runs within milliseconds.
	err := Poll(ctx, 10*time.Millisecond, 2*time.Second, "IPv6 addresses on "+h.Interface+" to leave tentative", func(ctx context.Context) error {
		out, err := h.lab.run(ctx, h.Name, "-n", h.Namespace, "-6", "-o", "addr", "show", "dev", h.Interface, "tentative")
		if err != nil {
			return Permanent(err)
		}
		if out = bytes.TrimSpace(out); len(out) > 0 {
			return fmt.Errorf("still tentative: %s", out)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("netlab: %s: %w", h.Name, err)
	}
	return nil
}

// Sysctl sets a sysctl in the host's namespace. key is dotted
// (net.ipv4.ip_forward) or, for names that contain dots, a path under
// /proc/sys (net/ipv6/conf/eth0.100/forwarding).
func (h *Host) Sysctl(key, value string) error {
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	if !strings.HasPrefix(key, "net/") {
		// Only net.* sysctls are per namespace; anything else would change
		// the whole machine.
		return fmt.Errorf("netlab: %s: sysctl %s: %w", h.Name, key, errors.ErrUnsupported)
	}
	// /proc/sys/net shows the namespace of the thread that opens the file.
	return h.Do(func() error { return writeSysctl(h.Name, key, value) })
}

// setIPv6Conf prepares IPv6 on link dev ("all", "default" or a link name) so
// that addresses work at once and survive link flaps:
//   - accept_dad=0: duplicate address detection would hold every new address
//     (and the link-local one) "tentative" for about a second after the link
//     comes up, and again after each flap; in a lab that assigns every
//     address itself there is nothing to detect. Addresses are also added
//     with nodad; this covers link-local ones and links added later.
//   - keep_addr_on_down=1: without it the kernel deletes a link's IPv6
//     addresses when the link goes down, and failover tests flap links.
//   - accept_ra=0: a router in the lab must not add addresses or a default
//     route behind the tests' back.
func (h *Host) setIPv6Conf(dev string) error {
	return h.Do(func() error {
		for _, kv := range [][2]string{{"disable_ipv6", "0"}, {"accept_dad", "0"}, {"keep_addr_on_down", "1"}, {"accept_ra", "0"}} {
			if err := writeSysctl(h.Name, "net/ipv6/conf/"+dev+"/"+kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
}
