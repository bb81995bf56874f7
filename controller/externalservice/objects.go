package externalservice

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// Labels Kubernetes defines for EndpointSlices and Endpoints.
const (
	labelServiceName = discoveryv1.LabelServiceName
	labelManagedBy   = discoveryv1.LabelManagedBy
	labelSkipMirror  = discoveryv1.LabelSkipMirror
)

func adopting(es *v1beta1.ExternalService) bool {
	return es.Annotations[v1beta1.AnnotationAdopt] == "true"
}

func ownerLabels(es *v1beta1.ExternalService) map[string]string {
	return map[string]string{v1beta1.LabelExternalService: es.Name}
}

// applyObjects writes the Service, the EndpointSlices and the Endpoints.
// It returns a message instead when a Service or Endpoints of the name is
// not Portico's and may not be taken over.
//
// Adoption keeps clients connected: the hand-written Service is updated in
// place (its ClusterIP stays); the hand-written Endpoints, and the slices
// mirrored from it, keep carrying traffic until every target has its first
// verdict (a credentials problem, which stops the probes, keeps them on
// until it is fixed); then Portico's slices are written before the Endpoints is
// removed, and until then both list the targets. Written earlier, a slice
// listing a still-unprobed target as not ready beside the mirrored one
// listing it ready would leave kube-proxy to pick either (it keeps one
// entry per address, whichever slice it reads last), and removing the
// Endpoints would leave no ready target at all until the probes pass.
func (r *Reconciler) applyObjects(ctx context.Context, es *v1beta1.ExternalService, d result) (string, error) {
	if msg, err := r.applyService(ctx, es); msg != "" || err != nil {
		return msg, err
	}
	var ep corev1.Endpoints
	err := r.apiReader.Get(ctx, client.ObjectKeyFromObject(es), &ep)
	switch {
	case apierrors.IsNotFound(err):
		ep = corev1.Endpoints{}
	case err != nil:
		return "", fmt.Errorf("endpoints: %w", err)
	}
	exists := ep.Name != ""
	handWritten := exists && !metav1.IsControlledBy(&ep, es)
	if handWritten && !adopting(es) {
		return fmt.Sprintf("Endpoints %s/%s exists and was not made by Portico, so its addresses would be served beside the probed ones; annotate the ExternalService with %s=true to take it over (it is replaced once Portico's EndpointSlices are in place)", es.Namespace, es.Name, v1beta1.AnnotationAdopt), nil
	}
	if handWritten {
		if ref := metav1.GetControllerOf(&ep); ref != nil {
			return fmt.Sprintf("Endpoints %s/%s is controlled by %s %s; Portico leaves it alone", es.Namespace, es.Name, ref.Kind, ref.Name), nil
		}
	}
	if handWritten && !d.Judged {
		return "", nil // taken over once the probes have spoken
	}
	if err := r.applySlices(ctx, es, d.Slices); err != nil {
		return "", err
	}
	switch {
	case es.Spec.EndpointsObject:
		return "", r.applyEndpoints(ctx, es, d.EndpointSubsets, &ep)
	case exists:
		if err := r.client.Delete(ctx, &ep, client.Preconditions{UID: &ep.UID}); err != nil && !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("deleting Endpoints: %w", err)
		}
		r.metrics.wrote("Endpoints")
		if handWritten {
			r.recorder.Eventf(es, nil, corev1.EventTypeNormal, "Adopted", "Adopt", "removed the hand-written Endpoints %s now that Portico's EndpointSlices list the targets", es.Name)
		}
	}
	return "", nil
}

func desiredService(es *v1beta1.ExternalService) corev1.ServiceSpec {
	spec := corev1.ServiceSpec{
		Type:           corev1.ServiceTypeClusterIP,
		IPFamilyPolicy: new(corev1.IPFamilyPolicyPreferDualStack),
	}
	if es.Spec.Headless {
		spec.ClusterIP = corev1.ClusterIPNone
	}
	for _, p := range es.Spec.Ports {
		spec.Ports = append(spec.Ports, corev1.ServicePort{
			Name: p.Name, Protocol: protocolOf(p), Port: p.Port,
			TargetPort: intstr.FromInt32(servicePortTarget(p)),
		})
	}
	return spec
}

func samePorts(a, b []corev1.ServicePort) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.ServicePort) bool {
		return x.Name == y.Name && x.Protocol == y.Protocol && x.Port == y.Port && x.TargetPort == y.TargetPort
	})
}

func hasLabels(obj client.Object, want map[string]string) bool {
	for k, v := range want {
		if obj.GetLabels()[k] != v {
			return false
		}
	}
	return true
}

func addLabels(obj client.Object, want map[string]string) {
	l := maps.Clone(obj.GetLabels())
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, want)
	obj.SetLabels(l)
}

// applyService creates or updates the owned Service, or adopts a
// hand-written one when asked to.
func (r *Reconciler) applyService(ctx context.Context, es *v1beta1.ExternalService) (string, error) {
	want := desiredService(es)
	var svc corev1.Service
	err := r.client.Get(ctx, client.ObjectKeyFromObject(es), &svc)
	if apierrors.IsNotFound(err) {
		svc = corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: es.Namespace, Name: es.Name, Labels: ownerLabels(es)}, Spec: want}
		if err := controllerutil.SetControllerReference(es, &svc, r.client.Scheme()); err != nil {
			return "", err
		}
		if err := r.client.Create(ctx, &svc); err != nil {
			return "", fmt.Errorf("creating Service: %w", err)
		}
		r.metrics.wrote("Service")
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("service: %w", err)
	}
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	if !metav1.IsControlledBy(&svc, es) {
		if msg := adoptionRefused(es, &svc, headless); msg != "" {
			return msg, nil
		}
		if err := controllerutil.SetControllerReference(es, &svc, r.client.Scheme()); err != nil {
			return "", err
		}
		addLabels(&svc, ownerLabels(es))
		svc.Spec.Ports = want.Ports
		if err := r.client.Update(ctx, &svc); err != nil {
			return "", fmt.Errorf("adopting Service: %w", err)
		}
		r.metrics.wrote("Service")
		r.recorder.Eventf(es, nil, corev1.EventTypeNormal, "Adopted", "Adopt", "took over Service %s keeping its ClusterIP %s", svc.Name, svc.Spec.ClusterIP)
		return "", nil
	}
	if headless != es.Spec.Headless {
		// The ClusterIP cannot be changed in place: replace the Service.
		if err := r.client.Delete(ctx, &svc, client.Preconditions{UID: &svc.UID}); err != nil && !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("replacing Service for spec.headless: %w", err)
		}
		r.metrics.wrote("Service")
		r.recorder.Eventf(es, nil, corev1.EventTypeNormal, "ServiceReplaced", "Reconcile", "spec.headless changed to %t: the Service was recreated", es.Spec.Headless)
		return r.applyService(ctx, es)
	}
	if samePorts(svc.Spec.Ports, want.Ports) && hasLabels(&svc, ownerLabels(es)) {
		return "", nil
	}
	svc.Spec.Ports = want.Ports
	addLabels(&svc, ownerLabels(es))
	if err := r.client.Update(ctx, &svc); err != nil {
		return "", fmt.Errorf("updating Service: %w", err)
	}
	r.metrics.wrote("Service")
	return "", nil
}

// adoptionRefused says why svc, which Portico does not own, is left alone.
func adoptionRefused(es *v1beta1.ExternalService, svc *corev1.Service, headless bool) string {
	name := es.Namespace + "/" + es.Name
	switch {
	case metav1.GetControllerOf(svc) != nil:
		ref := metav1.GetControllerOf(svc)
		return fmt.Sprintf("Service %s is controlled by %s %s; Portico leaves it alone", name, ref.Kind, ref.Name)
	case !adopting(es):
		return fmt.Sprintf("Service %s exists and was not made by Portico; annotate the ExternalService with %s=true to take it over (its ClusterIP is kept)", name, v1beta1.AnnotationAdopt)
	case len(svc.Spec.Selector) > 0:
		return fmt.Sprintf("Service %s has a selector, so Kubernetes manages its endpoints; remove spec.selector before adopting it", name)
	case svc.Spec.Type != corev1.ServiceTypeClusterIP && svc.Spec.Type != "":
		return fmt.Sprintf("Service %s is of type %s; only a ClusterIP Service can be adopted", name, svc.Spec.Type)
	case headless != es.Spec.Headless:
		return fmt.Sprintf("Service %s has clusterIP %q but spec.headless is %t; make them agree to adopt it", name, svc.Spec.ClusterIP, es.Spec.Headless)
	}
	return ""
}

func sliceLabels(es *v1beta1.ExternalService) map[string]string {
	return map[string]string{
		labelServiceName:             es.Name,
		labelManagedBy:               v1beta1.ExternalServiceManagedBy,
		v1beta1.LabelExternalService: es.Name,
	}
}

// applySlices makes the owned EndpointSlices exactly want: new and changed
// ones first, extra ones last, so no target disappears in between.
func (r *Reconciler) applySlices(ctx context.Context, es *v1beta1.ExternalService, want []sliceContent) error {
	var list discoveryv1.EndpointSliceList
	if err := r.client.List(ctx, &list, client.InNamespace(es.Namespace), client.MatchingLabels{
		labelServiceName: es.Name, labelManagedBy: v1beta1.ExternalServiceManagedBy,
	}); err != nil {
		return fmt.Errorf("listing EndpointSlices: %w", err)
	}
	have := map[string]*discoveryv1.EndpointSlice{}
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], es) {
			have[list.Items[i].Name] = &list.Items[i]
		}
	}
	labels := sliceLabels(es)
	for _, w := range want {
		s, ok := have[w.Name]
		delete(have, w.Name)
		if ok && s.AddressType == w.Family && hasLabels(s, labels) &&
			equality.Semantic.DeepEqual(s.Endpoints, w.Endpoints) && equality.Semantic.DeepEqual(s.Ports, w.Ports) {
			continue
		}
		if ok && s.AddressType == w.Family {
			s.Endpoints, s.Ports = w.Endpoints, w.Ports
			addLabels(s, labels)
			if err := r.client.Update(ctx, s); err != nil {
				return fmt.Errorf("updating EndpointSlice %s: %w", w.Name, err)
			}
			r.metrics.wrote("EndpointSlice")
			continue
		}
		s = &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: es.Namespace, Name: w.Name, Labels: labels},
			AddressType: w.Family, Endpoints: w.Endpoints, Ports: w.Ports,
		}
		if err := controllerutil.SetControllerReference(es, s, r.client.Scheme()); err != nil {
			return err
		}
		if err := r.client.Create(ctx, s); err != nil {
			return fmt.Errorf("creating EndpointSlice %s: %w", w.Name, err)
		}
		r.metrics.wrote("EndpointSlice")
	}
	for _, s := range have {
		if err := r.client.Delete(ctx, s, client.Preconditions{UID: &s.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting EndpointSlice %s: %w", s.Name, err)
		}
		r.metrics.wrote("EndpointSlice")
	}
	return nil
}

// applyEndpoints keeps the core/v1 Endpoints in step; have is the stored
// one (empty when there is none), taken over when adopting.
func (r *Reconciler) applyEndpoints(ctx context.Context, es *v1beta1.ExternalService, subsets []corev1.EndpointSubset, have *corev1.Endpoints) error {
	labels := ownerLabels(es)
	labels[labelSkipMirror] = "true"
	if len(subsets) == 0 {
		subsets = nil
	}
	if have.Name == "" {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: es.Namespace, Name: es.Name, Labels: labels}, Subsets: subsets}
		if err := controllerutil.SetControllerReference(es, ep, r.client.Scheme()); err != nil {
			return err
		}
		if err := r.client.Create(ctx, ep); err != nil {
			return fmt.Errorf("creating Endpoints: %w", err)
		}
		r.metrics.wrote("Endpoints")
		return nil
	}
	owned := metav1.IsControlledBy(have, es)
	if owned && hasLabels(have, labels) && equality.Semantic.DeepEqual(have.Subsets, subsets) {
		return nil
	}
	if !owned {
		if err := controllerutil.SetControllerReference(es, have, r.client.Scheme()); err != nil {
			return err
		}
	}
	addLabels(have, labels)
	have.Subsets = subsets
	if err := r.client.Update(ctx, have); err != nil {
		return fmt.Errorf("updating Endpoints: %w", err)
	}
	r.metrics.wrote("Endpoints")
	return nil
}
