package flink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

const (
	triggerID  = "0123456789abcdef0123456789abcdef"
	accessHint = "check flink_access (url_template, proxy) and that Service app-rest exists"
)

// Only Flink's own word that a job or savepoint operation is unknown is IsNotFound; a 404 from
// anything in front of Flink, or for a path Flink has no route for, says nothing about the job
// and its Error() says what answered and what to check.
func TestOnlyFlinksOwnNotFoundIsNotFound(t *testing.T) {
	getJob := func(ctx context.Context, c *Client) error { _, err := c.Job(ctx, jobID); return err }
	cancelJob := func(ctx context.Context, c *Client) error { return c.CancelJob(ctx, jobID) }
	savepointStatus := func(ctx context.Context, c *Client) error {
		_, err := c.SavepointStatus(ctx, jobID, triggerID)
		return err
	}
	flinkErrors := func(msgs ...string) string {
		data := `{"errors":[`
		for i, m := range msgs {
			if i > 0 {
				data += ","
			}
			data += fmt.Sprintf("%q", m)
		}
		return data + "]}"
	}
	tests := []struct {
		name         string
		call         func(context.Context, *Client) error
		status       int
		contentType  string
		body         string
		wantFrom     AnswerSource
		wantNotFound bool
		wantErr      string
	}{
		{
			name: "flink: unknown job", call: getJob, status: 404, contentType: "application/json; charset=UTF-8",
			body:     flinkErrors("org.apache.flink.runtime.rest.NotFoundException: Job " + jobID + " not found\n\tat org.apache.flink.runtime.rest.handler.job.AbstractExecutionGraphHandler.lambda$handleRequest$1(AbstractExecutionGraphHandler.java:99)\nCaused by: org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (" + jobID + ")\n\t... 1 more"),
			wantFrom: FromFlink, wantNotFound: true,
			wantErr: "flink cluster ns/app: GET /jobs/" + jobID + ": 404 Not Found: Job " + jobID + " not found",
		},
		{
			name: "flink: cancelling an unknown job", call: cancelJob, status: 404, contentType: "application/json; charset=UTF-8",
			body:     flinkErrors("org.apache.flink.runtime.rest.handler.RestHandlerException: Job could not be found.\n\tat x\nCaused by: org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (" + jobID + ")\n\t... 1 more"),
			wantFrom: FromFlink, wantNotFound: true,
			wantErr: "flink cluster ns/app: PATCH /jobs/" + jobID + ": 404 Not Found: Job could not be found.",
		},
		{
			name: "flink: unknown savepoint trigger", call: savepointStatus, status: 404, contentType: "application/json; charset=UTF-8",
			body:     flinkErrors("org.apache.flink.runtime.rest.handler.RestHandlerException: There is no savepoint operation with triggerId=" + triggerID + " for job " + jobID + ".\n\tat org.apache.flink.runtime.rest.handler.job.savepoints.SavepointHandlers$SavepointStatusHandler.maybeCreateNotFoundError(SavepointHandlers.java:325)\n"),
			wantFrom: FromFlink, wantNotFound: true,
			wantErr: "flink cluster ns/app: GET /jobs/" + jobID + "/savepoints/" + triggerID + ": 404 Not Found: There is no savepoint operation with triggerId=" + triggerID + " for job " + jobID + ".",
		},
		{
			name: "flink: GET of a path without a route (web UI static files)", call: getJob, status: 404, contentType: "application/json; charset=UTF-8",
			body:     flinkErrors("Unable to load requested file /flink/jobs/" + jobID + "."),
			wantFrom: FromFlink,
			wantErr:  "flink cluster ns/app: GET /jobs/" + jobID + ": 404 Not Found: Unable to load requested file /flink/jobs/" + jobID + ".; Flink's REST API has no such path; " + accessHint,
		},
		{
			name: "flink: PATCH of a path without a route", call: cancelJob, status: 404, contentType: "application/json; charset=UTF-8",
			body:     flinkErrors("Not found: /flink/jobs/" + jobID + "?mode=cancel"),
			wantFrom: FromFlink,
			wantErr:  "flink cluster ns/app: PATCH /jobs/" + jobID + ": 404 Not Found: Not found: /flink/jobs/" + jobID + "?mode=cancel; Flink's REST API has no such path; " + accessHint,
		},
		{
			name: "ingress default backend, text/plain", call: getJob, status: 404, contentType: "text/plain; charset=utf-8",
			body:     flinktest.IngressNotFound,
			wantFrom: FromOther,
			wantErr:  "flink cluster ns/app: GET /jobs/" + jobID + `: 404 Not Found from something that is not Flink's REST API (body: "404 page not found"); ` + accessHint,
		},
		{
			name: "nginx HTML page", call: savepointStatus, status: 404, contentType: "text/html",
			body:     flinktest.NginxNotFoundHTML,
			wantFrom: FromOther,
			wantErr: "flink cluster ns/app: GET /jobs/" + jobID + "/savepoints/" + triggerID +
				`: 404 Not Found from something that is not Flink's REST API (body: "<html> <head><title>404 Not Found</title></head> <body> <center><h1>404 Not Found</h1></center> <hr><center>nginx</center> </body> </html>"); ` + accessHint,
		},
		{
			name: "kubernetes service proxy: no such Service", call: getJob, status: 404, contentType: "application/json",
			body:     flinktest.KubernetesServiceNotFound("app-rest"),
			wantFrom: FromKubernetesAPIServer,
			wantErr:  "flink cluster ns/app: GET /jobs/" + jobID + `: 404 Not Found from the Kubernetes API server: services "app-rest" not found; ` + accessHint,
		},
		{
			name: "another server's JSON 404", call: getJob, status: 404, contentType: "application/json",
			body:     `{"timestamp":"2025-01-01T00:00:00Z","status":404,"error":"Not Found","path":"/jobs/` + jobID + `"}`,
			wantFrom: FromOther,
			wantErr:  "flink cluster ns/app: GET /jobs/" + jobID + `: 404 Not Found from something that is not Flink's REST API (body: "{\"timestamp\":\"2025-01-01T00:00:00Z\",\"status\":404,\"error\":\"Not Found\",\"path\":\"/jobs/` + jobID + `\"}"); ` + accessHint,
		},
		{
			// Flink's error body has exactly one key; a look-alike with more is not Flink's.
			name: "errors body with other keys", call: getJob, status: 404, contentType: "application/json",
			body:     `{"errors":["Job ` + jobID + ` not found"],"code":404}`,
			wantFrom: FromOther,
			wantErr:  "flink cluster ns/app: GET /jobs/" + jobID + `: 404 Not Found from something that is not Flink's REST API (body: "{\"errors\":[\"Job ` + jobID + ` not found\"],\"code\":404}"); ` + accessHint,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			c := New("ns/app", srv.URL, srv.Client(), WithAccessHint(accessHint))
			err := tt.call(testContext(t), c)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T), want an *APIError", err, err)
			}
			if apiErr.From != tt.wantFrom || apiErr.ContentType != tt.contentType {
				t.Errorf("From = %v, ContentType = %q; want %v, %q", apiErr.From, apiErr.ContentType, tt.wantFrom, tt.contentType)
			}
			if got := IsNotFound(err); got != tt.wantNotFound {
				t.Errorf("IsNotFound = %v, want %v", got, tt.wantNotFound)
			}
			if IsRetryable(err) {
				t.Error("a 404 is retryable")
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Error() =\n  %s\nwant\n  %s", err, tt.wantErr)
			}
		})
	}
}

// Without WithAccessHint the next step names the base URL (credentials redacted).
func TestNotFlinkAnswerErrorNamesTheBaseURLByDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }))
	defer srv.Close()
	base := strings.Replace(srv.URL, "http://", "http://admin:s3cret@", 1) + "/flink"
	_, err := New("ns/app", base, srv.Client()).Overview(testContext(t))
	want := `flink cluster ns/app: GET /overview: 404 Not Found from something that is not Flink's REST API (body: "404 page not found"); check that ` +
		strings.Replace(srv.URL, "http://", "http://admin:xxxxx@", 1) + "/flink reaches the JobManager's REST API"
	if err == nil || err.Error() != want {
		t.Errorf("Error() =\n  %v\nwant\n  %s", err, want)
	}
}

// Only 404s get the access hint: a 503 from the API server means the Service has no ready
// JobManager, not that the URL is wrong.
func TestNotFlinkAnswerOtherThan404HasNoAccessHint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"no endpoints available for service \"app-rest:rest\"","reason":"ServiceUnavailable","code":503}`)
	}))
	defer srv.Close()
	_, err := New("ns/app", srv.URL, srv.Client(), WithAccessHint(accessHint)).Job(testContext(t), jobID)
	want := "flink cluster ns/app: GET /jobs/" + jobID + `: 503 Service Unavailable from the Kubernetes API server: no endpoints available for service "app-rest:rest"`
	if err == nil || err.Error() != want || !IsRetryable(err) || IsNotFound(err) {
		t.Errorf("Error() = %v (retryable %v), want %s, retryable", err, IsRetryable(err), want)
	}
}

// The emulator's own not-found answers (unknown job, unknown or forgotten trigger) are
// IsNotFound; its answers as a front of Flink and its answer for an unknown route are not.
func TestEmulatorNotFoundAnswers(t *testing.T) {
	ctx := testContext(t)
	cluster, c := startCluster(t, flinktest.JobSpec{SavepointDir: "s3://bucket/savepoints"})
	waitHealthy(t, ctx, c)
	const other = "ffffffffffffffffffffffffffffffff"

	_, err := c.Job(ctx, other)
	if !IsNotFound(err) {
		t.Errorf("unknown job: %v, want IsNotFound", err)
	}
	if err := c.CancelJob(ctx, other); !IsNotFound(err) {
		t.Errorf("cancelling an unknown job: %v, want IsNotFound", err)
	}
	if _, err := c.SavepointStatus(ctx, jobID, triggerID); !IsNotFound(err) {
		t.Errorf("unknown trigger: %v, want IsNotFound", err)
	}

	trigger, err := c.TriggerSavepoint(ctx, jobID, SavepointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WaitForSavepoint(ctx, c, jobID, trigger); err != nil {
		t.Fatal(err)
	}
	cluster.ForgetOperations()
	if _, err := c.SavepointStatus(ctx, jobID, trigger); !IsNotFound(err) {
		t.Errorf("forgotten trigger: %v, want IsNotFound", err)
	}

	cluster.Faults().RespondNext(http.MethodGet, "/jobs/", http.StatusNotFound, "text/plain; charset=utf-8", flinktest.IngressNotFound, 1)
	if _, err := c.Job(ctx, jobID); IsNotFound(err) || err == nil || !strings.Contains(err.Error(), "not Flink's REST API") {
		t.Errorf("ingress 404: %v, want an error naming a non-Flink answer, not IsNotFound", err)
	}

	wrongBase := New("ns/app", c.BaseURL()+"/jobs/"+jobID+"/nope", nil)
	_, err = wrongBase.Job(ctx, jobID)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.From != FromFlink || IsNotFound(err) {
		t.Errorf("unknown route: %v, want Flink's 404 that is not IsNotFound", err)
	}
}

// A 403 of the service proxy's authorizer (flink_access mode "proxy") says the provider's
// identity lacks the services/proxy permission it names, and where the Role is documented.
func TestServiceProxyForbiddenPointsAtTheRBACGuide(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"services \"app-rest:rest\" is forbidden: User \"system:serviceaccount:ns:terraform-provider-flink\" cannot create resource \"services/proxy\" in API group \"\" in the namespace \"ns\"","reason":"Forbidden","details":{"name":"app-rest:rest","kind":"services"},"code":403}`)
	}))
	defer srv.Close()
	_, err := New("ns/app", srv.URL, srv.Client(), WithAccessHint(accessHint)).TriggerSavepoint(testContext(t), jobID, SavepointRequest{})
	want := "flink cluster ns/app: POST /jobs/" + jobID + `/savepoints: 403 Forbidden from the Kubernetes API server: services "app-rest:rest" is forbidden: ` +
		`User "system:serviceaccount:ns:terraform-provider-flink" cannot create resource "services/proxy" in API group "" in the namespace "ns"; ` +
		"the provider's Kubernetes identity lacks this permission: give it the Role in docs/guides/rbac.md"
	if err == nil || err.Error() != want || IsRetryable(err) {
		t.Errorf("Error() = %v (retryable %v)\nwant %s, not retryable", err, IsRetryable(err), want)
	}
}
