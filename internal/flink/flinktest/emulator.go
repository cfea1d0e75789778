package flinktest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Emulator serves many emulated clusters behind one http.Handler. A request goes to the
// cluster registered for its host (r.Host, else r.URL.Host; port ignored), or, for a
// Kubernetes API server service-proxy path
// /api/v1/namespaces/<ns>/services/[<scheme>:]<svc>[:<port>]/proxy/..., to the cluster of
// host "<svc>.<ns>.svc". Hosts match with or without a ".cluster.local" suffix, and
// "<svc>.<ns>" matches "<svc>.<ns>.svc". It is safe for concurrent use.
type Emulator struct {
	mu       sync.RWMutex
	clusters map[string]*Cluster // by canonical host
	requests atomic.Int64
}

// New returns an emulator without clusters.
func New() *Emulator {
	return &Emulator{clusters: map[string]*Cluster{}}
}

// Start creates a cluster for spec and serves it at host (e.g. "fraud-rest.payments.svc"),
// replacing (and closing) any cluster already serving that host.
func (e *Emulator) Start(host string, spec JobSpec) *Cluster {
	c := NewCluster(spec)
	key := canonicalHost(host)
	e.mu.Lock()
	old := e.clusters[key]
	e.clusters[key] = c
	e.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return c
}

// Stop removes and closes the cluster serving host, if any. Later requests for the host
// answer 502.
func (e *Emulator) Stop(host string) {
	key := canonicalHost(host)
	e.mu.Lock()
	old := e.clusters[key]
	delete(e.clusters, key)
	e.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// Cluster returns the cluster serving host, or nil.
func (e *Emulator) Cluster(host string) *Cluster {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.clusters[canonicalHost(host)]
}

// Hosts returns the canonical hosts being served, sorted.
func (e *Emulator) Hosts() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	hosts := make([]string, 0, len(e.clusters))
	for h := range e.clusters {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	return hosts
}

// Close stops every cluster.
func (e *Emulator) Close() {
	e.mu.Lock()
	clusters := e.clusters
	e.clusters = map[string]*Cluster{}
	e.mu.Unlock()
	for _, c := range clusters {
		c.Close()
	}
}

// ServeHTTP routes the request to the cluster of its host; an unknown host answers 502
// with an errors body naming the host.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.requests.Add(1)
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	path := r.URL.Path
	if proxyHost, rest, ok := splitProxyPath(path); ok {
		host, path = proxyHost, rest
	}
	c := e.Cluster(host)
	if c == nil {
		writeErrors(w, http.StatusBadGateway, "flinktest: no Flink cluster is serving host \""+stripPort(host)+"\"")
		return
	}
	c.serve(w, r, path)
}

// Requests is how many requests the emulator has answered, for any host (make bench-scale
// counts the provider's Flink calls per plan with it).
func (e *Emulator) Requests() int64 { return e.requests.Load() }

// Transport returns a RoundTripper that serves requests in process through ServeHTTP,
// without a network: point a flink.Client at "http://<host>:8081" (or a service-proxy
// URL) with an http.Client using it. Connections dropped by Faults.AbortNext surface as
// "connection reset by peer" errors.
func (e *Emulator) Transport() http.RoundTripper { return handlerTransport{e} }

// HTTPClient returns an *http.Client using Transport.
func (e *Emulator) HTTPClient() *http.Client { return &http.Client{Transport: e.Transport()} }

// Transport returns a RoundTripper serving every request with this cluster, whatever
// its host.
func (c *Cluster) Transport() http.RoundTripper { return handlerTransport{c} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var body []byte
	if req.Body != nil {
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	sreq := req.Clone(ctx)
	sreq.Body = io.NopCloser(bytes.NewReader(body))
	sreq.ContentLength = int64(len(body))
	sreq.Host = req.URL.Host
	if req.Host != "" {
		sreq.Host = req.Host
	}
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "192.0.2.1:40000"

	rec := httptest.NewRecorder()
	if aborted := serveRecovering(t.h, rec, sreq); aborted {
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	resp = rec.Result()
	resp.Request = req
	return resp, nil
}

func serveRecovering(h http.Handler, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				aborted = true
				return
			}
			panic(v)
		}
	}()
	h.ServeHTTP(w, r)
	return false
}

var proxyPath = regexp.MustCompile(`^/api/v1/namespaces/([^/]+)/services/([^/]+)/proxy(/.*)?$`)

// splitProxyPath recognises a Kubernetes service-proxy path and returns the service's
// in-cluster host "<svc>.<ns>.svc" and the path below the proxy.
func splitProxyPath(path string) (host, rest string, ok bool) {
	m := proxyPath.FindStringSubmatch(path)
	if m == nil {
		return "", "", false
	}
	ns, svc := m[1], m[2]
	parts := strings.Split(svc, ":")
	name := parts[0]
	if (name == "http" || name == "https") && len(parts) > 1 {
		name = parts[1]
	}
	rest = m[3]
	if rest == "" {
		rest = "/"
	}
	return name + "." + ns + ".svc", rest, true
}

func stripPort(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// canonicalHost lower-cases host, drops the port, a trailing dot and ".cluster.local",
// and completes "<svc>.<ns>" to "<svc>.<ns>.svc".
func canonicalHost(host string) string {
	h := strings.TrimSuffix(strings.ToLower(stripPort(strings.TrimSpace(host))), ".")
	h = strings.TrimSuffix(h, ".cluster.local")
	if net.ParseIP(h) == nil && strings.Count(h, ".") == 1 {
		h += ".svc"
	}
	return h
}
