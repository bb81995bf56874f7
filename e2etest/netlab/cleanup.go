package netlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Ownership. Each lab holds an flock on /run/portico-netlab/<prefix>.lock for
// as long as it lives; the kernel drops the lock when the owning process dies,
// however it dies. So Cleanup("") can tell a crashed run's leftovers (lock
// free, or no lock file) from a lab that another test package is using right
// now (lock held), and removes only the former. /run is a tmpfs, like
// /run/netns, so locks and namespaces vanish together at reboot.
//
// Create and Cleanup also hold the directory lock (.lock) while they pick or
// remove names, so two Creates never pick the same prefix or subnet, and
// Cleanup never sees a lab between its lock file and its first namespace.
const lockDirPath = "/run/portico-netlab"

// Lab names: namespaces "<prefix>-<host>", root-side links "<prefix>br" (the
// bridge) and "<prefix><tag>" (veths). Only bridges and veths are ever
// removed, so an unrelated link that happens to match is safe.
var (
	nsRE   = regexp.MustCompile(`^(pt[0-9a-z]{4})-[a-z][a-z0-9-]*$`)
	linkRE = regexp.MustCompile(`^(pt[0-9a-z]{4})(br|[a-z][0-9]*)$`)
	lockRE = regexp.MustCompile(`^(pt[0-9a-z]{4})\.lock$`)
)

// Cleanup removes what earlier runs left behind: with a prefix, that lab's
// namespaces, links, bridge and processes, whether or not its owner still
// runs; with "", every lab whose owning process has died (or that has no lock
// file at all), leaving alone labs that other processes, or this one, still
// use. It touches only names that match the lab pattern.
func Cleanup(prefix string) error {
	if prefix != "" && !prefixRE.MatchString(prefix) {
		return fmt.Errorf("netlab: cleanup: prefix %q does not name a lab (\"pt\" and four lowercase letters or digits)", prefix)
	}
	ip, err := IPCommand()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unlock, err := lockDir(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	prefixes := map[string]bool{prefix: true}
	if prefix == "" {
		if prefixes, err = labsPresent(ctx, ip); err != nil {
			return err
		}
	}
	var errs []error
	for p := range prefixes {
		lock, held, err := tryLock(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if held && prefix == "" {
			continue // a live lab
		}
		if err := removeLab(ctx, ip, p); err != nil {
			errs = append(errs, err)
			if lock != nil {
				lock.Close()
			}
			continue
		}
		if lock != nil {
			errs = append(errs, dropLock(lock))
		} else if err := os.Remove(lockPath(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("netlab: %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// removeLab removes everything named with prefix: it kills the processes in
// the lab's namespaces, deletes the root-side veths (which takes their peers
// with them), the namespaces and the bridge. Names that vanish meanwhile are
// fine: deleting a namespace frees its links asynchronously, a little later.
func removeLab(ctx context.Context, ip, prefix string) error {
	var errs []error
	nss, err := listNamespaces()
	if err != nil {
		return err
	}
	links, err := listLinks(ctx, ip)
	if err != nil {
		return err
	}
	for _, ns := range nss {
		if m := nsRE.FindStringSubmatch(ns); m != nil && m[1] == prefix {
			errs = append(errs, killAll(ctx, ip, ns))
		}
	}
	delLinks := func(kind string) {
		for _, ln := range links {
			if m := linkRE.FindStringSubmatch(ln.Name); m == nil || m[1] != prefix || ln.Kind() != kind {
				continue
			}
			if _, err := runIP(ctx, ip, ln.Name, "link", "del", ln.Name); err != nil {
				if _, gone := net.InterfaceByName(ln.Name); gone == nil {
					errs = append(errs, err)
				}
			}
		}
	}
	// Veths before namespaces: deleting a veth is synchronous, deleting a
	// namespace frees its links only later, so this order leaves no link
	// behind when we return.
	delLinks("veth")
	for _, ns := range nss {
		if m := nsRE.FindStringSubmatch(ns); m == nil || m[1] != prefix {
			continue
		}
		if _, err := runIP(ctx, ip, ns, "netns", "del", ns); err != nil {
			if _, gone := os.Stat(filepath.Join("/run/netns", ns)); gone == nil {
				errs = append(errs, err)
			}
		}
	}
	delLinks("bridge")
	return errors.Join(errs...)
}

// killAll sends SIGKILL to every process in namespace ns. A namespace stays
// alive as long as a process is in it, and so would its links.
func killAll(ctx context.Context, ip, ns string) error {
	out, err := runIP(ctx, ip, ns, "netns", "pids", ns)
	if err != nil {
		return err
	}
	for f := range strings.FieldsSeq(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err != nil || pid <= 1 || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("netlab: %s: kill %d: %w", ns, pid, err)
		}
	}
	return nil
}

// labsPresent returns the prefix of every lab that has a namespace, a link or
// a lock file.
func labsPresent(ctx context.Context, ip string) (map[string]bool, error) {
	found := map[string]bool{}
	nss, err := listNamespaces()
	if err != nil {
		return nil, err
	}
	for _, ns := range nss {
		if m := nsRE.FindStringSubmatch(ns); m != nil {
			found[m[1]] = true
		}
	}
	links, err := listLinks(ctx, ip)
	if err != nil {
		return nil, err
	}
	for _, ln := range links {
		if m := linkRE.FindStringSubmatch(ln.Name); m != nil && (ln.Kind() == "veth" || ln.Kind() == "bridge") {
			found[m[1]] = true
		}
	}
	locks, err := os.ReadDir(lockDirPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("netlab: cleanup: %w", err)
	}
	for _, e := range locks {
		if m := lockRE.FindStringSubmatch(e.Name()); m != nil {
			found[m[1]] = true
		}
	}
	return found, nil
}

// prefixInUse reports whether anything already carries prefix.
func prefixInUse(ctx context.Context, ip, prefix string) (bool, error) {
	if _, err := os.Stat(lockPath(prefix)); err == nil {
		return true, nil
	}
	found, err := labsPresent(ctx, ip)
	return found[prefix], err
}

// link is one entry of `ip -j -d link show`.
type link struct {
	Name     string `json:"ifname"`
	LinkInfo struct {
		Kind string `json:"info_kind"`
	} `json:"linkinfo"`
}

func (l link) Kind() string { return l.LinkInfo.Kind }

func listLinks(ctx context.Context, ip string) ([]link, error) {
	out, err := runIP(ctx, ip, "root namespace", "-j", "-d", "link", "show")
	if err != nil {
		return nil, err
	}
	var links []link
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("netlab: root namespace: ip -j -d link show: %w", err)
	}
	return links, nil
}

// listNamespaces lists the named namespaces, as `ip netns list` does.
func listNamespaces() ([]string, error) {
	es, err := os.ReadDir("/run/netns")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netlab: list namespaces: %w", err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names, nil
}

// rootPrefixes returns every route (all tables) and address prefix of the
// root namespace, so that a new lab's subnets overlap none of them.
func rootPrefixes(ctx context.Context, ip string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, fam := range []string{"-4", "-6"} {
		out, err := runIP(ctx, ip, "root namespace", "-j", fam, "route", "show", "table", "all")
		if err != nil {
			return nil, err
		}
		var routes []struct {
			Dst string `json:"dst"`
		}
		if err := json.Unmarshal(out, &routes); err != nil {
			return nil, fmt.Errorf("netlab: root namespace: ip -j %s route show: %w", fam, err)
		}
		for _, r := range routes {
			if p, err := netip.ParsePrefix(r.Dst); err == nil {
				ps = append(ps, p)
			} else if a, err := netip.ParseAddr(r.Dst); err == nil {
				ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
			} // "default" and friends cover everything: not a clash
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("netlab: root namespace: list addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if p, err := netip.ParsePrefix(n.String()); err == nil {
				ps = append(ps, p.Masked())
			}
		}
	}
	return ps, nil
}

// overlapsAny returns the first prefix in ps (other than a default route)
// that overlaps p.
func overlapsAny(p netip.Prefix, ps []netip.Prefix) (netip.Prefix, bool) {
	for _, q := range ps {
		if q.Bits() > 0 && q.Overlaps(p) {
			return q, true
		}
	}
	return netip.Prefix{}, false
}

func lockPath(prefix string) string { return filepath.Join(lockDirPath, prefix+".lock") }

// lockDir takes the directory lock, waiting at most until ctx ends (Create) or
// a minute (Cleanup). The returned unlock may be called more than once.
func lockDir(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(lockDirPath, 0o755); err != nil {
		return nil, fmt.Errorf("netlab: lock: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(lockDirPath, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netlab: lock: %w", err)
	}
	// Poll instead of a blocking flock, so that ctx can end the wait. The
	// lock is held for milliseconds (Create) to seconds (Cleanup).
	err = Poll(ctx, 20*time.Millisecond, 0, "lock "+f.Name(), func(context.Context) error {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != nil && !errors.Is(err, unix.EWOULDBLOCK) {
			return Permanent(err)
		}
		return err
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("netlab: %w", err)
	}
	return sync.OnceFunc(func() { f.Close() }), nil // close drops the flock
}

// takeLock creates and locks the lab's lock file; it says who owns the lab,
// for people reading /run/portico-netlab.
func takeLock(o Options) (*os.File, error) {
	f, err := os.OpenFile(lockPath(o.Prefix), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: lock file: %w", o.Prefix, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("netlab: %s: lock %s: %w", o.Prefix, f.Name(), err)
	}
	fmt.Fprintf(f, "pid %d\nlan %s %s\n", os.Getpid(), o.LANv4, o.LANv6)
	return f, nil
}

// tryLock takes the lock of lab prefix if nobody holds it. held reports a
// live owner; f is nil when there is no lock file.
func tryLock(prefix string) (f *os.File, held bool, err error) {
	f, err = os.OpenFile(lockPath(prefix), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("netlab: %s: lock file: %w", prefix, err)
	}
	// flock locks belong to open files, not processes, so a lab of this very
	// process shows up as held too.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("netlab: %s: lock %s: %w", prefix, lockPath(prefix), err)
	}
	return f, false, nil
}

// dropLock removes a lock file and then releases it, in that order, so no one
// can take a lock on a file that is about to vanish.
func dropLock(f *os.File) error {
	err := os.Remove(f.Name())
	f.Close()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("netlab: %w", err)
	}
	return nil
}
