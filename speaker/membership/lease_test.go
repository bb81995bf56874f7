package membership

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLeaseRoundTrip(t *testing.T) {
	// MicroTime keeps microseconds; use a time that survives the trip.
	renewed := time.Date(2026, 5, 1, 12, 0, 0, 123000, time.UTC)
	for _, tc := range []struct {
		name            string
		peer            peer
		wantAnnotations map[string]string
	}{
		{
			name: "IPv4 with subnets",
			peer: peer{
				Name:    "node-1",
				Addr:    netip.MustParseAddrPort("192.0.2.10:7946"),
				Subnets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/64")},
			},
			wantAnnotations: map[string]string{
				annotationAddr:    "192.0.2.10:7946",
				annotationSubnets: "192.0.2.0/24,2001:db8:1::/64",
			},
		},
		{
			name:            "IPv6 address, no subnets",
			peer:            peer{Name: "node-2", Addr: netip.MustParseAddrPort("[2001:db8::2]:17946")},
			wantAnnotations: map[string]string{annotationAddr: "[2001:db8::2]:17946", annotationSubnets: ""},
		},
		{
			name:            "without memberlist: no address annotation",
			peer:            peer{Name: "node-3", Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			wantAnnotations: map[string]string{annotationSubnets: "10.0.0.0/8"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l coordinationv1.Lease
			encodeLease(&l, tc.peer, 15*time.Second, renewed)
			if l.Name != "portico-speaker-"+tc.peer.Name {
				t.Errorf("name %q", l.Name)
			}
			if diff := cmp.Diff(map[string]string{"app.kubernetes.io/name": "portico", "app.kubernetes.io/component": "speaker"}, l.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantAnnotations, l.Annotations); diff != "" {
				t.Errorf("annotations (-want +got):\n%s", diff)
			}
			if *l.Spec.HolderIdentity != tc.peer.Name || *l.Spec.LeaseDurationSeconds != 15 {
				t.Errorf("spec %+v", l.Spec)
			}
			got, err := decodeLease(&l)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.peer
			want.Renewed = renewed
			if diff := cmp.Diff(want, got, netipCmp); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeLeaseKeepsForeignData(t *testing.T) {
	acquired := metav1.NewMicroTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	holder := "node-1"
	l := coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "portico-speaker-node-1",
			Labels:      map[string]string{"team": "net"},
			Annotations: map[string]string{"note": "x", annotationAddr: "192.0.2.1:1"},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, AcquireTime: &acquired},
	}
	renewed := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	encodeLease(&l, peer{Name: "node-1"}, 1500*time.Millisecond, renewed)
	if l.Labels["team"] != "net" || l.Annotations["note"] != "x" {
		t.Errorf("foreign labels or annotations lost: %v %v", l.Labels, l.Annotations)
	}
	if _, ok := l.Annotations[annotationAddr]; ok {
		t.Error("stale memberlist address kept after memberlist stopped")
	}
	if !l.Spec.AcquireTime.Equal(&acquired) {
		t.Errorf("acquire time changed on renewal: %v", l.Spec.AcquireTime)
	}
	if *l.Spec.LeaseDurationSeconds != 2 {
		t.Errorf("duration %d s, want 1.5s rounded up to 2", *l.Spec.LeaseDurationSeconds)
	}
	if !l.Spec.RenewTime.Time.Equal(renewed) {
		t.Errorf("renew time %v", l.Spec.RenewTime)
	}
}

func TestDecodeLeaseErrors(t *testing.T) {
	holder := func(s string) *string { return &s }
	lease := func(name string, h *string, ann map[string]string) *coordinationv1.Lease {
		return &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: h},
		}
	}
	for _, tc := range []struct {
		name  string
		lease *coordinationv1.Lease
		want  string
	}{
		{name: "no holder", lease: lease("portico-speaker-a", nil, nil), want: "no holderIdentity"},
		{name: "empty holder", lease: lease("portico-speaker-a", holder(""), nil), want: "no holderIdentity"},
		{name: "name of another node", lease: lease("portico-speaker-a", holder("b"), nil), want: `held by "b"`},
		{name: "address without port", lease: lease("portico-speaker-a", holder("a"), map[string]string{annotationAddr: "192.0.2.1"}), want: "not a memberlist address"},
		{name: "port zero", lease: lease("portico-speaker-a", holder("a"), map[string]string{annotationAddr: "192.0.2.1:0"}), want: "not a memberlist address"},
		{name: "unspecified address", lease: lease("portico-speaker-a", holder("a"), map[string]string{annotationAddr: "0.0.0.0:7946"}), want: "not a memberlist address"},
		{name: "host name", lease: lease("portico-speaker-a", holder("a"), map[string]string{annotationAddr: "node-a:7946"}), want: "not a memberlist address"},
		{name: "bad subnet", lease: lease("portico-speaker-a", holder("a"), map[string]string{annotationSubnets: "10.0.0.0/8,10.1.0.0/33"}), want: annotationSubnets},
		{name: "too many subnets", lease: lease("portico-speaker-a", holder("a"), map[string]string{annotationSubnets: strings.Repeat("10.0.0.0/8,", 300)}), want: "more than 256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeLease(tc.lease)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDecodeLeaseLenient(t *testing.T) {
	h := "a"
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "portico-speaker-a", Annotations: map[string]string{
			annotationAddr:    "[::ffff:192.0.2.1]:7946",
			annotationSubnets: " 192.0.2.0/24 ,, ",
		}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &h},
	}
	got, err := decodeLease(l)
	if err != nil {
		t.Fatal(err)
	}
	want := peer{
		Name:    "a",
		Addr:    netip.MustParseAddrPort("192.0.2.1:7946"), // IPv4-mapped is unmapped
		Subnets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Renewed: time.Unix(0, 0), // never renewed: long expired
	}
	if diff := cmp.Diff(want, got, netipCmp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
