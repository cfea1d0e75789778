package acctest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"app-rest.ns.svc:8081":                "app-rest.ns.svc",
		"APP-REST.NS.SVC.cluster.local.:8081": "app-rest.ns.svc",
		"app-rest.ns.svc.cluster.local":       "app-rest.ns.svc",
		"app-rest.ns.svc":                     "app-rest.ns.svc",
		"[::1]:80":                            "::1",
	} {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProxyRoutesByHost(t *testing.T) {
	router := RouterFunc(func(host string) (http.Handler, bool) {
		if host != "orders-rest.team-a.svc" {
			return nil, false
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "host=%s uri=%s abs=%v proxyhdr=%q", r.Host, r.RequestURI, r.URL.IsAbs(), r.Header.Get("Proxy-Authorization"))
		}), true
	})
	p, err := StartProxy(router)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Errorf("close the proxy: %v", err)
		}
	}()
	if !strings.HasPrefix(p.URL(), "http://127.0.0.1:") {
		t.Errorf("proxy URL %s is not on loopback", p.URL())
	}
	proxyURL, _ := url.Parse(p.URL())
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	defer client.CloseIdleConnections()

	get := func(u string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Proxy-Authorization", "Basic x")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, u := range []string{
		"http://orders-rest.team-a.svc:8081/jobs/overview?x=1",
		"http://orders-rest.team-a.svc.cluster.local:8081/jobs/overview?x=1",
	} {
		code, body := get(u)
		if code != 200 || body != `host=orders-rest.team-a.svc uri=/jobs/overview?x=1 abs=false proxyhdr=""` {
			t.Errorf("%s: %d %s", u, code, body)
		}
	}
	code, body := get("http://unknown-rest.team-a.svc:8081/jobs")
	if code != http.StatusBadGateway || !strings.Contains(body, `"unknown-rest.team-a.svc"`) {
		t.Errorf("unknown host: %d %s", code, body)
	}

	// CONNECT is refused.
	req, _ := http.NewRequest(http.MethodConnect, p.URL(), nil)
	req.Host = "orders-rest.team-a.svc:443"
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("CONNECT: %d", resp.StatusCode)
	}
}
