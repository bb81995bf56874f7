package configsync

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
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
	reader    client.Reader
	ipam      *ipam.IPAM
	namespace string

	// mu makes builds and installs happen one at a time, so an older
	// snapshot's model never replaces a newer one's.
	mu sync.Mutex
}

// NewSyncer returns a Syncer reading Portico's objects, and the Secrets in
// namespace, from reader.
func NewSyncer(reader client.Reader, m *ipam.IPAM, namespace string) *Syncer {
	return &Syncer{reader: reader, ipam: m, namespace: namespace}
}

// Load builds the model from the current objects and installs it in ipam.
// The model depends on nothing but the objects: what an invalid edit keeps
// comes from their status.lastValid, which the controller records.
func (s *Syncer) Load(ctx context.Context) error {
	_, _, _, err := s.load(ctx)
	return err
}

// load is Load, also returning the snapshot, the model and the problems, so
// the configuration controller records its decisions on the objects the
// model was built from without listing them again.
func (s *Syncer) load(ctx context.Context) (config.ClusterResources, *config.Config, []config.Problem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.snapshot(ctx)
	if err != nil {
		return res, nil, nil, err
	}
	cfg, problems := config.For(res)
	s.ipam.SetConfig(cfg, problems)
	return res, cfg, problems, nil
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
		if err := s.reader.List(ctx, l.list, l.opts...); err != nil {
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
