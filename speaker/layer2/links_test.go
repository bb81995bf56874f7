package layer2

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestListLinks reads the test's own namespace, which needs no privileges,
// and checks what every Linux namespace has: a loopback with 127.0.0.1/8.
func TestListLinks(t *testing.T) {
	links, err := listLinks()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.flags&net.FlagLoopback == 0 {
			continue
		}
		if l.usable() {
			t.Errorf("loopback %q is usable for ARP/NDP", l.name)
		}
		for _, p := range l.prefixes {
			if p == netip.MustParsePrefix("127.0.0.1/8") {
				// Cross-check with the net package.
				ifi, err := net.InterfaceByName(l.name)
				if err != nil || ifi.Index != l.index || ifi.Flags != l.flags {
					t.Errorf("link %+v disagrees with net.InterfaceByName: %+v, %v", l, ifi, err)
				}
				return
			}
		}
		t.Errorf("loopback %q has no 127.0.0.1/8: %v", l.name, l.prefixes)
	}
	t.Skip("no loopback interface in this namespace")
}

func TestBindable(t *testing.T) {
	tests := []struct {
		flags uint32
		want  bool
	}{
		{0, true},
		{unix.IFA_F_PERMANENT, true},
		{unix.IFA_F_TENTATIVE, false},
		{unix.IFA_F_TENTATIVE | unix.IFA_F_OPTIMISTIC, true},
		{unix.IFA_F_DADFAILED | unix.IFA_F_TENTATIVE, false},
		{unix.IFA_F_DADFAILED, false},
	}
	for _, tt := range tests {
		if got := bindable(tt.flags); got != tt.want {
			t.Errorf("bindable(%#x) = %v, want %v", tt.flags, got, tt.want)
		}
	}
}
