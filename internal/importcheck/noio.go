package importcheck

import "strings"

// StandardNoIO reports whether path is in the standard library and does no
// I/O of its own: not os, net (net/netip is plain data), io, syscall or
// unsafe, nor their sub-packages that reach files, sockets or memory. It is
// the common part of the pure packages' policies; each adds what it may
// import beside it and what it refuses besides (a clock, randomness).
func StandardNoIO(path string) bool {
	switch path {
	case "os", "net", "io", "io/fs", "io/ioutil", "syscall", "unsafe":
		return false
	}
	return Standard(path) && !strings.HasPrefix(path, "net/http") && !strings.HasPrefix(path, "os/")
}
