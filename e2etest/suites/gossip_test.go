package suites

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-lb/portico/e2etest/cluster"
)

// TestGossipKeyCreated: the lab starts its speakers with no gossip flags at
// all, as the DaemonSet does, and they encrypt their gossip with a key they
// created themselves: one Secret, one 32-byte key. (That they agree on it
// is what every other suite shows: they see each other.)
func TestGossipKeyCreated(t *testing.T) {
	c := theCluster(t)
	if err := c.WaitSettled(t.Context()); err != nil {
		t.Fatal(err)
	}
	var s corev1.Secret
	if err := c.Client.Get(t.Context(), client.ObjectKey{Namespace: cluster.Namespace, Name: "portico-memberlist"}, &s); err != nil {
		t.Fatalf("the speakers' gossip key Secret: %v", err)
	}
	if k := s.Data["secretkey"]; len(k) != 32 {
		t.Errorf("Secret %s/%s holds a %d-byte secretkey, want 32 random bytes", s.Namespace, s.Name, len(k))
	}
}
