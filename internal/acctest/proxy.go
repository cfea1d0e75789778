package acctest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Router maps an in-cluster host name (port stripped, ".svc.cluster.local" shortened to ".svc",
// lower case) to the handler that serves it.
type Router interface {
	Route(host string) (http.Handler, bool)
}

// RouterFunc adapts a function to Router.
type RouterFunc func(host string) (http.Handler, bool)

// Route implements Router.
func (f RouterFunc) Route(host string) (http.Handler, bool) { return f(host) }

// NormalizeHost strips the port and a trailing dot, lower-cases, and shortens
// "<svc>.<ns>.svc.cluster.local" to "<svc>.<ns>.svc".
func NormalizeHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if strings.HasSuffix(host, ".svc.cluster.local") {
		host = strings.TrimSuffix(host, ".cluster.local")
	}
	return host
}

// Proxy is an HTTP forward proxy on loopback that stands in for cluster DNS: clients that use
// it through HTTP_PROXY send absolute-form requests (GET http://app-rest.ns.svc:8081/jobs) and
// the proxy serves them in process through a Router. CONNECT (HTTPS tunnelling) is refused.
type Proxy struct {
	router   Router
	listener net.Listener
	server   *http.Server
	done     chan struct{}
}

// StartProxy listens on 127.0.0.1 on a random port and serves until Close.
func StartProxy(router Router) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("acctest proxy: %w", err)
	}
	p := &Proxy{router: router, listener: l, done: make(chan struct{})}
	p.server = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		defer close(p.done)
		_ = p.server.Serve(l)
	}()
	return p, nil
}

// URL is the proxy's address, the value for HTTP_PROXY: "http://127.0.0.1:<port>".
func (p *Proxy) URL() string { return "http://" + p.listener.Addr().String() }

// Close stops the proxy and waits for in-flight requests (at most 5s).
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.server.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = p.server.Close()
	}
	<-p.done
	return err
}

// ServeHTTP routes by the request's host. Origin-form requests (no absolute URL) are routed by
// their Host header, so the proxy can also be used as a plain virtual-host server.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		http.Error(w, "acctest proxy: CONNECT is not supported; the test cluster's services speak plain HTTP (use http://, and keep https hosts out of HTTP_PROXY/in NO_PROXY)", http.StatusMethodNotAllowed)
		return
	}
	hostport := r.Host
	if r.URL.IsAbs() {
		hostport = r.URL.Host
	}
	host := NormalizeHost(hostport)
	h, ok := p.router.Route(host)
	if !ok || h == nil {
		http.Error(w, fmt.Sprintf("acctest proxy: no service for host %q in the test cluster: no running JobManager pod serves it "+
			"(REST hosts are <application>-rest.<namespace>.svc)", host), http.StatusBadGateway)
		return
	}
	// Hand the handler an origin-form request, as the server behind a real proxy would see it.
	r2 := r.Clone(r.Context())
	r2.Host = host
	r2.URL.Scheme, r2.URL.Host, r2.URL.User = "", "", nil
	r2.RequestURI = r2.URL.RequestURI()
	for _, hdr := range []string{"Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate"} {
		r2.Header.Del(hdr)
	}
	h.ServeHTTP(w, r2)
}
