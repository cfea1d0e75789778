package flinktest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const testJobID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"

// call sends one request straight to h and decodes the JSON answer (nil if none).
func call(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, rd)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Body.Len() > 0 && strings.HasPrefix(strings.TrimSpace(rec.Body.String()), "{") {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: invalid JSON %q: %v", method, path, rec.Body.String(), err)
		}
	}
	if ct := rec.Header().Get("Content-Type"); rec.Body.Len() > 0 && !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return rec.Code, out
}

// callList is call for answers that are JSON arrays.
func callList(t *testing.T, h http.Handler, path string) (int, []map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out []map[string]any
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("GET %s: invalid JSON list %q: %v", path, rec.Body.String(), err)
		}
	}
	return rec.Code, out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newTestCluster(t *testing.T, spec JobSpec) *Cluster {
	t.Helper()
	if spec.JobID == "" {
		spec.JobID = testJobID
	}
	c := NewCluster(spec)
	t.Cleanup(c.Close)
	return c
}

func waitHealthy(t *testing.T, c *Cluster) {
	t.Helper()
	eventually(t, "the job runs with all vertices RUNNING", func() bool {
		if c.JobState() != stateRunning {
			return false
		}
		for _, s := range c.VertexStates() {
			if s != execRunning {
				return false
			}
		}
		return true
	})
}

func errorsOf(t *testing.T, body map[string]any) []string {
	t.Helper()
	raw, ok := body["errors"].([]any)
	if !ok {
		t.Fatalf("body %v has no errors list", body)
	}
	var out []string
	for _, e := range raw {
		out = append(out, e.(string))
	}
	return out
}

func dig(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("at %q: %v is not an object", k, v)
		}
		v = m[k]
	}
	return v
}

func savepointStatus(t *testing.T, h http.Handler, jobID, trigger string) map[string]any {
	t.Helper()
	code, body := call(t, h, http.MethodGet, "/jobs/"+jobID+"/savepoints/"+trigger, "")
	if code != http.StatusOK {
		t.Fatalf("savepoint status: %d %v", code, body)
	}
	return body
}

func waitOperation(t *testing.T, h http.Handler, path string) map[string]any {
	t.Helper()
	var body map[string]any
	eventually(t, "operation "+path+" completes", func() bool {
		var code int
		code, body = call(t, h, http.MethodGet, path, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, code, body)
		}
		return dig(t, body, "status", "id") == "COMPLETED"
	})
	return body
}
