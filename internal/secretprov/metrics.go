package secretprov

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// metrics is a tiny Prometheus text-format registry: counters and gauges
// keyed by name and label string.
type metrics struct {
	mu     sync.Mutex
	values map[string]float64 // `name{labels}` -> value
	help   map[string][2]string
}

func newMetrics() *metrics {
	m := &metrics{values: map[string]float64{}, help: map[string][2]string{}}
	m.describe("nacre_secretprov_connections_total", "counter", "TCP connections accepted.")
	m.describe("nacre_secretprov_active_connections", "gauge", "Connections being served.")
	m.describe("nacre_secretprov_decisions_total", "counter", "Provisioning decisions by verdict and failed check.")
	m.describe("nacre_secretprov_secrets_sent_total", "counter", "Secrets sent, by secret name.")
	m.describe("nacre_secretprov_errors_total", "counter", "Connections that failed after a decision (I/O, protocol).")
	m.add("nacre_secretprov_connections_total", "", 0)
	m.add("nacre_secretprov_active_connections", "", 0)
	return m
}

func (m *metrics) describe(name, typ, help string) { m.help[name] = [2]string{typ, help} }

// escape follows the text format's label-value escaping.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func labels(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%s="%s"`, kv[i], escape(kv[i+1]))
	}
	return b.String()
}

func (m *metrics) add(name, lbl string, d float64) {
	key := name
	if lbl != "" {
		key += "{" + lbl + "}"
	}
	m.mu.Lock()
	m.values[key] += d
	m.mu.Unlock()
}

func (m *metrics) get(name, lbl string) float64 {
	key := name
	if lbl != "" {
		key += "{" + lbl + "}"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.values[key]
}

func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.values))
	for k := range m.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	last := ""
	for _, k := range keys {
		name, _, _ := strings.Cut(k, "{")
		if name != last {
			if h, ok := m.help[name]; ok {
				fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, h[1], name, h[0])
			}
			last = name
		}
		fmt.Fprintf(w, "%s %g\n", k, m.values[k])
	}
}

// Handler serves /healthz and /metrics (Prometheus text format 0.0.4).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s.closing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "shutting down\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.metrics.write(w)
	})
	return mux
}
