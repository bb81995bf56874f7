package membership

import (
	"context"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-lb/portico/internal/kubeapi"
)

// The Lease tier runs against one real kube-apiserver + etcd for the
// package, started here. Everything else (unit and loopback cluster tests)
// runs without it, so TestMain always runs the tests and only the Lease
// tests skip when there is no API server.
var (
	apiClient  client.Client // nil without an API server
	apiSkipWhy string
)

func TestMain(m *testing.M) {
	os.Exit(kubeapi.Main(m, kubeapi.Options{}, &apiSkipWhy, func(srv *kubeapi.Server) (err error) {
		apiClient, err = client.New(srv.Config, client.Options{Scheme: clientgoscheme.Scheme})
		return err
	}))
}

// needAPIServer skips the test without an API server and returns a
// namespace of its own, deleted at the end.
func needAPIServer(t *testing.T) (client.Client, string) {
	t.Helper()
	if apiClient == nil {
		t.Skip("needs kube-apiserver: " + apiSkipWhy)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "membership-"}}
	if err := apiClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = apiClient.Delete(context.Background(), ns) })
	return apiClient, ns.Name
}

// createNodes creates a Node for each name (speakers count only as Nodes;
// see admission.go), deleted at the end of the test.
func createNodes(t *testing.T, c client.Client, names ...string) {
	t.Helper()
	for _, name := range names {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := c.Create(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), n) })
	}
}
