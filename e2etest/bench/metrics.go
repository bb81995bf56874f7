package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
)

// sample is one line of the Prometheus text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseText reads the Prometheus text format and returns the samples named
// want (every sample when want is empty). Comments and blank lines are skipped.
func parseText(r io.Reader, want string) ([]sample, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	var out []sample
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if want != "" && !strings.HasPrefix(line, want) {
			continue
		}
		s, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("metrics: line %d: %w", n, err)
		}
		if want == "" || s.name == want {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return out, nil
}

// parseLine parses `name{k="v",...} value [timestamp]`.
func parseLine(line string) (sample, error) {
	end := strings.IndexAny(line, "{ \t")
	if end <= 0 {
		return sample{}, fmt.Errorf("no value in %q", line)
	}
	s := sample{name: line[:end], labels: map[string]string{}}
	rest := line[end:]
	if rest[0] == '{' {
		var err error
		if rest, err = parseLabels(rest[1:], s.labels); err != nil {
			return sample{}, fmt.Errorf("metric %s: %w", s.name, err)
		}
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return sample{}, fmt.Errorf("metric %s: want a value and an optional timestamp, got %q", s.name, rest)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return sample{}, fmt.Errorf("metric %s: value: %w", s.name, err)
	}
	s.value = v
	return s, nil
}

// parseLabels reads `k="v",k2="v2"}` into into and returns what follows '}'.
func parseLabels(in string, into map[string]string) (string, error) {
	for {
		in = strings.TrimLeft(in, " \t")
		if in == "" {
			return "", fmt.Errorf("unterminated label set")
		}
		if in[0] == '}' {
			return in[1:], nil
		}
		eq := strings.IndexByte(in, '=')
		if eq <= 0 {
			return "", fmt.Errorf("label without '=' in %q", in)
		}
		key := strings.TrimSpace(in[:eq])
		in = strings.TrimLeft(in[eq+1:], " \t")
		if in == "" || in[0] != '"' {
			return "", fmt.Errorf("label %s: value not quoted", key)
		}
		var val strings.Builder
		i := 1
		for ; i < len(in) && in[i] != '"'; i++ {
			c := in[i]
			if c == '\\' && i+1 < len(in) {
				i++
				switch in[i] {
				case 'n':
					c = '\n'
				default: // \\ and \"
					c = in[i]
				}
			}
			val.WriteByte(c)
		}
		if i >= len(in) {
			return "", fmt.Errorf("label %s: unterminated value", key)
		}
		into[key] = val.String()
		in = strings.TrimLeft(in[i+1:], " \t")
		if strings.HasPrefix(in, ",") {
			in = in[1:]
		}
	}
}

// writeVerbs are the apiserver_request_total verbs that change state.
var writeVerbs = map[string]bool{
	"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true,
}

// writeKey identifies one kind of write the API server served.
type writeKey struct {
	group, resource, subresource, verb string
}

func (k writeKey) String() string {
	s := k.resource
	if k.group != "" {
		s += "." + k.group
	}
	if k.subresource != "" {
		s += "/" + k.subresource
	}
	return s
}

// writeCount is how many writes of one kind were served, and how many of
// them failed (HTTP code 400 or above, such as 409 Conflict).
type writeCount struct {
	n, failed float64
}

// writeCounts is a snapshot (or a delta) of the API server's write counters.
type writeCounts map[writeKey]writeCount

// writesFrom sums apiserver_request_total samples by writeKey, keeping
// only write verbs.
func writesFrom(samples []sample) writeCounts {
	out := writeCounts{}
	for _, s := range samples {
		if !writeVerbs[s.labels["verb"]] {
			continue
		}
		k := writeKey{s.labels["group"], s.labels["resource"], s.labels["subresource"], s.labels["verb"]}
		c := out[k]
		c.n += s.value
		if code, err := strconv.Atoi(s.labels["code"]); err == nil && code >= 400 {
			c.failed += s.value
		}
		out[k] = c
	}
	return out
}

// minus returns c − base, dropping kinds whose count did not change.
func (c writeCounts) minus(base writeCounts) writeCounts {
	out := writeCounts{}
	for k, v := range c {
		d := writeCount{v.n - base[k].n, v.failed - base[k].failed}
		if d.n != 0 || d.failed != 0 {
			out[k] = d
		}
	}
	for k, v := range base {
		if _, ok := c[k]; !ok {
			out[k] = writeCount{-v.n, -v.failed}
		}
	}
	return out
}

// sum is the number of writes whose key matches keep (all when keep is nil).
func (c writeCounts) sum(keep func(writeKey) bool) float64 {
	var t float64
	for k, v := range c {
		if keep == nil || keep(k) {
			t += v.n
		}
	}
	return t
}

// sortedKeys orders kinds by count, most first, then by name.
func (c writeCounts) sortedKeys() []writeKey {
	keys := make([]writeKey, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := c[keys[i]].n, c[keys[j]].n
		if a != b {
			return a > b
		}
		if keys[i].String() != keys[j].String() {
			return keys[i].String() < keys[j].String()
		}
		return keys[i].verb < keys[j].verb
	})
	return keys
}

// apiServerOwn names the writes the API server makes itself, or "" for
// others: its lease heartbeats (Portico runs with --leader-elect=false, so it
// writes no Leases) and the IPAddress objects that back each Service's
// ClusterIP, created and deleted with the bench's Services.
func apiServerOwn(k writeKey) string {
	switch {
	case k.group == "coordination.k8s.io" && k.resource == "leases":
		return "API server heartbeat"
	case k.group == "networking.k8s.io" && k.resource == "ipaddresses":
		return "API server: ClusterIPs of the bench's Services"
	}
	return ""
}

// scrapeWrites reads the API server's /metrics and returns its write counters.
func scrapeWrites(ctx context.Context, rc rest.Interface) (writeCounts, error) {
	body, err := rc.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics: scraping /metrics: %w", err)
	}
	samples, err := parseText(bytes.NewReader(body), "apiserver_request_total")
	if err != nil {
		return nil, err
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("metrics: /metrics has no apiserver_request_total")
	}
	return writesFrom(samples), nil
}
