package flink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
)

// Config returns the web UI configuration (GET /config), which carries the Flink version.
func (c *Client) Config(ctx context.Context) (DashboardConfig, error) {
	var out DashboardConfig
	err := c.get(ctx, "/config", &out)
	return out, err
}

// Overview returns the cluster overview (GET /overview): TaskManagers, slots, job counts.
func (c *Client) Overview(ctx context.Context) (ClusterOverview, error) {
	var out ClusterOverview
	err := c.get(ctx, "/overview", &out)
	return out, err
}

// Job returns the details of a job (GET /jobs/:jobid).
func (c *Client) Job(ctx context.Context, jobID string) (JobDetails, error) {
	var out JobDetails
	err := c.get(ctx, pathf("/jobs/%s", jobID), &out)
	return out, err
}

// JobConfig returns a job's execution configuration (GET /jobs/:jobid/config).
func (c *Client) JobConfig(ctx context.Context, jobID string) (JobConfig, error) {
	var out JobConfig
	err := c.get(ctx, pathf("/jobs/%s/config", jobID), &out)
	return out, err
}

// JobExceptions returns a job's root exception and exception history
// (GET /jobs/:jobid/exceptions). For Flink 2.x, which no longer reports "root-exception",
// RootException and Timestamp are filled from the newest history entry.
func (c *Client) JobExceptions(ctx context.Context, jobID string) (JobExceptions, error) {
	var out JobExceptions
	if err := c.get(ctx, pathf("/jobs/%s/exceptions", jobID), &out); err != nil {
		return out, err
	}
	if out.RootException == "" && len(out.History.Entries) > 0 {
		newest := out.History.Entries[0]
		out.RootException = newest.Stacktrace
		out.Timestamp = newest.Timestamp
	}
	return out, nil
}

// JobManagerConfig returns the JobManager's effective Flink configuration
// (GET /jobmanager/config) as a key/value map.
func (c *Client) JobManagerConfig(ctx context.Context) (map[string]string, error) {
	var entries []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := c.get(ctx, "/jobmanager/config", &entries); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		out[e.Key] = e.Value
	}
	return out, nil
}

// CancelJob asks Flink to cancel a job (PATCH /jobs/:jobid?mode=cancel). Flink accepts
// the request (202) and cancels asynchronously: poll Job until the state is CANCELED.
// Cancelling a job that is already CANCELED succeeds; one that FINISHED or FAILED is a 409.
func (c *Client) CancelJob(ctx context.Context, jobID string) error {
	return c.do(ctx, http.MethodPatch, pathf("/jobs/%s", jobID), url.Values{"mode": {"cancel"}}, nil, nil)
}

type triggerResponse struct {
	RequestID string `json:"request-id"`
}

// TriggerSavepoint starts a savepoint (POST /jobs/:jobid/savepoints) and returns its
// trigger id; follow it with SavepointStatus or WaitForSavepoint.
func (c *Client) TriggerSavepoint(ctx context.Context, jobID string, req SavepointRequest) (string, error) {
	body := struct {
		TargetDirectory string `json:"target-directory,omitempty"`
		CancelJob       bool   `json:"cancel-job"`
		FormatType      string `json:"formatType,omitempty"`
		TriggerID       string `json:"triggerId"`
	}{req.TargetDirectory, req.CancelJob, req.FormatType, orNewTriggerID(req.TriggerID)}
	return c.trigger(ctx, pathf("/jobs/%s/savepoints", jobID), body)
}

// StopWithSavepoint takes a savepoint and then stops the job (POST /jobs/:jobid/stop),
// returning the trigger id. The job ends FINISHED once the savepoint completed.
func (c *Client) StopWithSavepoint(ctx context.Context, jobID string, req StopRequest) (string, error) {
	body := struct {
		TargetDirectory string `json:"targetDirectory,omitempty"`
		Drain           bool   `json:"drain"`
		FormatType      string `json:"formatType,omitempty"`
		TriggerID       string `json:"triggerId"`
	}{req.TargetDirectory, req.Drain, req.FormatType, orNewTriggerID(req.TriggerID)}
	return c.trigger(ctx, pathf("/jobs/%s/stop", jobID), body)
}

// trigger POSTs an asynchronous operation and returns the trigger id Flink answers with.
func (c *Client) trigger(ctx context.Context, path string, body any) (string, error) {
	var out triggerResponse
	if err := c.do(ctx, http.MethodPost, path, nil, body, &out); err != nil {
		return "", err
	}
	if out.RequestID == "" {
		return "", fmt.Errorf("flink cluster %s: POST %s: response has no request-id", c.cluster, path)
	}
	return out.RequestID, nil
}

// orNewTriggerID is id, or a new trigger id when the caller chose none.
func orNewTriggerID(id string) string {
	if id == "" {
		return NewTriggerID()
	}
	return id
}

type asyncResult struct {
	Status struct {
		ID string `json:"id"`
	} `json:"status"`
	Operation *struct {
		Location     string        `json:"location"`
		FailureCause *FailureCause `json:"failure-cause"`
	} `json:"operation"`
}

func (r asyncResult) operation() AsyncOperation {
	op := AsyncOperation{Status: r.Status.ID}
	if r.Operation != nil {
		op.Location = r.Operation.Location
		op.FailureCause = r.Operation.FailureCause
	}
	return op
}

// SavepointStatus returns the status of a savepoint or stop-with-savepoint operation
// (GET /jobs/:jobid/savepoints/:triggerid).
func (c *Client) SavepointStatus(ctx context.Context, jobID, triggerID string) (AsyncOperation, error) {
	var out asyncResult
	if err := c.get(ctx, pathf("/jobs/%s/savepoints/%s", jobID, triggerID), &out); err != nil {
		return AsyncOperation{}, err
	}
	return out.operation(), nil
}

// Checkpoints returns a job's checkpointing statistics (GET /jobs/:jobid/checkpoints).
func (c *Client) Checkpoints(ctx context.Context, jobID string) (CheckpointingStatistics, error) {
	var out CheckpointingStatistics
	err := c.get(ctx, pathf("/jobs/%s/checkpoints", jobID), &out)
	return out, err
}

// ResourceRequirements returns the per-vertex parallelism bounds of a job running under
// the adaptive scheduler (GET /jobs/:jobid/resource-requirements). Other schedulers answer
// 500 with an UnsupportedOperationException (not retryable).
func (c *Client) ResourceRequirements(ctx context.Context, jobID string) (ResourceRequirements, error) {
	out := ResourceRequirements{}
	err := c.get(ctx, pathf("/jobs/%s/resource-requirements", jobID), &out)
	return out, err
}

// SetResourceRequirements replaces the per-vertex parallelism bounds of a job running
// under the adaptive scheduler (PUT /jobs/:jobid/resource-requirements); the scheduler
// then rescales the job. Every vertex of the job must be listed.
func (c *Client) SetResourceRequirements(ctx context.Context, jobID string, req ResourceRequirements) error {
	if req == nil {
		req = ResourceRequirements{}
	}
	return c.do(ctx, http.MethodPut, pathf("/jobs/%s/resource-requirements", jobID), nil, req, nil)
}

// VertexIDs returns the vertex ids of req, sorted.
func (r ResourceRequirements) VertexIDs() []string {
	ids := make([]string, 0, len(r))
	for id := range r {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// NewTriggerID returns a random 32-hex-digit id in the format Flink uses for trigger ids.
func NewTriggerID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("flink: reading random bytes: %v", err))
	}
	return hex.EncodeToString(b[:])
}
