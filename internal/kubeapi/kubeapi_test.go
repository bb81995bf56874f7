package kubeapi

import (
	"context"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestStart starts a real API server and creates a Service in it. It is the
// canary for the integration tier: when binaries are missing it skips, unless
// PORTICO_REQUIRE_APISERVER is set (make test sets it), where it fails.
func TestStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd; skipped with -short")
	}
	if err := Available(Options{}); err != nil {
		if os.Getenv("PORTICO_REQUIRE_APISERVER") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	srv, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	cs := kubernetes.NewForConfigOrDie(srv.Config)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80}},
		},
	}
	got, err := cs.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ClusterIP == "" {
		t.Errorf("Service %s got no ClusterIP", got.Name)
	}
	// The API server must serve Portico's CRDs.
	if _, err := cs.Discovery().ServerResourcesForGroupVersion("portico.dev/v1beta1"); err != nil {
		t.Errorf("portico.dev/v1beta1 not served: %v", err)
	}
}
