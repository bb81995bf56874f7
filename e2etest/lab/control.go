package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-lb/portico/e2etest/cluster"
)

// The control channel. The supervisor owns the cluster: only it can add a
// pod (a namespace and a podserver that must outlive `make lab`), start a
// speaker, or open a socket in the client namespace through the cluster's
// helpers. So it serves a small HTTP API on a unix socket in the state
// directory (root only, like the lab), and `lab up` and the poke commands
// (`lab dial`, `lab kill-speaker`, …) are its clients.

// podRequest asks for a pod behind a node.
type podRequest struct {
	Node   string            `json:"node"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// podReply describes a pod.
type podReply struct {
	Name      string     `json:"name"`
	Node      string     `json:"node"`
	Namespace string     `json:"namespace"`
	IPv4      netip.Addr `json:"ipv4"`
	IPv6      netip.Addr `json:"ipv6"`
}

// exposeRequest asks for a Service's EndpointSlices naming these pods.
type exposeRequest struct {
	Namespace string   `json:"namespace"`
	Service   string   `json:"service"`
	Pods      []string `json:"pods"`
}

// DialResult is one TCP connection from the client through a VIP.
type DialResult struct {
	// Line is what the podserver answered: "pod=… node=… client=…".
	Line string `json:"line"`
	// MAC is the client's neighbour entry for the VIP after the connection,
	// that is, where the client sent it; Node is the node with that MAC.
	MAC  string `json:"mac"`
	Node string `json:"node"`
}

// speakerReply describes a speaker that was killed or started.
type speakerReply struct {
	Node string `json:"node"`
	PID  int    `json:"pid"`
	// Settled is how long the speakers took to count the started one as a
	// stable member.
	Settled time.Duration `json:"settled,omitempty"`
}

// serveControl listens on sock and serves the control API until the
// returned function is called.
func (s *supervisor) serveControl(sock string) (closeFn func() error, err error) {
	_ = os.Remove(sock) // a stale socket of a supervisor that died
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("lab: control channel: %w", err)
	}
	mux := http.NewServeMux()
	handle := func(pattern string, fn func(*http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			v, err := fn(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		})
	}
	handle("POST /pods", s.addPod)
	handle("POST /expose", s.expose)
	handle("GET /dial", s.dial)
	handle("GET /resolve", s.resolve)
	handle("POST /speakers/{node}/kill", s.killSpeaker)
	handle("POST /speakers/{node}/start", s.startSpeaker)
	handle("GET /routes", s.routes)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			return fmt.Errorf("lab: closing the control channel: %w", err)
		}
		return nil
	}, nil
}

func (s *supervisor) addPod(r *http.Request) (any, error) {
	var req podRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return nil, fmt.Errorf("lab: pod request: %w", err)
	}
	p, err := s.c.AddPod(r.Context(), req.Node, req.Name, req.Labels)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.pods[p.Name] = p
	s.mu.Unlock()
	s.logf("pod %s runs on %s (%s, %s, namespace %s)", p.Name, p.Node, p.IPv4, p.IPv6, p.Namespace)
	return podReply{Name: p.Name, Node: p.Node, Namespace: p.Namespace, IPv4: p.IPv4, IPv6: p.IPv6}, nil
}

func (s *supervisor) expose(r *http.Request) (any, error) {
	var req exposeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return nil, fmt.Errorf("lab: expose request: %w", err)
	}
	var pods []*cluster.Pod
	s.mu.Lock()
	for _, name := range req.Pods {
		if p := s.pods[name]; p != nil {
			pods = append(pods, p)
		}
	}
	s.mu.Unlock()
	if len(pods) != len(req.Pods) {
		return nil, fmt.Errorf("lab: expose %s/%s: some of the pods %v do not exist", req.Namespace, req.Service, req.Pods)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: req.Namespace, Name: req.Service}}
	return struct{}{}, s.c.ExposePods(r.Context(), svc, pods...)
}

func (s *supervisor) dial(r *http.Request) (any, error) {
	ap, err := netip.ParseAddrPort(r.URL.Query().Get("addr"))
	if err != nil {
		return nil, fmt.Errorf("lab: dial: %w", err)
	}
	line, err := s.c.Dial(r.Context(), ap.Addr(), int(ap.Port()))
	if err != nil {
		return nil, err
	}
	res := DialResult{Line: line}
	// Best effort: the entry can be gone or still incomplete.
	if res.MAC, err = s.clientNeighbour(r.Context(), ap.Addr()); err == nil {
		res.Node = s.c.NodeByMAC(mustMAC(res.MAC))
	}
	return res, nil
}

// clientNeighbour returns the client's neighbour entry for ip: the MAC it
// sends ip's packets to.
func (s *supervisor) clientNeighbour(ctx context.Context, ip netip.Addr) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := s.c.Lab.Client.Command(ctx, "ip", "-j", "neigh", "show", "to", ip.String()).Output()
	if err != nil {
		return "", fmt.Errorf("lab: the client's neighbour entry for %s: %w", ip, err)
	}
	var entries []struct {
		LLAddr string `json:"lladdr"`
	}
	if err := json.Unmarshal(out, &entries); err != nil {
		return "", fmt.Errorf("lab: ip neigh: %w", err)
	}
	if len(entries) == 0 || entries[0].LLAddr == "" {
		return "", fmt.Errorf("lab: the client has no neighbour entry for %s", ip)
	}
	return entries[0].LLAddr, nil
}

func mustMAC(s string) net.HardwareAddr {
	mac, _ := net.ParseMAC(s)
	return mac
}

func (s *supervisor) resolve(r *http.Request) (any, error) {
	ip, err := netip.ParseAddr(r.URL.Query().Get("ip"))
	if err != nil {
		return nil, fmt.Errorf("lab: resolve: %w", err)
	}
	mac, err := s.c.Resolve(r.Context(), ip)
	if err != nil {
		return nil, err
	}
	return DialResult{MAC: mac.String(), Node: s.c.NodeByMAC(mac)}, nil
}

func (s *supervisor) killSpeaker(r *http.Request) (any, error) {
	node := r.PathValue("node")
	if _, ok := s.info().node(node); !ok {
		return nil, fmt.Errorf("lab: no node %q in the lab", node)
	}
	p := s.c.Speaker(node)
	if p == nil || p.Exited() {
		return nil, fmt.Errorf("lab: no speaker runs on %q", node)
	}
	s.logf("kill -9 of the speaker on %s (pid %d), as asked", node, p.Pid)
	if err := s.c.KillSpeaker(node, syscall.SIGKILL); err != nil {
		return nil, err
	}
	return speakerReply{Node: node, PID: p.Pid}, nil
}

func (s *supervisor) startSpeaker(r *http.Request) (any, error) {
	node := r.PathValue("node")
	if err := s.c.StartSpeaker(node); err != nil {
		return nil, err
	}
	pid := s.c.Speaker(node).Pid
	s.logf("started the speaker on %s (pid %d), as asked", node, pid)
	start := time.Now()
	if err := s.c.WaitSettled(r.Context()); err != nil {
		return nil, err
	}
	return speakerReply{Node: node, PID: pid, Settled: time.Since(start)}, nil
}

// call sends one request to the supervisor's control channel and decodes
// the answer into out.
func (l *Lab) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	sock := l.controlSocket()
	if _, err := os.Stat(sock); err != nil {
		return fmt.Errorf("lab: no lab is running in %s (%w); start one with `make lab`", l.opts.Dir, err)
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("lab: encoding a control request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	u := url.URL{Scheme: "http", Host: "lab", Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("lab: the supervisor's control channel %s: %w", sock, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("lab: reading the supervisor's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("lab: decoding the supervisor's answer %q: %w", b, err)
	}
	return nil
}

func (l *Lab) controlSocket() string { return filepath.Join(l.opts.Dir, fileControl) }
