package flinktest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

func TestEmulatorRoutesByHost(t *testing.T) {
	e := New()
	t.Cleanup(e.Close)
	fraud := e.Start("fraud-rest.payments.svc", JobSpec{JobID: "11111111111111111111111111111111", JobName: "fraud"})
	orders := e.Start("orders-rest.shop.svc.cluster.local:8081", JobSpec{JobID: "22222222222222222222222222222222", JobName: "orders"})

	tests := []struct {
		name     string
		host     string
		path     string
		wantCode int
		wantJob  string
	}{
		{"exact host", "fraud-rest.payments.svc", "/jobs/overview", 200, "fraud"},
		{"host with port", "fraud-rest.payments.svc:8081", "/jobs/overview", 200, "fraud"},
		{"fqdn", "fraud-rest.payments.svc.cluster.local", "/jobs/overview", 200, "fraud"},
		{"short svc.ns", "orders-rest.shop", "/jobs/overview", 200, "orders"},
		{"upper case", "ORDERS-REST.SHOP.SVC", "/v1/jobs/overview", 200, "orders"},
		{"service proxy path", "kube-apiserver:6443", "/api/v1/namespaces/payments/services/fraud-rest:rest/proxy/jobs/overview", 200, "fraud"},
		{"service proxy with scheme", "10.0.0.1", "/api/v1/namespaces/shop/services/https:orders-rest:8081/proxy/jobs/overview", 200, "orders"},
		{"unknown host", "nobody.default.svc:8081", "/jobs/overview", 502, ""},
		{"unknown proxied service", "kube-apiserver", "/api/v1/namespaces/x/services/y:rest/proxy/overview", 502, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body.String(), tt.wantCode)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if tt.wantCode == 502 {
				if errs := errorsOf(t, body); !strings.Contains(errs[0], `"nobody.default.svc"`) && !strings.Contains(errs[0], `"y.x.svc"`) {
					t.Errorf("502 body does not name the host: %v", errs)
				}
				return
			}
			if got := body["jobs"].([]any)[0].(map[string]any)["name"]; got != tt.wantJob {
				t.Errorf("served job %v, want %s", got, tt.wantJob)
			}
		})
	}
	if e.Cluster("fraud-rest.payments.svc") != fraud || e.Cluster("orders-rest.shop.svc") != orders || e.Cluster("x.y.svc") != nil {
		t.Errorf("Cluster lookup wrong")
	}
	if got := strings.Join(e.Hosts(), ","); got != "fraud-rest.payments.svc,orders-rest.shop.svc" {
		t.Errorf("Hosts() = %s", got)
	}
	// Every request counts, answered by a cluster or not.
	if got := e.Requests(); got != int64(len(tests)) {
		t.Errorf("Requests() = %d after %d requests", got, len(tests))
	}
}

func TestEmulatorStartReplacesAndStopRemoves(t *testing.T) {
	e := New()
	t.Cleanup(e.Close)
	first := e.Start("app-rest.ns.svc", JobSpec{JobName: "v1"})
	second := e.Start("app-rest.ns.svc", JobSpec{JobName: "v2"})
	if e.Cluster("app-rest.ns.svc") != second || first == second {
		t.Fatal("Start did not replace the cluster")
	}
	select {
	case <-first.done:
	default:
		t.Error("replaced cluster was not closed")
	}
	e.Stop("app-rest.ns.svc")
	req := httptest.NewRequest(http.MethodGet, "http://app-rest.ns.svc:8081/overview", nil)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadGateway || e.Cluster("app-rest.ns.svc") != nil {
		t.Errorf("after Stop: %d, cluster %v", rec.Code, e.Cluster("app-rest.ns.svc"))
	}
}

func TestEmulatorTransport(t *testing.T) {
	e := New()
	t.Cleanup(e.Close)
	c := e.Start("app-rest.ns.svc", JobSpec{JobID: testJobID})
	hc := e.HTTPClient()

	resp, err := hc.Get("http://app-rest.ns.svc:8081/jobs/" + testJobID + "/status")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(data), `"status":"`) {
		t.Errorf("status: %d %s", resp.StatusCode, data)
	}

	resp, err = hc.Post("https://apiserver.example:6443/api/v1/namespaces/ns/services/app-rest:rest/proxy/jobs/"+testJobID+"/savepoints",
		"application/json", strings.NewReader(`{"target-directory":"s3://b"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("savepoint through proxy path: %d", resp.StatusCode)
	}

	c.Faults().AbortNext("GET", "/overview", 1)
	_, err = hc.Get("http://app-rest.ns.svc:8081/overview")
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("aborted request error = %v, want connection reset", err)
	}
	if resp, err := hc.Get("http://app-rest.ns.svc:8081/overview"); err != nil || resp.StatusCode != 200 {
		t.Errorf("request after the abort: %v", err)
	} else {
		resp.Body.Close()
	}
}

func TestCanonicalHost(t *testing.T) {
	tests := map[string]string{
		"Fraud-Rest.Payments.SVC:8081":           "fraud-rest.payments.svc",
		"fraud-rest.payments.svc.cluster.local.": "fraud-rest.payments.svc",
		"fraud-rest.payments":                    "fraud-rest.payments.svc",
		"127.0.0.1:8081":                         "127.0.0.1",
		"[::1]:8081":                             "::1",
		"localhost":                              "localhost",
	}
	for in, want := range tests {
		if got := canonicalHost(in); got != want {
			t.Errorf("canonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseFlinkDuration(t *testing.T) {
	tests := map[string]int64{"10s": 10000, "1 min": 60000, "500 ms": 500, "3600000": 3600000, "2h": 7200000, "1d": 86400000}
	for in, wantMs := range tests {
		got, err := parseFlinkDuration(in)
		if err != nil || got.Milliseconds() != wantMs {
			t.Errorf("parseFlinkDuration(%q) = %v, %v; want %dms", in, got, err, wantMs)
		}
	}
	if _, err := parseFlinkDuration("soon"); err == nil {
		t.Error("parseFlinkDuration(soon) succeeded")
	}
}
