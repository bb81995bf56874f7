package controller_test

import (
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func clientKey(o client.Object) client.ObjectKey { return client.ObjectKeyFromObject(o) }

func findCondition(cs []metav1.Condition, t string) *metav1.Condition {
	return meta.FindStatusCondition(cs, t)
}

func inPrefix(cidr, ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && netip.MustParsePrefix(cidr).Contains(a)
}

// nextBlock returns the first three octets (with trailing dot) of the /24
// after cidr, e.g. "10.100.5.0/24" -> "10.100.6.".
func nextBlock(cidr string) string {
	p := netip.MustParsePrefix(cidr)
	b := p.Addr().As4()
	n := netip.AddrFrom4([4]byte{b[0], b[1], b[2] + 1, 0}).String()
	return strings.TrimSuffix(n, "0")
}
