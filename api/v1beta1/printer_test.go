package v1beta1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/internal/kubeapi"
)

// getTable fetches one object the way kubectl get does: as a server-side
// Table built from the CRD's printer columns.
func getTable(t *testing.T, resource, name string) map[string]any {
	t.Helper()
	hc, err := rest.HTTPClientFor(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("%s/apis/%s/%s/%s", strings.TrimSuffix(restConfig.Host, "/"), v1beta1.GroupVersion.Group, v1beta1.GroupVersion.Version, resource)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url+"/"+name+"?includeObject=None", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %s", url, resp.Status, err, body)
	}
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("%d rows, want 1", len(table.Rows))
	}
	row := map[string]any{}
	for i, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			row[c.Name] = table.Rows[0].Cells[i]
		} else {
			row["wide:"+c.Name] = table.Rows[0].Cells[i]
		}
	}
	delete(row, "Age") // depends on the clock
	return row
}

// TestPrinterColumns checks what `kubectl get` shows for each kind, so a
// typo in a column's JSONPath cannot hide a field.
func TestPrinterColumns(t *testing.T) {
	kubeapi.NeedServer(t, k8s != nil, noServer)
	ctx := context.Background()
	create := func(t *testing.T, obj client.Object) {
		t.Helper()
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.Delete(ctx, obj) })
	}

	t.Run("IPAddressPool", func(t *testing.T) {
		p := pool("192.0.2.0/24", "2001:db8::/120")
		p.Spec.AllocateTo = &v1beta1.ServiceAllocation{Priority: ptr.To[int32](10)}
		create(t, p)
		p.Status = v1beta1.IPAddressPoolStatus{AssignedIPv4: 2, AssignedIPv6: 1, Assigned: 3, AvailableIPv4: 254, AvailableIPv6: 255}
		meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: v1beta1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1beta1.ReasonValid, Message: "in use"})
		meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: v1beta1.ConditionConflicting, Status: metav1.ConditionFalse, Reason: v1beta1.ReasonNoOverlap, Message: "no overlap"})
		if err := k8s.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"Name":              p.Name,
			"Addresses":         `["192.0.2.0/24","2001:db8::/120"]`,
			"Assigned":          float64(3),
			"Available-v4":      float64(254),
			"wide:Available-v6": float64(255),
			"Auto-Assign":       true,
			"Disabled":          false,
			"wide:Priority":     float64(10),
			"Conflicting":       "False",
			"wide:Ready":        "True",
		}
		if diff := cmp.Diff(want, getTable(t, "ipaddresspools", p.Name)); diff != "" {
			t.Errorf("columns (-want +got):\n%s", diff)
		}
	})

	t.Run("L2Advertisement", func(t *testing.T) {
		a := l2(v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"lan"}, Interfaces: []string{"eth0"}})
		create(t, a)
		want := map[string]any{
			"Name":                a.Name,
			"Pools":               `["lan"]`,
			"wide:Pool-Selectors": nil,
			"Node-Selectors":      nil,
			"Interfaces":          `["eth0"]`,
			"Ready":               nil,
		}
		if diff := cmp.Diff(want, getTable(t, "l2advertisements", a.Name)); diff != "" {
			t.Errorf("columns (-want +got):\n%s", diff)
		}
	})

	t.Run("BGPPeer", func(t *testing.T) {
		p := peer(func(s *v1beta1.BGPPeerSpec) { s.HoldTime = dur(0) })
		create(t, p)
		want := map[string]any{
			"Name":           p.Name,
			"Address":        "192.0.2.1",
			"wide:Port":      float64(179),
			"Peer-ASN":       float64(64513),
			"My-ASN":         float64(64512),
			"wide:Hold-Time": "0s",
			"Ready":          nil,
		}
		if diff := cmp.Diff(want, getTable(t, "bgppeers", p.Name)); diff != "" {
			t.Errorf("columns (-want +got):\n%s", diff)
		}
	})

	t.Run("BGPAdvertisement", func(t *testing.T) {
		a := bgpAdv(v1beta1.BGPAdvertisementSpec{Peers: []string{"tor-1"}, Communities: []string{"no-export"}, LocalPref: ptr.To[int64](100)})
		create(t, a)
		want := map[string]any{
			"Name":                a.Name,
			"Pools":               nil,
			"wide:Pool-Selectors": nil,
			"Peers":               `["tor-1"]`,
			"Communities":         `["no-export"]`,
			"wide:Aggregation-v4": float64(32),
			"wide:Aggregation-v6": float64(128),
			"wide:Local-Pref":     float64(100),
			"Ready":               nil,
		}
		if diff := cmp.Diff(want, getTable(t, "bgpadvertisements", a.Name)); diff != "" {
			t.Errorf("columns (-want +got):\n%s", diff)
		}
	})

	t.Run("BGPNodeStatus", func(t *testing.T) {
		st := &v1beta1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "node-1"}, Spec: v1beta1.BGPNodeStatusSpec{Node: "node-1"}}
		create(t, st)
		st.Status = v1beta1.BGPNodeStatusStatus{Peers: 2, Established: 1, NotEstablished: []string{"tor-2"}, Sessions: []v1beta1.BGPNodeSession{
			{Peer: "tor-1", State: "Established", PrefixesSent: 3, Routes: 3},
			{Peer: "tor-2", State: "Idle", Routes: 3, LastError: "the peer's AS number does not match peerASN 65099"},
		}}
		if err := k8s.Status().Update(ctx, st); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"Name":             "node-1",
			"Node":             "node-1",
			"Peers":            float64(2),
			"Established":      float64(1),
			"Not-Established":  `["tor-2"]`,
			"wide:First-Error": "the peer's AS number does not match peerASN 65099",
		}
		if diff := cmp.Diff(want, getTable(t, "namespaces/default/bgpnodestatuses", st.Name)); diff != "" {
			t.Errorf("columns (-want +got):\n%s", diff)
		}
	})
}
