package configsync

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
)

func objMeta(uid, rv string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: uid, UID: types.UID(uid), ResourceVersion: rv}
}

// TestCoverCacheLag: the Syncer's own writes of status.lastValid stand in
// for what a lagging cache shows, exactly until the cache shows the object
// past the version written over, and are forgotten then or when the object
// is gone.
func TestCoverCacheLag(t *testing.T) {
	poolV := &v1beta1.IPAddressPoolVersion{Generation: 4, InUse: true}
	l2V := &v1beta1.L2AdvertisementVersion{Generation: 2}
	bgpV := &v1beta1.BGPAdvertisementVersion{Generation: 3}
	peerV := &v1beta1.BGPPeerVersion{Generation: 5}
	old := &v1beta1.IPAddressPoolVersion{Generation: 1, InUse: true}

	res := config.ClusterResources{
		Pools: []v1beta1.IPAddressPool{
			{ObjectMeta: objMeta("lagging", "10"), Status: v1beta1.IPAddressPoolStatus{LastValid: old}},
			{ObjectMeta: objMeta("caught-up", "11"), Status: v1beta1.IPAddressPoolStatus{LastValid: old}},
			{ObjectMeta: objMeta("cleared", "12"), Status: v1beta1.IPAddressPoolStatus{LastValid: old}},
		},
		L2Advertisements:  []v1beta1.L2Advertisement{{ObjectMeta: objMeta("l2", "20")}},
		BGPAdvertisements: []v1beta1.BGPAdvertisement{{ObjectMeta: objMeta("bgp", "30")}},
		BGPPeers:          []v1beta1.BGPPeer{{ObjectMeta: objMeta("peer", "40")}},
	}
	s := &Syncer{written: map[types.UID]written{
		"lagging":   {staleRV: "10", lastValid: poolV},
		"caught-up": {staleRV: "9", lastValid: poolV},
		// Clearing is a write too: a nil version stands in.
		"cleared": {staleRV: "12", lastValid: (*v1beta1.IPAddressPoolVersion)(nil)},
		"l2":      {staleRV: "20", lastValid: l2V},
		"bgp":     {staleRV: "30", lastValid: bgpV},
		"peer":    {staleRV: "40", lastValid: peerV},
		"deleted": {staleRV: "50", lastValid: poolV},
	}}
	s.coverCacheLag(&res)

	got := map[string]any{
		"lagging":   res.Pools[0].Status.LastValid,
		"caught-up": res.Pools[1].Status.LastValid,
		"cleared":   res.Pools[2].Status.LastValid,
		"l2":        res.L2Advertisements[0].Status.LastValid,
		"bgp":       res.BGPAdvertisements[0].Status.LastValid,
		"peer":      res.BGPPeers[0].Status.LastValid,
	}
	want := map[string]any{
		"lagging":   poolV,
		"caught-up": old, // the cache is past the write: what it shows wins
		"cleared":   (*v1beta1.IPAddressPoolVersion)(nil),
		"l2":        l2V,
		"bgp":       bgpV,
		"peer":      peerV,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("lastValid after coverCacheLag (-want +got):\n%s", d)
	}
	var kept []string
	for uid := range s.written {
		kept = append(kept, string(uid))
	}
	slices.Sort(kept)
	if d := cmp.Diff([]string{"bgp", "cleared", "l2", "lagging", "peer"}, kept); d != "" {
		t.Errorf("writes still covering (-want +got):\n%s", d)
	}
}

// TestLastValidChanged: of the status, only status.lastValid goes into the
// model, so only an update that changes it wakes the configuration
// controller (spec and label changes have their own predicates).
func TestLastValidChanged(t *testing.T) {
	v1 := &v1beta1.IPAddressPoolVersion{Generation: 1}
	v2 := &v1beta1.IPAddressPoolVersion{Generation: 2}
	cond := []metav1.Condition{{Type: v1beta1.ConditionReady, Status: metav1.ConditionTrue}}
	tests := []struct {
		name     string
		old, new client.Object
		want     bool
	}{
		{"pool lastValid recorded", &v1beta1.IPAddressPool{}, &v1beta1.IPAddressPool{Status: v1beta1.IPAddressPoolStatus{LastValid: v1}}, true},
		{"pool lastValid replaced", &v1beta1.IPAddressPool{Status: v1beta1.IPAddressPoolStatus{LastValid: v1}},
			&v1beta1.IPAddressPool{Status: v1beta1.IPAddressPoolStatus{LastValid: v2}}, true},
		{"pool conditions and usage only", &v1beta1.IPAddressPool{Status: v1beta1.IPAddressPoolStatus{LastValid: v1}},
			&v1beta1.IPAddressPool{Status: v1beta1.IPAddressPoolStatus{LastValid: v1, Assigned: 3, Conditions: cond}}, false},
		{"L2Advertisement", &v1beta1.L2Advertisement{},
			&v1beta1.L2Advertisement{Status: v1beta1.L2AdvertisementStatus{LastValid: &v1beta1.L2AdvertisementVersion{}}}, true},
		{"BGPAdvertisement", &v1beta1.BGPAdvertisement{},
			&v1beta1.BGPAdvertisement{Status: v1beta1.BGPAdvertisementStatus{LastValid: &v1beta1.BGPAdvertisementVersion{}}}, true},
		{"BGPPeer", &v1beta1.BGPPeer{}, &v1beta1.BGPPeer{Status: v1beta1.BGPPeerStatus{LastValid: &v1beta1.BGPPeerVersion{}}}, true},
		{"BGPPeer conditions only", &v1beta1.BGPPeer{}, &v1beta1.BGPPeer{Status: v1beta1.BGPPeerStatus{Conditions: cond}}, false},
	}
	p := lastValidChanged()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Update(event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}); got != tt.want {
				t.Errorf("Update = %v, want %v", got, tt.want)
			}
		})
	}
	if p.Create(event.CreateEvent{Object: &v1beta1.IPAddressPool{}}) || p.Delete(event.DeleteEvent{Object: &v1beta1.IPAddressPool{}}) ||
		p.Generic(event.GenericEvent{Object: &v1beta1.IPAddressPool{}}) {
		t.Error("create, delete or generic events pass; the other predicates cover them")
	}
}

func TestWarnReady(t *testing.T) {
	bad := config.Problem{Kind: "BGPPeer", Name: "p", Reason: v1beta1.ReasonInvalid, Message: "bad"}
	ready := func(msg string) metav1.Condition {
		return metav1.Condition{Type: v1beta1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1beta1.ReasonInvalid, Message: msg}
	}
	valid := metav1.Condition{Type: v1beta1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1beta1.ReasonValid, Message: "valid and in use"}
	tests := []struct {
		name     string
		before   []metav1.Condition
		ready    metav1.Condition
		problems []config.Problem
		want     bool
	}{
		{"valid", nil, valid, nil, false},
		{"first report of a problem", nil, ready("bad"), []config.Problem{bad}, true},
		{"problem as before", []metav1.Condition{ready("bad")}, ready("bad"), []config.Problem{bad}, false},
		{"problem changed", []metav1.Condition{ready("bad")}, ready("worse"), []config.Problem{bad}, true},
		{"fixed", []metav1.Condition{ready("bad")}, valid, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := warnReady(tt.before, tt.ready, tt.problems); got != tt.want {
				t.Errorf("warnReady = %v, want %v", got, tt.want)
			}
		})
	}
}
