package configsync

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/controller/ipam"
)

// +kubebuilder:rbac:groups=portico.dev,resources=ipaddresspools;l2advertisements;bgppeers;bgpadvertisements,verbs=get;list;watch
// +kubebuilder:rbac:groups=portico.dev,resources=ipaddresspools/status;l2advertisements/status;bgppeers/status;bgpadvertisements/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=portico-system,resources=secrets,verbs=get;list;watch

// Syncer loads the configuration from a cache into ipam.
type Syncer struct {
	client    client.Client
	ipam      *ipam.IPAM
	namespace string

	// mu makes builds and installs happen one at a time, so an older
	// snapshot's model never replaces a newer one's.
	mu sync.Mutex
	// written covers the cache's lag behind this process's own writes of
	// status.lastValid, by object UID: until the cache shows the object
	// past the resourceVersion it was written over, the written value is
	// used. It only ever holds what the API server already holds, so it
	// adds nothing a restarted process would not read.
	written map[types.UID]written
}

type written struct {
	staleRV   string
	lastValid any // the *v1beta1.…Version written, or a nil one
}

// NewSyncer returns a Syncer reading Portico's objects, and the Secrets in
// namespace, from c (a cache-backed client), and writing status.lastValid
// with it.
func NewSyncer(c client.Client, m *ipam.IPAM, namespace string) *Syncer {
	return &Syncer{client: c, ipam: m, namespace: namespace, written: map[types.UID]written{}}
}

// Load builds the model from the current objects and installs it in ipam.
// The model depends on nothing but the objects: what an invalid edit keeps
// comes from their status.lastValid, which the controller records.
func (s *Syncer) Load(ctx context.Context) error {
	_, _, _, err := s.load(ctx)
	return err
}

// load is Load, also returning the snapshot (with the statuses as written
// now), the model and the problems, so the configuration controller reports
// on the objects the model was built from without listing them again.
//
// Decide, record, act: the decisions are in every object's status before
// the model is installed, so nothing is handed out on a decision the API
// server does not hold. A controller that stops in between loses nothing
// either: the next one builds the same model from the same objects.
func (s *Syncer) load(ctx context.Context) (config.ClusterResources, *config.Config, []config.Problem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.snapshot(ctx)
	if err != nil {
		return res, nil, nil, err
	}
	s.coverCacheLag(&res)
	cfg, problems := config.For(res)
	if err := s.record(ctx, &res, cfg.Decisions()); err != nil {
		return res, nil, nil, err
	}
	s.ipam.SetConfig(cfg, problems)
	return res, cfg, problems, nil
}

// coverCacheLag puts this process's own recent writes of status.lastValid
// into a snapshot the cache has not caught up with, and forgets those it
// has.
func (s *Syncer) coverCacheLag(res *config.ClusterResources) {
	seen := map[types.UID]bool{}
	cover := func(o client.Object, set func(any)) {
		w, ok := s.written[o.GetUID()]
		if !ok {
			return
		}
		if o.GetResourceVersion() != w.staleRV {
			delete(s.written, o.GetUID())
			return
		}
		seen[o.GetUID()] = true
		set(w.lastValid)
	}
	for i := range res.Pools {
		p := &res.Pools[i]
		cover(p, func(v any) { p.Status.LastValid = v.(*v1beta1.IPAddressPoolVersion) })
	}
	for i := range res.L2Advertisements {
		a := &res.L2Advertisements[i]
		cover(a, func(v any) { a.Status.LastValid = v.(*v1beta1.L2AdvertisementVersion) })
	}
	for i := range res.BGPAdvertisements {
		a := &res.BGPAdvertisements[i]
		cover(a, func(v any) { a.Status.LastValid = v.(*v1beta1.BGPAdvertisementVersion) })
	}
	for i := range res.BGPPeers {
		p := &res.BGPPeers[i]
		cover(p, func(v any) { p.Status.LastValid = v.(*v1beta1.BGPPeerVersion) })
	}
	for uid := range s.written {
		if !seen[uid] {
			delete(s.written, uid) // deleted objects
		}
	}
}

// record writes the decisions into the status.lastValid of every object of
// res whose status differs, and updates res with what the API server
// returned.
func (s *Syncer) record(ctx context.Context, res *config.ClusterResources, d config.Decisions) error {
	for i := range res.Pools {
		p := &res.Pools[i]
		if err := recordOne(ctx, s, "IPAddressPool", p, &p.Status.LastValid, d.Pools[p.Name]); err != nil {
			return err
		}
	}
	for i := range res.L2Advertisements {
		a := &res.L2Advertisements[i]
		if err := recordOne(ctx, s, "L2Advertisement", a, &a.Status.LastValid, d.L2Advertisements[a.Name]); err != nil {
			return err
		}
	}
	for i := range res.BGPAdvertisements {
		a := &res.BGPAdvertisements[i]
		if err := recordOne(ctx, s, "BGPAdvertisement", a, &a.Status.LastValid, d.BGPAdvertisements[a.Name]); err != nil {
			return err
		}
	}
	for i := range res.BGPPeers {
		p := &res.BGPPeers[i]
		if err := recordOne(ctx, s, "BGPPeer", p, &p.Status.LastValid, d.BGPPeers[p.Name]); err != nil {
			return err
		}
	}
	return nil
}

// recordOne patches obj's status.lastValid (*field) to decided. A merge
// patch needs no resourceVersion, so a cache that lags does not make it
// conflict, and it touches no other status field.
func recordOne[V any](ctx context.Context, s *Syncer, kind string, obj client.Object, field **V, decided *V) error {
	if equality.Semantic.DeepEqual(*field, decided) {
		return nil
	}
	staleRV := obj.GetResourceVersion()
	before := obj.DeepCopyObject().(client.Object)
	*field = decided
	if err := s.client.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("configsync: %s %q: recording the version in use: %w", kind, obj.GetName(), err)
	}
	// The patch returned the object as stored; keep what was decided in
	// case it came back without it.
	*field = decided
	s.written[obj.GetUID()] = written{staleRV: staleRV, lastValid: decided}
	return nil
}

func (s *Syncer) snapshot(ctx context.Context) (config.ClusterResources, error) {
	var (
		res     config.ClusterResources
		pools   v1beta1.IPAddressPoolList
		l2      v1beta1.L2AdvertisementList
		peers   v1beta1.BGPPeerList
		bgpAdvs v1beta1.BGPAdvertisementList
		secrets corev1.SecretList
		nodes   corev1.NodeList
	)
	for _, l := range []struct {
		what string
		list client.ObjectList
		opts []client.ListOption
	}{
		{"ipaddresspools", &pools, nil},
		{"l2advertisements", &l2, nil},
		{"bgppeers", &peers, nil},
		{"bgpadvertisements", &bgpAdvs, nil},
		{"secrets", &secrets, []client.ListOption{client.InNamespace(s.namespace)}},
		{"nodes", &nodes, nil},
	} {
		if err := s.client.List(ctx, l.list, l.opts...); err != nil {
			return res, fmt.Errorf("configsync: listing %s: %w", l.what, err)
		}
	}
	res.Pools = pools.Items
	res.L2Advertisements = l2.Items
	res.BGPPeers = peers.Items
	res.BGPAdvertisements = bgpAdvs.Items
	res.Secrets = secrets.Items
	res.Nodes = nodes.Items
	res.InstallNamespace = s.namespace
	return res, nil
}
