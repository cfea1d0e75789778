package flinktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
)

// ServeHTTP answers one REST request like a Flink JobManager. Paths may carry a
// Kubernetes service-proxy prefix (/api/v1/namespaces/<ns>/services/<svc>/proxy) and
// Flink's optional /v1 version prefix.
func (c *Cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if _, rest, ok := splitProxyPath(path); ok {
		path = rest
	}
	c.serve(w, r, path)
}

func (c *Cluster) serve(w http.ResponseWriter, r *http.Request, path string) {
	if d := c.faults.currentLatency(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if rule, ok := c.faults.take(r.Method, path); ok {
		switch rule.kind {
		case faultAbort:
			panic(http.ErrAbortHandler)
		case faultHang:
			select {
			case <-r.Context().Done():
				return
			case <-c.done:
				panic(http.ErrAbortHandler)
			}
		case faultRespond:
			if rule.contentType != "" {
				w.Header().Set("Content-Type", rule.contentType)
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(rule.body)))
			w.WriteHeader(rule.status)
			_, _ = io.WriteString(w, rule.body)
		default:
			writeErrors(w, rule.status, injectedErrors(rule.status, r.Method, path)...)
		}
		return
	}

	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) > 0 && segs[0] == "v1" {
		segs = segs[1:]
	}
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	uri := path
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.advanceLocked(now)
	if !c.routeLocked(w, r, segs, now) {
		writeErrors(w, http.StatusNotFound, routeNotFound(r.Method, path, uri))
	}
}

// routeLocked dispatches a request; false means no route matched.
func (c *Cluster) routeLocked(w http.ResponseWriter, r *http.Request, segs []string, now time.Time) bool {
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case len(segs) == 1 && segs[0] == "config" && get:
		writeJSON(w, http.StatusOK, c.dashboardConfigLocked())
	case len(segs) == 1 && segs[0] == "overview" && get:
		writeJSON(w, http.StatusOK, c.overviewLocked())
	case len(segs) == 1 && segs[0] == "taskmanagers" && get:
		writeJSON(w, http.StatusOK, c.taskManagersLocked(now))
	case len(segs) == 2 && segs[0] == "jobmanager" && segs[1] == "config" && get:
		writeJSON(w, http.StatusOK, c.configEntriesLocked())
	case len(segs) == 1 && segs[0] == "jobs" && get:
		writeJSON(w, http.StatusOK, map[string]any{"jobs": []any{map[string]any{"id": c.spec.JobID, "status": c.state}}})
	case len(segs) == 2 && segs[0] == "jobs" && segs[1] == "overview" && get:
		writeJSON(w, http.StatusOK, map[string]any{"jobs": []any{c.jobOverviewLocked(now)}})
	case len(segs) == 1 && segs[0] == "savepoint-disposal" && post:
		c.triggerDisposalLocked(w, r, now)
	case len(segs) == 2 && segs[0] == "savepoint-disposal" && get:
		c.disposalStatusLocked(w, segs[1])
	case len(segs) >= 2 && segs[0] == "jobs" && segs[1] != "overview" && segs[1] != "metrics":
		return c.routeJobLocked(w, r, segs[1], segs[2:], now)
	default:
		return false
	}
	return true
}

func (c *Cluster) routeJobLocked(w http.ResponseWriter, r *http.Request, rawID string, rest []string, now time.Time) bool {
	m := r.Method
	var handler func(jobID string)
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		handler = func(string) { writeJSON(w, http.StatusOK, c.jobDetailsLocked(now)) }
	case len(rest) == 0 && m == http.MethodPatch:
		handler = func(id string) { c.cancelLocked(w, r, id, now) }
	case len(rest) == 1 && rest[0] == "config" && m == http.MethodGet:
		handler = func(string) { writeJSON(w, http.StatusOK, c.jobConfigLocked()) }
	case len(rest) == 1 && rest[0] == "exceptions" && m == http.MethodGet:
		handler = func(string) { c.exceptionsLocked(w, r) }
	case len(rest) == 1 && rest[0] == "status" && m == http.MethodGet:
		handler = func(string) { writeJSON(w, http.StatusOK, map[string]any{"status": c.state}) }
	case len(rest) == 1 && rest[0] == "plan" && m == http.MethodGet:
		handler = func(string) { writeJSON(w, http.StatusOK, map[string]any{"plan": c.planLocked()}) }
	case len(rest) == 1 && rest[0] == "checkpoints" && m == http.MethodGet:
		handler = func(string) { writeJSON(w, http.StatusOK, c.checkpointStatsLocked()) }
	case len(rest) == 2 && rest[0] == "jobmanager" && rest[1] == "config" && m == http.MethodGet:
		handler = func(string) { writeJSON(w, http.StatusOK, c.configEntriesLocked()) }
	case len(rest) == 1 && rest[0] == "savepoints" && m == http.MethodPost:
		// Savepoint triggers are accepted for any job id; an unknown job fails the operation.
		if id, ok := parseIDParam(w, "jobid", rawID); ok {
			c.triggerSavepointLocked(w, r, id, "savepoint", now)
		}
		return true
	case len(rest) == 1 && rest[0] == "stop" && m == http.MethodPost:
		if id, ok := parseIDParam(w, "jobid", rawID); ok {
			c.triggerSavepointLocked(w, r, id, "stop", now)
		}
		return true
	case len(rest) == 2 && rest[0] == "savepoints" && m == http.MethodGet:
		if id, ok := parseIDParam(w, "jobid", rawID); ok {
			if trig, ok := parseIDParam(w, "triggerid", rest[1]); ok {
				c.savepointStatusLocked(w, id, trig)
			}
		}
		return true
	case len(rest) == 1 && rest[0] == "resource-requirements" && m == http.MethodGet:
		if id, ok := parseIDParam(w, "jobid", rawID); ok {
			c.getRequirementsLocked(w, id)
		}
		return true
	case len(rest) == 1 && rest[0] == "resource-requirements" && m == http.MethodPut:
		if id, ok := parseIDParam(w, "jobid", rawID); ok {
			c.putRequirementsLocked(w, r, id, now)
		}
		return true
	default:
		return false
	}
	id, ok := parseIDParam(w, "jobid", rawID)
	if !ok {
		return true
	}
	if id != c.spec.JobID && m != http.MethodPatch {
		writeJobNotFound(w, id)
		return true
	}
	handler(id)
	return true
}

// ---- responses ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(map[string]any{"errors": []string{"flinktest: encoding response: " + err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func writeErrors(w http.ResponseWriter, status int, messages ...string) {
	writeJSON(w, status, map[string]any{"errors": messages})
}

func parseIDParam(w http.ResponseWriter, name, raw string) (string, bool) {
	if !isHexID(raw) {
		writeErrors(w, http.StatusBadRequest, fmt.Sprintf(
			"Bad request, could not parse parameters: Cannot resolve path parameter (%s) from value \"%s\".", name, raw))
		return "", false
	}
	return strings.ToLower(raw), true
}

func writeJobNotFound(w http.ResponseWriter, jobID string) {
	writeErrors(w, http.StatusNotFound, jobNotFound(jobID))
}

// jobNotFound is the errors entry of Flink's 404 for a job it does not know.
func jobNotFound(jobID string) string {
	return stackTrace(
		"org.apache.flink.runtime.rest.NotFoundException: Job "+jobID+" not found",
		"org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job ("+jobID+")")
}

// savepointNotFound is the errors entry of Flink's 404 for a savepoint trigger it does not
// know (never triggered, or forgotten after rest.async.store-duration or a restart).
func savepointNotFound(jobID, triggerID string) string {
	return stackTrace(fmt.Sprintf(
		"org.apache.flink.runtime.rest.handler.RestHandlerException: There is no savepoint operation with triggerId=%s for job %s.", triggerID, jobID))
}

// routeNotFound is Flink's 404 for a path it has no REST handler for. GETs fall through to
// the web UI's static file handler, other methods to the router's own answer.
func routeNotFound(method, path, uri string) string {
	if method == http.MethodGet {
		return "Unable to load requested file " + path + "."
	}
	return "Not found: " + uri
}

// decodeStrict decodes a request body like Flink's strict object mapper: an empty body
// is {}, unknown fields are rejected.
func decodeStrict(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func badFormat(w http.ResponseWriter, requestClass string) {
	writeErrors(w, http.StatusBadRequest, "Request did not match expected format "+requestClass+".")
}

// ---- cluster-level resources ----

func (c *Cluster) dashboardConfigLocked() map[string]any {
	return map[string]any{
		"refresh-interval": 3000,
		"timezone-name":    "Coordinated Universal Time",
		"timezone-offset":  0,
		"flink-version":    c.version.full,
		"flink-revision":   c.version.commit() + " @ 2025-01-01T00:00:00+01:00",
		"features": map[string]any{
			"web-submit":  false, // application mode
			"web-cancel":  !strings.EqualFold(configValue(c.spec.Config, "web.cancel.enable"), "false"),
			"web-rescale": c.adaptive && strings.EqualFold(configValue(c.spec.Config, "web.rescale.enable"), "true"),
			"web-history": false,
		},
	}
}

func (c *Cluster) overviewLocked() map[string]any {
	running, finished, cancelled, failed := 0, 0, 0, 0
	switch c.state {
	case stateFinished:
		finished = 1
	case stateCanceled:
		cancelled = 1
	case stateFailed:
		failed = 1
	default:
		running = 1
	}
	total := c.totalSlots()
	return map[string]any{
		"taskmanagers":           c.taskManagers,
		"slots-total":            total,
		"slots-available":        total - c.usedSlotsLocked(),
		"jobs-running":           running,
		"jobs-finished":          finished,
		"jobs-cancelled":         cancelled,
		"jobs-failed":            failed,
		"flink-version":          c.version.full,
		"flink-commit":           c.version.commit(),
		"taskmanagers-blocked":   0,
		"slots-free-and-blocked": 0,
	}
}

func (c *Cluster) taskManagersLocked(now time.Time) map[string]any {
	used := c.usedSlotsLocked()
	tms := []any{}
	for i := range c.taskManagers {
		free := c.slotsEach
		if used > 0 {
			take := min(used, c.slotsEach)
			free -= take
			used -= take
		}
		tms = append(tms, map[string]any{
			"id":                     fmt.Sprintf("taskmanager-%d", i+1),
			"path":                   fmt.Sprintf("pekko.tcp://flink@taskmanager-%d:6122/user/rpc/taskmanager_0", i+1),
			"dataPort":               6121,
			"jmxPort":                -1,
			"timeSinceLastHeartbeat": now.UnixMilli(),
			"slotsNumber":            c.slotsEach,
			"freeSlots":              free,
			"blocked":                false,
		})
	}
	return map[string]any{"taskmanagers": tms}
}

// effectiveConfigLocked is the JobManager configuration: the spec's Config plus what the
// standalone-job entry point adds for a fixed job id and a restore path.
func (c *Cluster) effectiveConfigLocked() map[string]string {
	cfg := copyMap(c.spec.Config)
	// The JobManager's REST endpoint always has a port: Flink's default unless configured.
	if _, ok := cfg[flinkconf.KeyRestPort]; !ok {
		cfg[flinkconf.KeyRestPort] = "8081"
	}
	if _, ok := cfg["$internal.pipeline.job-id"]; !ok {
		cfg["$internal.pipeline.job-id"] = c.spec.JobID
	}
	if c.spec.RestorePath != "" {
		// The entry point's --fromSavepoint / --allowNonRestoredState set the restore options,
		// which Flink 2.x renamed from execution.savepoint.* to execution.state-recovery.*.
		pathKey, ignoreKey := flinkconf.KeySavepointPath, flinkconf.KeySavepointIgnoreState
		if c.version.major >= 2 {
			pathKey, ignoreKey = flinkconf.KeyStateRecoveryPath, flinkconf.KeyStateRecoveryIgnoreState
		}
		if _, ok := cfg[pathKey]; !ok {
			cfg[pathKey] = c.spec.RestorePath
		}
		if _, ok := cfg[ignoreKey]; !ok {
			cfg[ignoreKey] = strconv.FormatBool(c.spec.AllowNonRestoredState)
		}
	}
	return cfg
}

func (c *Cluster) configEntriesLocked() []any {
	cfg := c.effectiveConfigLocked()
	out := []any{}
	for _, k := range sortedKeys(cfg) {
		v := cfg[k]
		if IsSensitiveKey(k) {
			v = HiddenContent
		}
		out = append(out, map[string]string{"key": k, "value": v})
	}
	return out
}

// HiddenContent is what Flink's REST API shows instead of a sensitive value.
const HiddenContent = "******"

// sensitiveKeyParts are GlobalConfiguration.SENSITIVE_KEYS of Flink 2.1 to 2.3 (1.19 and
// 1.20 lack "api-key", 1.18 also "http-headers"): a key containing one, in lower case, has its
// value hidden.
var sensitiveKeyParts = []string{"password", "secret", "fs.azure.account.key", "apikey", "api-key", "auth-params",
	"service-key", "token", "basic-auth", "jaas.config", "http-headers"}

// IsSensitiveKey is Flink's GlobalConfiguration.isSensitive.
func IsSensitiveKey(key string) bool {
	k := strings.ToLower(key)
	for _, p := range sensitiveKeyParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// ---- job resources ----

func (c *Cluster) taskCountsLocked() map[string]int {
	counts := map[string]int{}
	for _, s := range execStates {
		counts[s] = 0
	}
	for _, v := range c.vertices {
		counts[v.state] += v.parallelism
	}
	return counts
}

func (c *Cluster) durationLocked(now time.Time) int64 {
	end := now
	if !c.endTime.IsZero() {
		end = c.endTime
	}
	return end.Sub(c.startTime).Milliseconds()
}

func (c *Cluster) jobOverviewLocked(now time.Time) map[string]any {
	tasks := map[string]int{"total": 0}
	for state, n := range c.taskCountsLocked() {
		tasks[strings.ToLower(state)] = n
		tasks["total"] += n
	}
	return map[string]any{
		"jid":               c.spec.JobID,
		"name":              c.spec.JobName,
		"start-time":        c.startTime.UnixMilli(),
		"end-time":          millis(c.endTime),
		"duration":          c.durationLocked(now),
		"last-modification": c.lastMod.UnixMilli(),
		"state":             c.state,
		"tasks":             tasks,
	}
}

func (c *Cluster) jobDetailsLocked(now time.Time) map[string]any {
	timestamps := map[string]int64{}
	for _, s := range jobStates {
		timestamps[s] = 0
		if t, ok := c.stateTimes[s]; ok {
			timestamps[s] = t.UnixMilli()
		}
	}
	statusCounts := map[string]int{}
	for _, s := range execStates {
		statusCounts[s] = 0
	}
	vertices := []any{}
	for _, v := range c.vertices {
		statusCounts[v.state]++
		tasks := map[string]int{}
		for _, s := range execStates {
			tasks[s] = 0
		}
		tasks[v.state] = v.parallelism
		duration := int64(-1)
		if !v.start.IsZero() {
			end := now
			if !v.end.IsZero() {
				end = v.end
			}
			duration = end.Sub(v.start).Milliseconds()
		}
		vertices = append(vertices, map[string]any{
			"id":                 v.id,
			"slotSharingGroupId": vertexID("default-slot-sharing-group"),
			"name":               v.name,
			"maxParallelism":     v.maxParallelism,
			"parallelism":        v.parallelism,
			"status":             v.state,
			"start-time":         millis(v.start),
			"end-time":           millis(v.end),
			"duration":           duration,
			"tasks":              tasks,
			"metrics":            ioMetrics(),
		})
	}
	out := map[string]any{
		"jid":            c.spec.JobID,
		"name":           c.spec.JobName,
		"isStoppable":    false,
		"state":          c.state,
		"start-time":     c.startTime.UnixMilli(),
		"end-time":       millis(c.endTime),
		"duration":       c.durationLocked(now),
		"maxParallelism": -1,
		"now":            now.UnixMilli(),
		"timestamps":     timestamps,
		"vertices":       vertices,
		"status-counts":  statusCounts,
		"plan":           c.planLocked(),
	}
	// Flink reports the job type from 1.20 on, the pending operators from 2.0 on.
	if c.version.atLeast(1, 20) {
		out["job-type"] = "STREAMING"
	}
	if c.version.major >= 2 {
		out["pending-operators"] = 0
	}
	return out
}

func ioMetrics() map[string]any {
	return map[string]any{
		"read-bytes": 0, "read-bytes-complete": true,
		"write-bytes": 0, "write-bytes-complete": true,
		"read-records": 0, "read-records-complete": true,
		"write-records": 0, "write-records-complete": true,
		"accumulated-backpressured-time": 0, "accumulated-idle-time": 0, "accumulated-busy-time": 0.0,
	}
}

func (c *Cluster) planLocked() map[string]any {
	nodes := []any{}
	for i, v := range c.vertices {
		node := map[string]any{
			"id":                   v.id,
			"parallelism":          v.parallelism,
			"operator":             "",
			"operator_strategy":    "",
			"description":          v.name,
			"optimizer_properties": map[string]any{},
		}
		if i > 0 {
			ship := "FORWARD"
			if i == 1 {
				ship = "HASH"
			}
			node["inputs"] = []any{map[string]any{
				"num": 0, "id": c.vertices[i-1].id, "ship_strategy": ship, "exchange": "pipelined_bounded",
			}}
		}
		nodes = append(nodes, node)
	}
	return map[string]any{"jid": c.spec.JobID, "name": c.spec.JobName, "type": "STREAMING", "nodes": nodes}
}

func (c *Cluster) jobConfigLocked() map[string]any {
	userConfig := map[string]string{}
	// pipeline.global-job-parameters is a map option: "k1:v1,k2:v2".
	if raw := configValue(c.spec.Config, "pipeline.global-job-parameters"); raw != "" {
		for _, pair := range strings.Split(raw, ",") {
			if k, v, ok := strings.Cut(pair, ":"); ok {
				userConfig[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return map[string]any{
		"jid":  c.spec.JobID,
		"name": c.spec.JobName,
		"execution-config": map[string]any{
			"execution-mode":    "PIPELINED",
			"restart-strategy":  "Cluster level default restart strategy",
			"job-parallelism":   c.spec.Parallelism,
			"object-reuse-mode": strings.EqualFold(configValue(c.spec.Config, "pipeline.object-reuse"), "true"),
			"user-config":       userConfig,
		},
	}
}

func exceptionJSON(e *exceptionEntry, withConcurrent bool) map[string]any {
	out := map[string]any{
		"exceptionName": e.name,
		"stacktrace":    e.stack,
		"timestamp":     e.at.UnixMilli(),
		"failureLabels": map[string]string{},
	}
	if e.taskName != "" {
		out["taskName"] = e.taskName
	}
	if e.endpoint != "" {
		out["location"] = e.endpoint
		out["endpoint"] = e.endpoint
	}
	if e.tmID != "" {
		out["taskManagerId"] = e.tmID
	}
	if withConcurrent {
		concurrent := []any{}
		for _, ce := range e.concurrent {
			concurrent = append(concurrent, exceptionJSON(ce, false))
		}
		out["concurrentExceptions"] = concurrent
	}
	return out
}

func (c *Cluster) exceptionsLocked(w http.ResponseWriter, r *http.Request) {
	limit := len(c.exceptions)
	if raw := r.URL.Query().Get("maxExceptions"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			writeErrors(w, http.StatusBadRequest, fmt.Sprintf(
				"Bad request, could not parse parameters: Cannot resolve query parameter (maxExceptions) from value \"%s\".", raw))
			return
		}
		limit = min(limit, n)
	}
	entries := []any{}
	for _, e := range c.exceptions[:limit] {
		entries = append(entries, exceptionJSON(e, true))
	}
	out := map[string]any{
		"exceptionHistory": map[string]any{"entries": entries, "truncated": limit < len(c.exceptions)},
	}
	if c.version.major < 2 {
		// Flink 1.x still fills the deprecated top-level fields from the latest failure.
		out["root-exception"], out["timestamp"], out["all-exceptions"], out["truncated"] = nil, nil, []any{}, false
		if len(c.exceptions) > 0 {
			latest := c.exceptions[0]
			out["root-exception"] = latest.stack
			out["timestamp"] = latest.at.UnixMilli()
			out["all-exceptions"] = []any{map[string]any{
				"exception":     latest.stack,
				"task":          latest.taskName,
				"location":      latest.endpoint,
				"timestamp":     latest.at.UnixMilli(),
				"taskManagerId": latest.tmID,
			}}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *Cluster) checkpointJSON(s *checkpointStat) map[string]any {
	out := map[string]any{
		"className":                 "completed",
		"id":                        s.id,
		"status":                    s.status,
		"is_savepoint":              s.savepoint,
		"savepointFormat":           nil,
		"trigger_timestamp":         s.triggered.UnixMilli(),
		"latest_ack_timestamp":      s.acked.UnixMilli(),
		"checkpointed_size":         s.stateSize,
		"state_size":                s.stateSize,
		"end_to_end_duration":       s.acked.Sub(s.triggered).Milliseconds(),
		"alignment_buffered":        0,
		"processed_data":            0,
		"persisted_data":            0,
		"num_subtasks":              s.numSubtasks,
		"num_acknowledged_subtasks": s.numSubtasks,
		"checkpoint_type":           s.ctype,
		"tasks":                     map[string]any{},
	}
	if s.savepoint {
		format := s.format
		if format == "" {
			format = "CANONICAL"
		}
		out["savepointFormat"] = format
	}
	if s.status == "FAILED" {
		out["className"] = "failed"
		out["failure_timestamp"] = s.acked.UnixMilli()
		out["failure_message"] = s.failMessage
		out["num_acknowledged_subtasks"] = 0
		out["checkpointed_size"], out["state_size"] = 0, 0
	} else {
		out["external_path"] = s.path
		out["discarded"] = false
	}
	return out
}

func (c *Cluster) checkpointStatsLocked() map[string]any {
	statOrNil := func(s *checkpointStat) any {
		if s == nil {
			return nil
		}
		return c.checkpointJSON(s)
	}
	var restored any
	restoredCount := 0
	if c.spec.RestorePath != "" {
		restoredCount = 1
		restored = map[string]any{
			"id":                c.restoredID,
			"restore_timestamp": c.restoredAt.UnixMilli(),
			"is_savepoint":      restoredCheckpointID(c.spec.RestorePath) == 0,
			"external_path":     c.spec.RestorePath,
		}
	}
	history := []any{}
	for _, s := range c.history {
		history = append(history, c.checkpointJSON(s))
	}
	summary := map[string]any{}
	for _, k := range []string{"checkpointed_size", "state_size", "end_to_end_duration", "alignment_buffered", "processed_data", "persisted_data"} {
		summary[k] = map[string]any{"min": 0, "max": 0, "avg": 0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "p999": 0.0}
	}
	return map[string]any{
		"counts": map[string]any{
			"restored":    restoredCount,
			"total":       c.completedCount + c.failedCount + c.inProgressCount,
			"in_progress": c.inProgressCount,
			"completed":   c.completedCount,
			"failed":      c.failedCount,
		},
		"summary": summary,
		"latest": map[string]any{
			"completed": statOrNil(c.latestCompleted),
			"savepoint": statOrNil(c.latestSavepoint),
			"failed":    statOrNil(c.latestFailed),
			"restored":  restored,
		},
		"history": history,
	}
}

// ---- cancellation ----

func (c *Cluster) cancelLocked(w http.ResponseWriter, r *http.Request, jobID string, now time.Time) {
	mode := r.URL.Query().Get("mode")
	switch strings.ToUpper(mode) {
	case "", "CANCEL":
	case "STOP":
		writeErrors(w, http.StatusPermanentRedirect, "The termination mode \"stop\" has been removed. For an ungraceful shutdown, please use \"cancel\" instead. For a graceful shutdown, please use \"jobs/:jobId/stop\" instead.")
		return
	default:
		writeErrors(w, http.StatusBadRequest, fmt.Sprintf(
			"Bad request, could not parse parameters: Cannot resolve query parameter (mode) from value \"%s\".", mode))
		return
	}
	if jobID != c.spec.JobID {
		writeErrors(w, http.StatusNotFound, stackTrace(
			"org.apache.flink.runtime.rest.handler.RestHandlerException: Job could not be found.",
			"org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job ("+jobID+")"))
		return
	}
	switch c.state {
	case stateCanceled, stateCancelling:
	case stateFinished, stateFailed:
		writeErrors(w, http.StatusConflict, stackTrace(
			"org.apache.flink.runtime.rest.handler.RestHandlerException: Job cancellation failed because the job has already reached another terminal state ("+c.state+").",
			"org.apache.flink.runtime.messages.FlinkJobTerminatedWithoutCancellationException: Flink job ("+jobID+") was not canceled, but instead "+c.state+"."))
		return
	default:
		c.setStateLocked(stateCancelling, now)
		for _, v := range c.vertices {
			if v.state == execDeploying || v.state == execRunning {
				c.setVertexLocked(v, execCanceling, now)
			} else {
				c.setVertexLocked(v, execCanceled, now)
			}
		}
		c.nextCheckpointAt = time.Time{}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{})
}

// ---- savepoints ----

type savepointTriggerBody struct {
	TargetDirectory *string `json:"target-directory"`
	CancelJob       bool    `json:"cancel-job"`
	FormatType      *string `json:"formatType"`
	TriggerID       *string `json:"triggerId"`
}

type stopBody struct {
	TargetDirectory *string `json:"targetDirectory"`
	Drain           bool    `json:"drain"`
	FormatType      *string `json:"formatType"`
	TriggerID       *string `json:"triggerId"`
}

func (c *Cluster) triggerSavepointLocked(w http.ResponseWriter, r *http.Request, jobID, kind string, now time.Time) {
	var (
		dir, format, triggerID *string
		cancelJob, drain       bool
		requestClass           = "SavepointTriggerRequestBody"
		dirField               = "target-directory"
	)
	if kind == "stop" {
		requestClass, dirField = "StopWithSavepointRequestBody", "targetDirectory"
		var body stopBody
		if err := decodeStrict(r, &body); err != nil {
			badFormat(w, requestClass)
			return
		}
		dir, format, triggerID, drain = body.TargetDirectory, body.FormatType, body.TriggerID, body.Drain
	} else {
		var body savepointTriggerBody
		if err := decodeStrict(r, &body); err != nil {
			badFormat(w, requestClass)
			return
		}
		dir, format, triggerID, cancelJob = body.TargetDirectory, body.FormatType, body.TriggerID, body.CancelJob
	}
	if format != nil && *format != "CANONICAL" && *format != "NATIVE" {
		badFormat(w, requestClass)
		return
	}
	if triggerID != nil && !isHexID(*triggerID) {
		badFormat(w, requestClass)
		return
	}
	targetDir := c.savepointDir
	if dir != nil {
		targetDir = *dir
	}
	if targetDir == "" {
		key := "state.savepoints.dir"
		if c.version.atLeast(1, 20) {
			key = "execution.checkpointing.savepoint-dir"
		}
		writeErrors(w, http.StatusBadRequest, stackTrace(fmt.Sprintf(
			"org.apache.flink.runtime.rest.handler.RestHandlerException: Config key [%s] is not set. Property [%s] must be provided.", key, dirField)))
		return
	}
	id := randomHex(32)
	if triggerID != nil {
		id = strings.ToLower(*triggerID)
		if _, exists := c.savepoints[jobID+"/"+id]; exists {
			// Flink treats a repeated trigger id as the same operation.
			writeJSON(w, http.StatusAccepted, map[string]any{"request-id": id})
			return
		}
	}
	op := &operation{kind: kind, triggerID: id, jobID: jobID, cancelJob: cancelJob, drain: drain, triggered: now}
	if format != nil {
		op.format = *format
	}
	c.startSavepointLocked(op, targetDir)
	writeJSON(w, http.StatusAccepted, map[string]any{"request-id": id})
}

func asyncJSON(op *operation, withLocation bool) map[string]any {
	if !op.completed {
		return map[string]any{"status": map[string]any{"id": "IN_PROGRESS"}}
	}
	operation := map[string]any{}
	switch {
	case op.failure != nil:
		operation["failure-cause"] = op.failure.json()
	case withLocation:
		operation["location"] = op.location
	}
	return map[string]any{"status": map[string]any{"id": "COMPLETED"}, "operation": operation}
}

func (c *Cluster) savepointStatusLocked(w http.ResponseWriter, jobID, triggerID string) {
	op, ok := c.savepoints[jobID+"/"+triggerID]
	if !ok {
		writeErrors(w, http.StatusNotFound, savepointNotFound(jobID, triggerID))
		return
	}
	writeJSON(w, http.StatusOK, asyncJSON(op, true))
}

// ---- savepoint disposal ----

func (c *Cluster) triggerDisposalLocked(w http.ResponseWriter, r *http.Request, now time.Time) {
	var body struct {
		Path *string `json:"savepoint-path"`
	}
	if err := decodeStrict(r, &body); err != nil || body.Path == nil || *body.Path == "" {
		badFormat(w, "SavepointDisposalRequest")
		return
	}
	op := &operation{kind: "disposal", triggerID: randomHex(32), location: *body.Path, triggered: now}
	c.startDisposalLocked(op)
	writeJSON(w, http.StatusOK, map[string]any{"request-id": op.triggerID})
}

func (c *Cluster) disposalStatusLocked(w http.ResponseWriter, rawTrigger string) {
	triggerID, ok := parseIDParam(w, "triggerid", rawTrigger)
	if !ok {
		return
	}
	op, ok := c.disposals[triggerID]
	if !ok {
		writeErrors(w, http.StatusNotFound, stackTrace(
			"org.apache.flink.runtime.rest.NotFoundException: Operation not found under key: org.apache.flink.runtime.rest.handler.async.OperationKey@"+operationKeyHash(triggerID)))
		return
	}
	writeJSON(w, http.StatusOK, asyncJSON(op, false))
}

// operationKeyHash renders the Java identity Flink prints for an OperationKey, which has no
// toString: its hashCode in hex, 31 + the trigger id's AbstractID hash (the XOR of the
// 32-bit halves of its two longs), as Objects.hash computes it.
func operationKeyHash(triggerID string) string {
	upper, _ := strconv.ParseUint(triggerID[:16], 16, 64)
	lower, _ := strconv.ParseUint(triggerID[16:], 16, 64)
	idHash := uint32(lower) ^ uint32(lower>>32) ^ uint32(upper) ^ uint32(upper>>32)
	return strconv.FormatUint(uint64(31+idHash), 16)
}

// ---- resource requirements ----

func writeServerError(w http.ResponseWriter, chain ...string) {
	writeErrors(w, http.StatusInternalServerError, "Internal server error.", serverSideException(chain...))
}

// jobMasterBlocker is the server-side exception of operations that need the job's
// JobMaster, which exists only while the job is initialized and not terminated.
func (c *Cluster) jobMasterBlockerLocked(jobID string) []string {
	switch {
	case jobID != c.spec.JobID || isGloballyTerminal(c.state):
		return []string{"org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (" + jobID + ")"}
	case c.state == stateInitializing:
		return []string{"org.apache.flink.runtime.dispatcher.UnavailableDispatcherOperationException: Unable to get JobMasterGateway for initializing job. The requested operation is not available while the JobManager is initializing."}
	}
	return nil
}

func (c *Cluster) unsupportedSchedulerError(w http.ResponseWriter) {
	writeServerError(w, "java.lang.UnsupportedOperationException: The DefaultScheduler does not support changing the parallelism without a job restart. This feature is currently only expected to work with the AdaptiveScheduler.")
}

func (c *Cluster) getRequirementsLocked(w http.ResponseWriter, jobID string) {
	if chain := c.jobMasterBlockerLocked(jobID); chain != nil {
		writeServerError(w, chain...)
		return
	}
	if !c.adaptive {
		c.unsupportedSchedulerError(w)
		return
	}
	out := map[string]any{}
	for _, v := range c.vertices {
		out[v.id] = map[string]any{"parallelism": map[string]int{"lowerBound": v.lower, "upperBound": v.upper}}
	}
	writeJSON(w, http.StatusOK, out)
}

type requirementBody struct {
	Parallelism struct {
		LowerBound int `json:"lowerBound"`
		UpperBound int `json:"upperBound"`
	} `json:"parallelism"`
}

func (c *Cluster) putRequirementsLocked(w http.ResponseWriter, r *http.Request, jobID string, now time.Time) {
	var body map[string]requirementBody
	if err := decodeStrict(r, &body); err != nil {
		badFormat(w, "JobResourceRequirementsBody")
		return
	}
	for id := range body {
		if !isHexID(id) {
			badFormat(w, "JobResourceRequirementsBody")
			return
		}
	}
	if len(body) == 0 {
		writeErrors(w, http.StatusBadRequest, stackTrace(
			"org.apache.flink.runtime.rest.handler.RestHandlerException: Request body does not specify resource requirements."))
		return
	}
	if chain := c.jobMasterBlockerLocked(jobID); chain != nil {
		writeServerError(w, chain...)
		return
	}
	type bounds struct{ lower, upper int }
	wanted := map[string]bounds{}
	var problems []string
	known := map[string]*vertex{}
	for _, v := range c.vertices {
		known[v.id] = v
	}
	for rawID, req := range body {
		id := strings.ToLower(rawID)
		v, ok := known[id]
		if !ok {
			problems = append(problems, fmt.Sprintf("Job vertex [%s] was not found in the JobGraph.", id))
			continue
		}
		lower, upper := req.Parallelism.LowerBound, req.Parallelism.UpperBound
		if lower == -1 {
			lower = 1
		}
		if upper == -1 {
			upper = v.maxParallelism
		}
		if lower < 1 || upper < 1 {
			problems = append(problems, fmt.Sprintf(
				"Both, the requested lower bound [%d] and upper bound [%d] for job vertex [%s] must be greater than zero.", lower, upper, id))
			continue
		}
		if lower > upper {
			problems = append(problems, fmt.Sprintf(
				"The requested lower bound [%d] for job vertex [%s] is higher than the upper bound [%d].", lower, id, upper))
		}
		if upper > v.maxParallelism {
			problems = append(problems, fmt.Sprintf(
				"The newly requested parallelism %d for the job vertex %s exceeds its maximum parallelism %d.", upper, id, v.maxParallelism))
		}
		wanted[id] = bounds{lower, upper}
	}
	for _, v := range c.vertices {
		if _, ok := body[v.id]; !ok && !containsFold(body, v.id) {
			problems = append(problems, fmt.Sprintf(
				"The request is incomplete, missing job vertex [%s] resource requirements.", v.id))
		}
	}
	if len(problems) > 0 {
		writeErrors(w, http.StatusBadRequest, stackTrace(
			"org.apache.flink.runtime.rest.handler.RestHandlerException: "+strings.Join(problems, "\n")))
		return
	}
	if !c.adaptive {
		c.unsupportedSchedulerError(w)
		return
	}
	for _, v := range c.vertices {
		b := wanted[v.id]
		v.lower, v.upper = b.lower, b.upper
	}
	if c.state == stateRunning {
		changed := c.verticesIn(execScheduled)
		for _, v := range c.vertices {
			if c.targetParallelismLocked(v) != v.parallelism {
				changed = true
			}
		}
		if changed {
			c.stateTimes[stateRestarting] = now
			c.stateTimes[stateRunning] = now
			c.placeVerticesLocked(now)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func containsFold(m map[string]requirementBody, id string) bool {
	for k := range m {
		if strings.EqualFold(k, id) {
			return true
		}
	}
	return false
}
