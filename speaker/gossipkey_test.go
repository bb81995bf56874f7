package speaker_test

import (
	"bytes"
	"context"
	"errors"
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
	}
	// The same names in another namespace must not be read.
	other := secret("elsewhere", map[string][]byte{speaker.GossipKeyField: key(32)})
	other.Namespace = "default"
	c := fake.NewClientBuilder().WithObjects(append(objs, other)...).Build()

	for _, tc := range []struct {
		name    string
		secret  string
		wantLen int
		wantErr string // substring; "" means no error
	}{
		{name: "no secret named: no encryption", secret: ""},
		{name: "AES-128", secret: "aes128", wantLen: 16},
		{name: "AES-192", secret: "aes192", wantLen: 24},
		{name: "AES-256", secret: "aes256", wantLen: 32},
		{name: "wrong length", secret: "base64", wantErr: `memberlist Secret portico-speaker/base64: key "secretkey" has 44 bytes; want 16, 24 or 32`},
		{name: "empty key", secret: "empty", wantErr: `key "secretkey" has 0 bytes`},
		{name: "key missing", secret: "otherkey", wantErr: `memberlist Secret portico-speaker/otherkey has no "secretkey" key`},
		{name: "secret missing", secret: "nope", wantErr: `reading memberlist Secret portico-speaker/nope: secrets "nope" not found`},
		{name: "secret in another namespace", secret: "elsewhere", wantErr: "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := speaker.GossipKey(context.Background(), c, ns, tc.secret)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("GossipKey: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("GossipKey error = %v, want one containing %q", err, tc.wantErr)
			}
			if len(got) != tc.wantLen {
				t.Errorf("GossipKey returned %d bytes, want %d", len(got), tc.wantLen)
			}
		})
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
	key, err := speaker.GossipKey(context.Background(), c, "portico-speaker", "portico-memberlist")
	if !apierrors.IsForbidden(err) || key != nil {
		t.Fatalf("GossipKey = %v, %v; want no key and a Forbidden error", key, err)
	}
}
