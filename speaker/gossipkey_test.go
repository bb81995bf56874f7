package speaker_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/portico-lb/portico/speaker"
)

func TestGossipKey(t *testing.T) {
	const ns = "portico-speaker"
	secret := func(name string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
	}
	key := func(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }
	objs := []client.Object{
		secret("aes128", map[string][]byte{speaker.GossipKeyField: key(16)}),
		secret("aes192", map[string][]byte{speaker.GossipKeyField: key(24)}),
		secret("aes256", map[string][]byte{speaker.GossipKeyField: key(32)}),
		// A base64 text of 32 random bytes is 44 bytes long: the mistake
		// the error message has to explain.
		secret("base64", map[string][]byte{speaker.GossipKeyField: []byte("pXGkVR1a0p8wq0Xv5e3wE2m5cJ6kq2tYb1pS0d1gPjQ=")}),
		secret("empty", map[string][]byte{speaker.GossipKeyField: {}}),
		secret("otherkey", map[string][]byte{"password": key(32)}),
		// Mid-rotation: the primary and two more that decrypt, sorted by
		// data key; one repeats the primary.
		secret("rotating", map[string][]byte{speaker.GossipKeyField: key(32), "secretkey-old": key(16), "secretkey-b": key(24),
			"secretkey-same": key(32), "password": key(5)}),
		secret("badsecondary", map[string][]byte{speaker.GossipKeyField: key(32), "secretkey-old": key(44)}),
	}
	// The same names in another namespace must not be read.
	other := secret("elsewhere", map[string][]byte{speaker.GossipKeyField: key(32)})
	other.Namespace = "default"
	c := fake.NewClientBuilder().WithObjects(append(objs, other)...).Build()

	for _, tc := range []struct {
		name     string
		secret   string
		wantLens []int
		wantErr  string // substring; "" means no error
	}{
		{name: "AES-128", secret: "aes128", wantLens: []int{16}},
		{name: "AES-192", secret: "aes192", wantLens: []int{24}},
		{name: "AES-256", secret: "aes256", wantLens: []int{32}},
		{name: "primary and secondary keys", secret: "rotating", wantLens: []int{32, 24, 16}},
		{name: "wrong length", secret: "base64", wantErr: `memberlist Secret portico-speaker/base64: key "secretkey" has 44 bytes; want 16, 24 or 32`},
		{name: "secondary key of the wrong length", secret: "badsecondary", wantErr: `memberlist Secret portico-speaker/badsecondary: key "secretkey-old" has 44 bytes`},
		{name: "empty key", secret: "empty", wantErr: `key "secretkey" has 0 bytes`},
		{name: "key missing", secret: "otherkey", wantErr: `memberlist Secret portico-speaker/otherkey has no "secretkey" key`},
		// Behaviour change (issue 8): a missing Secret is created.
		{name: "secret missing: created", secret: "nope", wantLens: []int{32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := speaker.GossipKeys(context.Background(), c, c, ns, tc.secret)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("GossipKeys: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("GossipKeys error = %v, want one containing %q", err, tc.wantErr)
			}
			var lens []int
			for _, k := range got {
				lens = append(lens, len(k))
			}
			if !slices.Equal(lens, tc.wantLens) {
				t.Errorf("GossipKeys returned keys of %v bytes, want %v", lens, tc.wantLens)
			}
		})
	}
	// A Secret of that name in another namespace is not read: a new one is
	// created in ns, with a random key.
	got, err := speaker.GossipKeys(context.Background(), c, c, ns, "elsewhere")
	if err != nil || len(got) != 1 || bytes.Equal(got[0], key(32)) {
		t.Errorf("GossipKeys(elsewhere) = %x, %v; want a new random key", got, err)
	}
}

// TestGossipKeyKeepsAPIError checks that callers can still tell why the
// Secret could not be read (here: RBAC), and that no key comes with it.
func TestGossipKeyKeepsAPIError(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "portico-memberlist", errors.New("RBAC says no"))
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return forbidden
		},
	}).Build()
	key, err := speaker.GossipKeys(context.Background(), c, c, "portico-speaker", "portico-memberlist")
	if !apierrors.IsForbidden(err) || key != nil {
		t.Fatalf("GossipKey = %v, %v; want no key and a Forbidden error", key, err)
	}
}
