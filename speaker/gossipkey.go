package speaker

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The memberlist Secret is read with get, once, at start: no list or watch,
// so the speaker can read no other Secret of its namespace by accident.
// +kubebuilder:rbac:groups="",namespace=portico-speaker,resources=secrets,verbs=get

// GossipKeyField is the data key of the memberlist Secret that holds the
// gossip encryption key: 16, 24 or 32 raw bytes (AES-128, -192 or -256).
const GossipKeyField = "secretkey"

// GossipKey reads the memberlist encryption key from the Secret
// namespace/name, for membership.Config.SecretKey. An empty name means that
// gossip is not encrypted, and returns nil.
//
// A named Secret that is missing is an error, not a reason to go on without
// encryption: speakers with a key refuse gossip without one, so a speaker
// that quietly fell back would split the cluster in two halves that both
// announce every address.
//
// r should read the API server directly (a manager's APIReader): it is called
// before the manager starts, and a cache would also list and watch every
// Secret of the namespace.
func GossipKey(ctx context.Context, r client.Reader, namespace, name string) ([]byte, error) {
	if name == "" {
		return nil, nil
	}
	var s corev1.Secret
	if err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		return nil, fmt.Errorf("speaker: reading memberlist Secret %s/%s: %w", namespace, name, err)
	}
	key, ok := s.Data[GossipKeyField]
	if !ok {
		return nil, fmt.Errorf("speaker: memberlist Secret %s/%s has no %q key", namespace, name, GossipKeyField)
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("speaker: memberlist Secret %s/%s: key %q has %d bytes; want 16, 24 or 32 raw bytes (for example `head -c 32 /dev/urandom`)",
		namespace, name, GossipKeyField, len(key))
}
