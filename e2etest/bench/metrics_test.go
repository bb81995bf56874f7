package bench

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const metricsText = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="services",scope="resource",subresource="",verb="POST",version="v1"} 1000
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="services",scope="resource",subresource="status",verb="PUT",version="v1"} 990
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="services",scope="resource",subresource="status",verb="PUT",version="v1"} 10
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="services",scope="namespace",subresource="",verb="LIST",version="v1"} 7
apiserver_request_total{code="201",component="apiserver",dry_run="",group="events.k8s.io",resource="events",scope="resource",subresource="",verb="POST",version="v1"} 3 1712345678000
apiserver_request_total_extra{verb="POST"} 99
apiserver_request_duration_seconds_bucket{le="+Inf",verb="POST"} 1e+03

apiserver_request_total{code="200",group="",resource="we\"ird\\,}",subresource="",verb="PATCH",} 2
`

func TestParseText(t *testing.T) {
	got, err := parseText(strings.NewReader(metricsText), "apiserver_request_total")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("got %d samples, want 6", len(got))
	}
	last := got[5]
	want := sample{name: "apiserver_request_total", labels: map[string]string{
		"code": "200", "group": "", "resource": `we"ird\,}`, "subresource": "", "verb": "PATCH",
	}, value: 2}
	if diff := cmp.Diff(want, last, cmp.AllowUnexported(sample{})); diff != "" {
		t.Errorf("last sample (-want +got):\n%s", diff)
	}

	all, err := parseText(strings.NewReader(metricsText), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 8 || all[6].value != 1000 {
		t.Errorf("parsing every sample: got %d samples, the seventh %v", len(all), all[min(6, len(all)-1)])
	}
}

func TestParseTextErrors(t *testing.T) {
	for _, in := range []string{
		`m{a="1"`,
		`m{a=1} 3`,
		`m{a="1} 3`,
		`m{a} 3`,
		`m{a="1"} x`,
		`m 1 2 3`,
		`m`,
	} {
		t.Run(in, func(t *testing.T) {
			if got, err := parseText(strings.NewReader(in), ""); err == nil {
				t.Errorf("parseText(%q) = %v, want an error", in, got)
			}
		})
	}
}

func TestWriteCounts(t *testing.T) {
	samples, err := parseText(strings.NewReader(metricsText), "apiserver_request_total")
	if err != nil {
		t.Fatal(err)
	}
	got := writesFrom(samples)
	status := writeKey{resource: "services", subresource: "status", verb: "PUT"}
	events := writeKey{group: "events.k8s.io", resource: "events", verb: "POST"}
	want := writeCounts{
		{resource: "services", verb: "POST"}:   {n: 1000},
		status:                                 {n: 1000, failed: 10},
		events:                                 {n: 3},
		{resource: `we"ird\,}`, verb: "PATCH"}: {n: 2},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(writeCount{})); diff != "" {
		t.Errorf("writesFrom (-want +got):\n%s", diff)
	}

	base := writeCounts{status: {n: 400, failed: 10}, events: {n: 3}}
	d := got.minus(base).minus(benchWrite("services", "POST", 1000))
	wantD := writeCounts{status: {n: 600}, {resource: `we"ird\,}`, verb: "PATCH"}: {n: 2}}
	if diff := cmp.Diff(wantD, d, cmp.AllowUnexported(writeCount{})); diff != "" {
		t.Errorf("delta (-want +got):\n%s", diff)
	}
	if got := serviceStatusWrites(d); got != 600 {
		t.Errorf("serviceStatusWrites = %v, want 600", got)
	}
	if s := status.String(); s != "services/status" {
		t.Errorf("key string = %q", s)
	}
	if s := events.String(); s != "events.events.k8s.io" {
		t.Errorf("key string = %q", s)
	}
}

func TestPorticoWritesExcludesAPIServerOwn(t *testing.T) {
	d := writeCounts{
		{group: "coordination.k8s.io", resource: "leases", verb: "PUT"}:     {n: 5},
		{group: "networking.k8s.io", resource: "ipaddresses", verb: "POST"}: {n: 9},
		{resource: "services", subresource: "status", verb: "PUT"}:          {n: 7},
	}
	if got := porticoWrites(d); got != 7 {
		t.Errorf("porticoWrites = %v, want 7", got)
	}
}

// FuzzParseText checks that no input makes the parser panic. Seeds: the
// sample exposition above and a few truncated label sets.
func FuzzParseText(f *testing.F) {
	f.Add(metricsText)
	f.Add(`m{a="\`)
	f.Add(`m{a="x",b="y"`)
	f.Add("m{} 1\n# c\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		_, _ = parseText(strings.NewReader(in), "")
	})
}
