package speaker

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// Only events of Services the election reads wake the speaker; every
// change into or out of that set does.
func TestElectedServices(t *testing.T) {
	svc := func(typ corev1.ServiceType, class *string, ingress ...string) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
			Spec: corev1.ServiceSpec{Type: typ, LoadBalancerClass: class}}
		for _, ip := range ingress {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
		return s
	}
	lb, portico, other := corev1.ServiceTypeLoadBalancer, ptr.To(v1beta1.LoadBalancerClass), ptr.To("example.com/other")
	addressed := svc(lb, nil, "192.0.2.1")
	waiting := svc(lb, nil)
	for _, tc := range []struct {
		name         string
		serveNoClass bool
		old, new     *corev1.Service // old nil: a create; new nil: a delete
		want         bool
	}{
		{"create, no address yet", true, nil, waiting, false},
		{"create with an address (a restart's list)", true, nil, addressed, true},
		{"create of a ClusterIP Service", true, nil, svc(corev1.ServiceTypeClusterIP, nil), false},
		{"create of another class, addressed by it", true, nil, svc(lb, other, "192.0.2.9"), false},
		{"create of Portico's class", false, nil, svc(lb, portico, "192.0.2.1"), true},
		{"no class while only Portico's class is served", false, nil, addressed, false},
		{"the controller's address", true, waiting, addressed, true},
		{"an addressed Service's condition", true, addressed, addressed.DeepCopy(), true},
		{"address removed", true, addressed, waiting, true},
		{"turned into ClusterIP", true, addressed, svc(corev1.ServiceTypeClusterIP, nil), true},
		{"a waiting Service edited", true, waiting, waiting.DeepCopy(), false},
		{"delete of an addressed Service", true, addressed, nil, true},
		{"delete of a waiting Service", true, waiting, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := electedServices(tc.serveNoClass)
			var got bool
			switch {
			case tc.old == nil:
				got = p.Create(event.CreateEvent{Object: tc.new})
			case tc.new == nil:
				got = p.Delete(event.DeleteEvent{Object: tc.old})
			default:
				got = p.Update(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.new})
			}
			if got != tc.want {
				t.Errorf("passes = %v, want %v", got, tc.want)
			}
		})
	}
}
