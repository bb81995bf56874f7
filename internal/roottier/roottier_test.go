package roottier

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecide(t *testing.T) {
	ok := func() error { return nil }
	eperm := func() error { return errors.New("unshare(CLONE_NEWNET): operation not permitted") }
	ip := func() (string, error) { return "/usr/sbin/ip", nil }
	noIP := func() (string, error) { return "", errors.New("ip (iproute2) not found") }
	type want struct {
		Reason string
		Skip   bool
	}
	for _, tc := range []struct {
		name  string
		mode  string
		short bool
		euid  int
		probe func() error
		ip    func() (string, error)
		want  want
	}{
		{name: "root, unset: runs", euid: 0, probe: ok, ip: ip, want: want{}},
		{name: "root, 1: runs", mode: "1", euid: 0, probe: ok, ip: ip, want: want{}},
		{name: "short wins over 1", mode: "1", short: true, probe: ok, ip: ip,
			want: want{"root tier: skipped with -short", true}},
		{name: "0 skips even as root", mode: "0", probe: ok, ip: ip,
			want: want{"root tier: skipped, PORTICO_E2E=0", true}},
		{name: "not root skips", euid: 1000, probe: ok, ip: ip,
			want: want{"root tier: skipped, it needs root for network namespaces (set PORTICO_E2E=1 to fail instead)", true}},
		{name: "not root with 1 fails", mode: "1", euid: 1000, probe: ok, ip: ip,
			want: want{"root tier: PORTICO_E2E=1, but it needs root for network namespaces", false}},
		{name: "EPERM skips", probe: eperm, ip: ip,
			want: want{"root tier: skipped, cannot create a network namespace: unshare(CLONE_NEWNET): operation not permitted (set PORTICO_E2E=1 to fail instead)", true}},
		{name: "EPERM with 1 fails", mode: "1", probe: eperm, ip: ip,
			want: want{"root tier: PORTICO_E2E=1, but cannot create a network namespace: unshare(CLONE_NEWNET): operation not permitted", false}},
		{name: "no ip skips", probe: ok, ip: noIP,
			want: want{"root tier: skipped, ip (iproute2) not found (set PORTICO_E2E=1 to fail instead)", true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, s := decide(tc.mode, tc.short, tc.euid, tc.probe, tc.ip)
			if diff := cmp.Diff(tc.want, want{r, s}); diff != "" {
				t.Errorf("decide (-want +got):\n%s", diff)
			}
		})
	}
}
