package cluster

import (
	"net/netip"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// NodeASN is the nodes' AS towards the lab router (frr.DefaultASN): eBGP,
// one AS for every node, so the router's ECMP needs no multipath-relax.
const NodeASN = 64513

// BGPPeer returns a BGPPeer from every node (AS NodeASN) to the router at
// addr in peerASN, with hold time hold, a keepalive a third of it and a
// connect retry of 2 s: the lab's quick timers.
func BGPPeer(name string, addr netip.Addr, peerASN int64, hold time.Duration) *v1beta1.BGPPeer {
	return &v1beta1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1beta1.BGPPeerSpec{
		MyASN: NodeASN, PeerASN: peerASN, PeerAddress: addr.String(),
		HoldTime:      &metav1.Duration{Duration: hold},
		KeepaliveTime: &metav1.Duration{Duration: hold / 3},
		ConnectTime:   &metav1.Duration{Duration: 2 * time.Second},
	}}
}

// BGPAdvertisement returns a BGPAdvertisement of the named pools.
func BGPAdvertisement(name string, pools ...string) *v1beta1.BGPAdvertisement {
	return &v1beta1.BGPAdvertisement{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1beta1.BGPAdvertisementSpec{IPAddressPools: pools},
	}
}
