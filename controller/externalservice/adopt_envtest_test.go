package externalservice

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// TestAdoptionWaitsForVerdicts: while the probes have not judged a target,
// the hand-written Endpoints stays and Portico writes no slice beside the
// one mirrored from it; after the first verdict Portico's slice lists the
// target as ready and the Endpoints goes. (Removed at once, it left the
// Service without a ready endpoint until the probes passed: the lab's
// adoption test counted the failed connects.)
func TestAdoptionWaitsForVerdicts(t *testing.T) {
	needServer(t)
	ns := newNamespace(t)
	ctx := context.Background()
	live := listen(t, hostAddr(t, false))
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-db"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 3306}}},
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-db"},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: live.addr.Addr().String()}},
			Ports:     []corev1.EndpointPort{{Port: int32(live.addr.Port())}},
		}},
	}
	for _, obj := range []client.Object{svc, ep} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	check := fastCheck()
	check.HealthyThreshold = 3 // Pending for two intervals
	es := &v1beta1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-db", Annotations: map[string]string{v1beta1.AnnotationAdopt: "true"}},
		Spec: v1beta1.ExternalServiceSpec{
			Ports:       []v1beta1.ExternalServicePort{{Port: 3306, TargetPort: int32(live.addr.Port())}},
			Endpoints:   []v1beta1.ExternalEndpoint{{Address: live.addr.Addr().String()}},
			HealthCheck: check,
		},
	}
	create(t, es)
	eventually(t, 5*time.Second, func() string {
		st := getES(t, ns, es.Name).Status
		if len(st.Endpoints) != 1 || len(st.Endpoints[0].Targets) != 1 || st.Endpoints[0].Targets[0].Health != v1beta1.TargetPending {
			return fmt.Sprintf("status %+v, want the target Pending", st.Endpoints)
		}
		return ""
	})
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(ep), &corev1.Endpoints{}); err != nil {
		t.Errorf("hand-written Endpoints while the target is Pending: %v, want it kept", err)
	}
	if got, _ := slicesOf(t, ns, es.Name); len(got) != 0 {
		t.Errorf("slices while the target is Pending: %v, want none beside the mirrored one", got)
	}
	eventually(t, 10*time.Second, func() string {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(ep), &corev1.Endpoints{}); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("hand-written Endpoints still there (%v)", err)
		}
		return ""
	})
	if got, _ := slicesOf(t, ns, es.Name); want(got...) != live.addr.String()+"=true" {
		t.Errorf("slices once the Endpoints went: %v, want the target ready", got)
	}
}
