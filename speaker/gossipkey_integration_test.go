package speaker_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/portico-lb/portico/internal/kubeapi"
	"github.com/portico-lb/portico/speaker"
)

// TestGossipKeysRace: speakers that start together, find no Secret and all
// try to create it end up with one Secret and one key. The interceptor
// only holds every Create until all speakers have seen the Secret missing,
// so the race happens every time; the API server decides it.
func TestGossipKeysRace(t *testing.T) {
	kubeapi.NeedServer(t, apiConfig != nil, apiSkipWhy)
	real, err := client.NewWithWatch(apiConfig, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gossipkey-"}}
	if err := real.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = real.Delete(context.Background(), ns) })

	const speakers = 5
	var missing sync.WaitGroup
	missing.Add(speakers)
	var created atomic.Int32
	c := interceptor.NewClient(real, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			missing.Done()
			missing.Wait()
			err := c.Create(ctx, obj, opts...)
			if err == nil {
				created.Add(1)
			}
			return err
		},
	})
	keys := make([][][]byte, speakers)
	errs := make([]error, speakers)
	var wg sync.WaitGroup
	for i := range speakers {
		wg.Go(func() { keys[i], errs[i] = speaker.GossipKeys(t.Context(), c, c, ns.Name, speaker.DefaultGossipSecret) })
	}
	wg.Wait()
	if n := created.Load(); n != 1 {
		t.Errorf("%d speakers created the Secret, want 1", n)
	}
	var s corev1.Secret
	if err := real.Get(t.Context(), client.ObjectKey{Namespace: ns.Name, Name: speaker.DefaultGossipSecret}, &s); err != nil {
		t.Fatalf("the Secret was not created: %v", err)
	}
	stored := s.Data[speaker.GossipKeyField]
	if len(stored) != 32 {
		t.Fatalf("the created key has %d bytes, want 32", len(stored))
	}
	for i := range speakers {
		if errs[i] != nil {
			t.Errorf("speaker %d: %v", i, errs[i])
		} else if len(keys[i]) != 1 || !bytes.Equal(keys[i][0], stored) {
			t.Errorf("speaker %d uses another key than the Secret holds", i)
		}
	}

	// The next start reads the key and creates nothing.
	again, err := speaker.GossipKeys(t.Context(), c, c, ns.Name, speaker.DefaultGossipSecret)
	if err != nil || len(again) != 1 || !bytes.Equal(again[0], stored) || created.Load() != 1 {
		t.Errorf("a later start got %x, %v (creates %d), want the stored key", again, err, created.Load())
	}
}
