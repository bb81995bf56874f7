package speaker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// The memberlist Secret is read with get, by name, once, at start: no list
// or watch, and no other Secret of the namespace. create cannot be limited
// to a name (Kubernetes authorizes a create before the object has one), so
// the speaker may create Secrets in its namespace, but read none of them
// except its key. A Secret named by --memberlist-secret other than the
// default needs its name added to the Role.
// +kubebuilder:rbac:groups="",namespace=portico-speaker,resources=secrets,verbs=get,resourceNames=portico-memberlist
// +kubebuilder:rbac:groups="",namespace=portico-speaker,resources=secrets,verbs=create

// DefaultGossipSecret is the Secret, in the speaker's namespace, that holds
// the gossip keys unless --memberlist-secret names another.
const DefaultGossipSecret = "portico-memberlist"

// GossipKeyField is the data key of the memberlist Secret that holds the
// primary gossip key, the one that encrypts: 16, 24 or 32 raw bytes
// (AES-128, -192 or -256). Further keys under data keys that start with
// GossipKeyField + "-" (say secretkey-next, secretkey-old) decrypt too,
// for rotating keys without a split; see README, "Gossip key".
const GossipKeyField = "secretkey"

// GossipKeys returns the gossip keys from the Secret namespace/name: the
// primary first (membership.Config.SecretKey), then the others, sorted by
// data key (membership.Config.SecondaryKeys).
//
// When the Secret does not exist, GossipKeys creates it with a random
// 32-byte primary key. Speakers that start together race to do so; the
// API server lets one Create win, and the others, seeing AlreadyExists,
// read the winner's key, so they all agree.
//
// A Secret that cannot be read or holds no valid key is an error, never a
// reason to go on without encryption: speakers with a key refuse gossip
// without one, so a speaker that quietly fell back would split the cluster
// into halves that both announce every address.
//
// r should read the API server directly (a manager's APIReader): it is
// called before the manager starts, and a cache would also list and watch
// every Secret of the namespace.
func GossipKeys(ctx context.Context, r client.Reader, w client.Writer, namespace, name string) ([][]byte, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	var s corev1.Secret
	err := r.Get(ctx, key, &s)
	if apierrors.IsNotFound(err) {
		err = createGossipSecret(ctx, r, w, key, &s)
	}
	if err != nil {
		return nil, fmt.Errorf("speaker: reading memberlist Secret %s: %w", key, err)
	}
	return parseGossipKeys(&s)
}

// createGossipSecret creates the Secret key with a new random key into s,
// or, if another speaker was first, reads theirs into s.
func createGossipSecret(ctx context.Context, r client.Reader, w client.Writer, key types.NamespacedName, s *corev1.Secret) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return fmt.Errorf("generating a key: %w", err)
	}
	*s = corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{
			"app.kubernetes.io/name": "portico", "app.kubernetes.io/component": "speaker",
		}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{GossipKeyField: k},
	}
	err := w.Create(ctx, s)
	switch {
	case err == nil:
		return nil
	case apierrors.IsAlreadyExists(err):
		*s = corev1.Secret{}
		return r.Get(ctx, key, s)
	}
	return fmt.Errorf("it does not exist, and creating it failed: %w", err)
}

// parseGossipKeys reads the keys of s, primary first.
func parseGossipKeys(s *corev1.Secret) ([][]byte, error) {
	primary, ok := s.Data[GossipKeyField]
	if !ok {
		return nil, fmt.Errorf("speaker: memberlist Secret %s/%s has no %q key", s.Namespace, s.Name, GossipKeyField)
	}
	fields := []string{GossipKeyField}
	for f := range s.Data {
		if strings.HasPrefix(f, GossipKeyField+"-") {
			fields = append(fields, f)
		}
	}
	slices.Sort(fields[1:])
	keys := make([][]byte, 0, len(fields))
	for _, f := range fields {
		k := s.Data[f]
		switch len(k) {
		case 16, 24, 32:
		default:
			return nil, fmt.Errorf("speaker: memberlist Secret %s/%s: key %q has %d bytes; want 16, 24 or 32 raw bytes (for example `head -c 32 /dev/urandom`)",
				s.Namespace, s.Name, f, len(k))
		}
		if f != GossipKeyField && string(k) == string(primary) {
			continue // the primary decrypts anyway
		}
		keys = append(keys, k)
	}
	return keys, nil
}

var errPlainGossip = errors.New("speaker: gossip is in plain text")

// plainGossipWarnEvery is how often a speaker with plain gossip says so
// again, so the warning does not scroll away with the start-up lines.
const plainGossipWarnEvery = 10 * time.Minute

// SetupGossip returns the primary and secondary gossip keys for
// membership.Config, read (or created) by GossipKeys within timeout.
//
// With plain set it returns none, and adds to mgr a runnable that warns
// now and every ten minutes that gossip is neither encrypted nor
// authenticated: anyone on the network can then join the membership and
// make speakers start over. Readiness does not depend on it; plain gossip
// is a choice, not a fault.
func SetupGossip(ctx context.Context, mgr manager.Manager, namespace, secret string, plain bool, timeout time.Duration, log logr.Logger) (primary []byte, secondary [][]byte, err error) {
	if plain {
		warn := func() {
			// At error level, so it stands out where logs are filtered.
			log.Error(errPlainGossip, "WARNING: gossip is NOT encrypted or authenticated (--insecure-plain-gossip): any host that reaches the memberlist port can join and disturb which node announces what; remove the flag to use the key Secret",
				"namespace", namespace)
		}
		warn()
		err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			t := time.NewTicker(plainGossipWarnEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
					warn()
				}
			}
		}))
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	keys, err := GossipKeys(ctx, mgr.GetAPIReader(), mgr.GetClient(), namespace, secret)
	if err != nil {
		return nil, nil, err
	}
	log.Info("gossip is encrypted and authenticated", "secret", namespace+"/"+secret, "keys", len(keys))
	return keys[0], keys[1:], nil
}
