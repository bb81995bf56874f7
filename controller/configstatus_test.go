package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// Problems the model finds in advertisements and peers show up as their
// Ready condition: a warning keeps the object in use, an error does not.
func TestAdvertisementAndPeerConditions(t *testing.T) {
	startController(t)
	adv := &v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{GenerateName: "adv-"},
		Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"no-such-pool"}}}
	peer := &v1beta1.BGPPeer{ObjectMeta: metav1.ObjectMeta{GenerateName: "peer-"},
		Spec: v1beta1.BGPPeerSpec{MyASN: 64512, PeerASN: 64513, PeerAddress: "192.0.2.1",
			PasswordSecret: &v1beta1.SecretReference{Name: "no-such-secret"}}}
	if err := k8s.Create(context.Background(), adv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), adv) })
	if err := k8s.Create(context.Background(), peer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), peer) })

	eventually(t, "L2Advertisement Ready with a PoolNotFound warning", func() (bool, string) {
		var got v1beta1.L2Advertisement
		_ = k8s.Get(context.Background(), clientKey(adv), &got)
		c := findCondition(got.Status.Conditions, v1beta1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == v1beta1.ReasonPoolNotFound &&
			strings.Contains(c.Message, "no-such-pool"), fmt.Sprintf("%+v", c)
	})
	eventually(t, "BGPPeer not Ready with SecretNotFound", func() (bool, string) {
		var got v1beta1.BGPPeer
		_ = k8s.Get(context.Background(), clientKey(peer), &got)
		c := findCondition(got.Status.Conditions, v1beta1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1beta1.ReasonSecretNotFound &&
			strings.Contains(c.Message, "no-such-secret"), fmt.Sprintf("%+v", c)
	})
}
