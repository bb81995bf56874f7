package speaker_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/portico-lb/portico/internal/kubeapi"
	"github.com/portico-lb/portico/speaker"
)

// TestGossipKeysRace: speakers that start together, find no Secret and all
// try to create it end up with one Secret and one key. The interceptor
// only holds every Create until all speakers have seen the Secret missing,
// so the race happens every time; the API server decides it.
func TestGossipKeysRace(t *testing.T) {
	apiConfig, apiSkipWhy := speaker.APIServerForTest()
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

// TestSetupGossip is main's path: through a manager's clients, before it
// starts. By default the keys come from the Secret, created on the way;
// with plain gossip there are none, and the speaker says why that is bad.
func TestSetupGossip(t *testing.T) {
	apiConfig, apiSkipWhy := speaker.APIServerForTest()
	kubeapi.NeedServer(t, apiConfig != nil, apiSkipWhy)
	mgr, err := ctrl.NewManager(apiConfig, ctrl.Options{Scheme: clientgoscheme.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "setupgossip-"}}
	if err := mgr.GetClient().Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.GetClient().Delete(context.Background(), ns) })

	var lines []string
	log := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{})
	primary, secondary, err := speaker.SetupGossip(t.Context(), mgr, ns.Name, speaker.DefaultGossipSecret, false, 10*time.Second, log)
	if err != nil || len(primary) != 32 || len(secondary) != 0 {
		t.Fatalf("SetupGossip = %d-byte key, %d more, %v; want a new 32-byte key", len(primary), len(secondary), err)
	}

	lines = nil
	primary, secondary, err = speaker.SetupGossip(t.Context(), mgr, ns.Name, "", true, 10*time.Second, log)
	if err != nil || primary != nil || secondary != nil {
		t.Fatalf("SetupGossip with plain gossip = %x, %x, %v; want no keys", primary, secondary, err)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "gossip is NOT encrypted or authenticated") {
		t.Errorf("plain gossip logged %q, want one warning", lines)
	}
}
