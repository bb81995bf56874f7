package bench

import (
	"fmt"
	"io"
	"os"
	"time"
)

// report prints aligned "label  value" lines under section headings.
type report struct {
	w io.Writer
}

func (r report) section(title string) {
	fmt.Fprintf(r.w, "\n%s\n", title)
}

func (r report) line(label, format string, args ...any) {
	fmt.Fprintf(r.w, "  %-48s %s\n", label, fmt.Sprintf(format, args...))
}

func (r report) note(format string, args ...any) {
	fmt.Fprintf(r.w, "  "+format+"\n", args...)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// writes prints a write delta (the bench's own writes already removed) as a
// table, one row per resource and verb.
func (r report) writes(label string, d writeCounts) {
	if len(d) == 0 {
		r.note("%s: none", label)
		return
	}
	r.note("%s:", label)
	r.note("    %-40s %-7s %8s %8s", "RESOURCE", "VERB", "WRITES", "FAILED")
	for _, k := range d.sortedKeys() {
		c := d[k]
		extra := ""
		if own := apiServerOwn(k); own != "" {
			extra = "  (" + own + ", not Portico)"
		}
		r.note("    %-40s %-7s %8.0f %8.0f%s", k, k.verb, c.n, c.failed, extra)
	}
}

// porticoWrites is every write in d except the API server's own; d already
// excludes the bench's writes.
func porticoWrites(d writeCounts) float64 {
	return d.sum(func(k writeKey) bool { return apiServerOwn(k) == "" })
}

// serviceStatusWrites counts Service status updates and patches in d.
func serviceStatusWrites(d writeCounts) float64 {
	return d.sum(func(k writeKey) bool {
		return k.group == "" && k.resource == "services" && k.subresource == "status"
	})
}

// logDir makes a temporary directory for a bench's logs. The returned
// function, deferred with the bench's error, removes it unless keep is set
// or the bench failed, and otherwise says where the logs are.
func logDir(prefix string, keep bool, w io.Writer) (string, func(err error), error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, fmt.Errorf("bench: %w", err)
	}
	return dir, func(err error) {
		if keep || err != nil {
			fmt.Fprintf(w, "\nlogs kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}, nil
}
