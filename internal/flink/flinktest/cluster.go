package flinktest

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
)

// Cluster emulates the JobManager of one standalone application cluster running one job.
// It implements http.Handler and is safe for concurrent use. State transitions are driven
// by the clock: every request and accessor first brings the state up to date.
type Cluster struct {
	mu      sync.Mutex
	spec    JobSpec
	version flinkVersion
	timings Timings
	faults  *Faults

	done      chan struct{}
	closeOnce sync.Once

	taskManagers, slotsEach int

	state      string
	stateSince time.Time
	stateTimes map[string]time.Time // when the job last entered each state
	startTime  time.Time
	endTime    time.Time
	lastMod    time.Time
	vertices   []*vertex

	adaptive           bool
	checkpointInterval time.Duration
	checkpointDir      string
	savepointDir       string
	nextCheckpointID   int64
	nextCheckpointAt   time.Time // zero while periodic checkpoints are not due
	history            []*checkpointStat
	completedCount     int64
	failedCount        int64
	inProgressCount    int64
	latestCompleted    *checkpointStat
	latestSavepoint    *checkpointStat
	latestFailed       *checkpointStat
	restoredID         int64
	restoredAt         time.Time

	exceptions []*exceptionEntry // newest first
	rootFailed *exceptionEntry   // the failure that put the job in FAILED, if any

	savepoints map[string]*operation // key: jobID + "/" + triggerID
	disposals  map[string]*operation
	disposed   []string
	completed  []string // locations of completed savepoints, oldest first

	onSavepoint func(path string) error
	// onCheckpoint sees every retained checkpoint as it completes (under the lock).
	onCheckpoint func(path string)
	onDispose    func(path string) error
}

type vertex struct {
	id, name       string
	lower, upper   int // resource requirements (adaptive scheduler); upper = configured parallelism
	parallelism    int // current parallelism
	maxParallelism int
	state          string
	since          time.Time
	start, end     time.Time
}

type checkpointStat struct {
	id          int64
	status      string // COMPLETED or FAILED
	savepoint   bool
	format      string
	ctype       string
	triggered   time.Time
	acked       time.Time
	path        string
	failMessage string
	numSubtasks int
	stateSize   int64
}

type exceptionEntry struct {
	name       string
	stack      string
	at         time.Time
	taskName   string
	endpoint   string
	tmID       string
	concurrent []*exceptionEntry
}

type operation struct {
	kind         string // "savepoint", "stop", "disposal"
	triggerID    string
	jobID        string
	completed    bool
	location     string
	failure      *failure
	cancelJob    bool
	drain        bool
	format       string
	checkpointID int64
	triggered    time.Time
}

type failure struct {
	class string
	stack string
}

// NewCluster starts an emulated JobManager whose job begins INITIALIZING now. Until
// SetTaskManagers is called, one TaskManager with exactly enough slots for the job is
// registered, so the job becomes healthy on its own within a few tens of milliseconds.
// NewCluster panics if spec.JobID is set but is not 32 hex digits.
func NewCluster(spec JobSpec) *Cluster {
	spec.Config = copyMap(spec.Config)
	if spec.JobID == "" {
		spec.JobID = randomHex(32)
	}
	if !isHexID(spec.JobID) {
		panic(fmt.Sprintf("flinktest: job id %q is not 32 hex digits", spec.JobID))
	}
	spec.JobID = strings.ToLower(spec.JobID)
	if spec.JobName == "" {
		spec.JobName = "flink-job"
	}
	if spec.Parallelism <= 0 {
		spec.Parallelism, _ = strconv.Atoi(configValue(spec.Config, "parallelism.default"))
		if spec.Parallelism <= 0 {
			spec.Parallelism = 1
		}
	}
	version := parseVersion(spec.FlinkVersion)
	spec.FlinkVersion = version.full

	now := time.Now()
	c := &Cluster{
		spec:             spec,
		version:          version,
		timings:          DefaultTimings(),
		faults:           &Faults{},
		done:             make(chan struct{}),
		taskManagers:     1,
		slotsEach:        spec.Parallelism,
		stateTimes:       map[string]time.Time{},
		savepoints:       map[string]*operation{},
		disposals:        map[string]*operation{},
		nextCheckpointID: 1,
		adaptive: strings.EqualFold(configValue(spec.Config, flinkconf.KeyScheduler), "adaptive") ||
			strings.EqualFold(configValue(spec.Config, "scheduler-mode"), "reactive"),
		checkpointDir: configValue(spec.Config, flinkconf.CheckpointDirKeys...),
		savepointDir:  spec.SavepointDir,
	}
	if c.savepointDir == "" {
		c.savepointDir = configValue(spec.Config, flinkconf.SavepointDirKeys...)
	}
	if v := configValue(spec.Config, flinkconf.KeyCheckpointInterval); v != "" {
		if d, err := parseFlinkDuration(v); err == nil && d > 0 {
			c.checkpointInterval = d
		}
	}
	maxPar := defaultMaxParallelism(spec.Parallelism)
	if mp, err := strconv.Atoi(configValue(spec.Config, "pipeline.max-parallelism")); err == nil && mp > 0 {
		maxPar = mp
	}
	for _, name := range []string{"Source", "Counter", "Sink"} {
		c.vertices = append(c.vertices, &vertex{
			id: vertexID(name), name: name,
			lower: 1, upper: spec.Parallelism, parallelism: spec.Parallelism, maxParallelism: maxPar,
			state: execCreated, since: now,
		})
	}
	if spec.RestorePath != "" {
		c.restoredAt = now
		c.restoredID = restoredCheckpointID(spec.RestorePath)
		if c.restoredID > 0 {
			c.nextCheckpointID = c.restoredID + 1
		}
	}
	c.startTime = now
	c.setStateLocked(stateInitializing, now)
	return c
}

var chkPathID = regexp.MustCompile(`chk-(\d+)/?$`)

// restoredCheckpointID is the id of a retained checkpoint path ".../chk-42", else 0.
func restoredCheckpointID(path string) int64 {
	m := chkPathID.FindStringSubmatch(strings.TrimSuffix(path, "/_metadata"))
	if m == nil {
		return 0
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Close stops the cluster's timers: savepoints and disposals still in progress never
// complete. The cluster keeps answering requests.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() { close(c.done) })
}

// JobID returns the job's id (lower case).
func (c *Cluster) JobID() string { return c.spec.JobID }

// Spec returns the normalised spec (defaults filled in).
func (c *Cluster) Spec() JobSpec {
	s := c.spec
	s.Config = copyMap(c.spec.Config)
	return s
}

// Faults returns the cluster's fault injector.
func (c *Cluster) Faults() *Faults { return c.faults }

// SetTimings changes the durations of transitions still to come.
func (c *Cluster) SetTimings(t Timings) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked(time.Now())
	c.timings = t.withDefaults()
}

// OnSavepoint registers a hook called when a savepoint is about to complete, with its
// location (e.g. to write "<location>/_metadata" into a test bucket). If the hook returns
// an error, the savepoint fails with it. The hook runs without the cluster's lock held.
func (c *Cluster) OnSavepoint(fn func(path string) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onSavepoint = fn
}

// OnCheckpoint registers a hook called with the path of every externally addressable
// checkpoint as it completes (e.g. to write its _metadata into a test bucket). It runs with
// the cluster's lock held and must not call back into the cluster.
func (c *Cluster) OnCheckpoint(fn func(path string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onCheckpoint = fn
}

// OnDispose registers a hook called when a savepoint disposal is about to complete. If it
// returns an error, the disposal fails with it (as Flink's does for a missing savepoint).
func (c *Cluster) OnDispose(fn func(path string) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onDispose = fn
}

// SetTaskManagers sets the registered TaskManagers and their slots. Vertices waiting for
// slots are deployed once there are enough; a running job that loses the slots it needs
// restarts (recording the failure in its exception history) and waits SCHEDULED. Under the
// adaptive scheduler the job instead runs with the parallelism the slots allow.
func (c *Cluster) SetTaskManagers(n, slotsEach int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.advanceLocked(now)
	c.taskManagers, c.slotsEach = max(n, 0), max(slotsEach, 0)
	c.reconcileSlotsLocked(now)
}

// JobState returns the job's current state, e.g. "RUNNING".
func (c *Cluster) JobState() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked(time.Now())
	return c.state
}

// VertexStates returns the execution state of each vertex by name.
func (c *Cluster) VertexStates() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked(time.Now())
	out := map[string]string{}
	for _, v := range c.vertices {
		out[v.name] = v.state
	}
	return out
}

// VertexParallelism returns the current parallelism of each vertex by name.
func (c *Cluster) VertexParallelism() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked(time.Now())
	out := map[string]int{}
	for _, v := range c.vertices {
		out[v.name] = v.parallelism
	}
	return out
}

// RestoredFrom returns the path the job restored from ("" if it started empty).
func (c *Cluster) RestoredFrom() string { return c.spec.RestorePath }

// DisposedPaths returns the savepoint paths disposed successfully, in order.
func (c *Cluster) DisposedPaths() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.disposed...)
}

// Savepoints returns the locations of the savepoints completed so far, oldest first.
func (c *Cluster) Savepoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.completed...)
}

// ForgetOperations drops every cached savepoint and stop-with-savepoint operation, as Flink
// does once rest.async.store-duration (5 min) has passed or after a JobManager restart:
// asking for their status then answers 404 "There is no savepoint operation with
// triggerId=...". Operations still in progress carry on (their savepoints still complete);
// only their status is gone.
func (c *Cluster) ForgetOperations() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.savepoints {
		delete(c.savepoints, key)
	}
}

// Cancel cancels the job out of band (as if from the web UI): it is CANCELED at once.
func (c *Cluster) Cancel() { c.end(stateCanceled, execCanceled) }

// Finish ends the job as a bounded job ends, its sources exhausted: it is FINISHED at once.
func (c *Cluster) Finish() { c.end(stateFinished, execFinished) }

// end ends a job that has not ended yet in state, every task in execState.
func (c *Cluster) end(state, execState string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.advanceLocked(now)
	if isGloballyTerminal(c.state) {
		return
	}
	c.terminateLocked(state, now, func(*vertex) string { return execState })
}

// Fail fails the job with reason as root exception: it is FAILED at once.
func (c *Cluster) Fail(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.advanceLocked(now)
	if isGloballyTerminal(c.state) {
		return
	}
	src := c.vertices[0]
	entry := &exceptionEntry{
		name:     "java.lang.RuntimeException",
		stack:    stackTrace("java.lang.RuntimeException: " + reason),
		at:       now,
		taskName: fmt.Sprintf("%s (1/%d)#0", src.name, src.parallelism),
		endpoint: "taskmanager-1:6122",
		tmID:     "taskmanager-1",
	}
	c.exceptions = append([]*exceptionEntry{entry}, c.exceptions...)
	c.rootFailed = entry
	c.terminateLocked(stateFailed, now, func(v *vertex) string {
		if v == src {
			return execFailed
		}
		return execCanceled
	})
}

// ---- state machine (all *Locked methods require c.mu) ----

func (c *Cluster) setStateLocked(state string, at time.Time) {
	c.state = state
	c.stateSince = at
	c.stateTimes[state] = at
	c.lastMod = at
}

func (c *Cluster) setVerticesLocked(state string, at time.Time) {
	for _, v := range c.vertices {
		c.setVertexLocked(v, state, at)
	}
}

func (c *Cluster) setVertexLocked(v *vertex, state string, at time.Time) {
	v.state, v.since = state, at
	switch state {
	case execDeploying, execRunning:
		if v.start.IsZero() {
			v.start = at
		}
	case execFinished, execCanceled, execFailed:
		v.end = at
	}
	c.lastMod = at
}

func (c *Cluster) verticesIn(state string) bool {
	for _, v := range c.vertices {
		if v.state != state {
			return false
		}
	}
	return true
}

// advanceLocked applies every transition that is due by now, at the time it was due.
func (c *Cluster) advanceLocked(now time.Time) {
	for range 16 {
		switch c.state {
		case stateInitializing:
			due := c.stateSince.Add(c.timings.Initializing)
			if now.Before(due) {
				return
			}
			c.setStateLocked(stateCreated, due)
		case stateCreated:
			due := c.stateSince.Add(c.timings.Created)
			if now.Before(due) {
				return
			}
			c.setStateLocked(stateRunning, due)
			c.placeVerticesLocked(due)
		case stateRunning:
			if c.verticesIn(execDeploying) {
				due := c.vertices[0].since.Add(c.timings.Deploying)
				if now.Before(due) {
					return
				}
				c.setVerticesLocked(execRunning, due)
				if c.checkpointInterval > 0 {
					c.nextCheckpointAt = due.Add(c.checkpointInterval)
				}
			}
			c.checkpointsLocked(now)
			return
		case stateCancelling:
			due := c.stateSince.Add(c.timings.Cancelling)
			if now.Before(due) {
				return
			}
			c.terminateLocked(stateCanceled, due, func(*vertex) string { return execCanceled })
		default:
			return
		}
	}
}

func (c *Cluster) totalSlots() int { return c.taskManagers * c.slotsEach }

// requiredSlots is the number of slots the job needs to deploy: with slot sharing, the
// highest vertex parallelism (the highest lower bound under the adaptive scheduler).
func (c *Cluster) requiredSlotsLocked() int {
	need := 0
	for _, v := range c.vertices {
		if c.adaptive {
			need = max(need, v.lower)
		} else {
			need = max(need, v.upper)
		}
	}
	return need
}

func (c *Cluster) usedSlotsLocked() int {
	if c.state != stateRunning {
		return 0
	}
	used := 0
	for _, v := range c.vertices {
		used = max(used, v.parallelism)
	}
	return min(used, c.totalSlots())
}

// targetParallelism is the parallelism a vertex gets with the current slots.
func (c *Cluster) targetParallelismLocked(v *vertex) int {
	if c.adaptive && c.totalSlots() >= v.lower {
		return max(min(v.upper, c.totalSlots()), v.lower)
	}
	return v.upper
}

// placeVerticesLocked deploys the vertices if the slots suffice, else leaves them waiting.
func (c *Cluster) placeVerticesLocked(at time.Time) {
	for _, v := range c.vertices {
		v.parallelism = c.targetParallelismLocked(v)
	}
	c.nextCheckpointAt = time.Time{}
	if c.totalSlots() >= c.requiredSlotsLocked() {
		c.setVerticesLocked(execDeploying, at)
	} else {
		c.setVerticesLocked(execScheduled, at)
	}
}

// reconcileSlotsLocked reacts to a change of slots or requirements of a RUNNING job.
func (c *Cluster) reconcileSlotsLocked(now time.Time) {
	if c.state != stateRunning {
		return
	}
	enough := c.totalSlots() >= c.requiredSlotsLocked()
	switch {
	case c.verticesIn(execScheduled):
		if enough {
			c.placeVerticesLocked(now)
		}
	case !enough:
		c.recordRestartLocked(now, "org.apache.flink.runtime.jobmaster.JobMasterException",
			"TaskManager with id taskmanager-1 is no longer reachable.")
		c.placeVerticesLocked(now)
	case c.adaptive:
		changed := false
		for _, v := range c.vertices {
			if c.targetParallelismLocked(v) != v.parallelism {
				changed = true
			}
		}
		if changed {
			// The adaptive scheduler restarts the job with the new parallelism.
			c.stateTimes[stateRestarting] = now
			c.stateTimes[stateRunning] = now
			c.placeVerticesLocked(now)
		}
	}
}

func (c *Cluster) recordRestartLocked(now time.Time, class, message string) {
	c.exceptions = append([]*exceptionEntry{{
		name:     class,
		stack:    stackTrace(class + ": " + message),
		at:       now,
		taskName: fmt.Sprintf("%s (1/%d)#0", c.vertices[0].name, c.vertices[0].parallelism),
		endpoint: "taskmanager-1:6122",
		tmID:     "taskmanager-1",
	}}, c.exceptions...)
	c.stateTimes[stateRestarting] = now
	c.stateTimes[stateRunning] = now
}

func (c *Cluster) terminateLocked(final string, at time.Time, vertexState func(*vertex) string) {
	for _, v := range c.vertices {
		c.setVertexLocked(v, vertexState(v), at)
	}
	c.setStateLocked(final, at)
	c.endTime = at
	c.nextCheckpointAt = time.Time{}
}

// checkpointsLocked completes the periodic checkpoints that are due.
func (c *Cluster) checkpointsLocked(now time.Time) {
	if c.checkpointInterval <= 0 || c.nextCheckpointAt.IsZero() || c.state != stateRunning || !c.verticesIn(execRunning) {
		return
	}
	for n := 0; !c.nextCheckpointAt.After(now); n++ {
		if n >= 64 { // a long pause: skip ahead rather than fill the history
			skipped := int64(now.Sub(c.nextCheckpointAt) / c.checkpointInterval)
			c.nextCheckpointID += skipped
			c.completedCount += skipped
			c.nextCheckpointAt = c.nextCheckpointAt.Add(time.Duration(skipped) * c.checkpointInterval)
		}
		at := c.nextCheckpointAt
		id := c.nextCheckpointID
		c.nextCheckpointID++
		path := "<checkpoint-not-externally-addressable>"
		if c.checkpointDir != "" {
			path = joinStoragePath(c.checkpointDir, fmt.Sprintf("%s/chk-%d", c.spec.JobID, id))
		}
		stat := &checkpointStat{
			id: id, status: "COMPLETED", ctype: "CHECKPOINT",
			triggered: at.Add(-time.Millisecond), acked: at, path: path,
			numSubtasks: c.numSubtasksLocked(), stateSize: 4096 + 512*id,
		}
		c.completedCount++
		c.latestCompleted = stat
		c.addHistoryLocked(stat)
		c.nextCheckpointAt = at.Add(c.checkpointInterval)
		if c.onCheckpoint != nil && c.checkpointDir != "" {
			c.onCheckpoint(path)
		}
	}
}

func (c *Cluster) numSubtasksLocked() int {
	n := 0
	for _, v := range c.vertices {
		n += v.parallelism
	}
	return n
}

func (c *Cluster) addHistoryLocked(s *checkpointStat) {
	c.history = append([]*checkpointStat{s}, c.history...)
	if len(c.history) > 10 {
		c.history = c.history[:10]
	}
}

// ---- savepoints ----

// savepointBlocker explains why a savepoint cannot start now, as the failure Flink would
// report; nil if it can.
func (c *Cluster) savepointBlockerLocked(jobID string) *failure {
	switch {
	case jobID != c.spec.JobID || isGloballyTerminal(c.state):
		return newFailure(
			"org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (" + jobID + ")")
	case c.state == stateInitializing:
		return newFailure(
			"org.apache.flink.runtime.dispatcher.UnavailableDispatcherOperationException: Unable to get JobMasterGateway for initializing job. The requested operation is not available while the JobManager is initializing.")
	case c.state != stateRunning || !c.verticesIn(execRunning):
		v := c.vertices[0]
		return newFailure(
			"java.util.concurrent.CompletionException: org.apache.flink.runtime.checkpoint.CheckpointException: Checkpoint triggering task "+
				fmt.Sprintf("%s (1/%d) of job %s is not being executed at the moment. Aborting checkpoint. Failure reason: Not all required tasks are currently running.", v.name, v.parallelism, c.spec.JobID),
			"org.apache.flink.runtime.checkpoint.CheckpointException: Checkpoint triggering task "+
				fmt.Sprintf("%s (1/%d) of job %s is not being executed at the moment. Aborting checkpoint. Failure reason: Not all required tasks are currently running.", v.name, v.parallelism, c.spec.JobID))
	}
	return nil
}

// startSavepointLocked registers a savepoint operation and, unless it fails at once,
// completes it asynchronously.
func (c *Cluster) startSavepointLocked(op *operation, dir string) {
	c.savepoints[op.jobID+"/"+op.triggerID] = op
	if f := c.savepointBlockerLocked(op.jobID); f != nil {
		op.completed, op.failure = true, f
		return
	}
	op.checkpointID = c.nextCheckpointID
	c.nextCheckpointID++
	op.location = joinStoragePath(dir, fmt.Sprintf("savepoint-%s-%s", c.spec.JobID[:6], randomHex(12)))
	c.inProgressCount++
	_, delay := c.faults.savepointFault()
	if delay <= 0 {
		delay = c.timings.Savepoint
	}
	go c.completeSavepoint(op, delay)
}

func (c *Cluster) completeSavepoint(op *operation, delay time.Duration) {
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-c.done:
		return
	}

	c.mu.Lock()
	now := time.Now()
	c.advanceLocked(now)
	if c.state != stateRunning || !c.verticesIn(execRunning) {
		c.failSavepointLocked(op, now, "Checkpoint Coordinator is suspending.", "")
		c.mu.Unlock()
		return
	}
	if cause, _ := c.faults.savepointFault(); cause != "" {
		c.failSavepointLocked(op, now, "Failure to finalize checkpoint.", "java.io.IOException: "+cause)
		c.mu.Unlock()
		return
	}
	hook := c.onSavepoint
	c.mu.Unlock()

	var hookErr error
	if hook != nil {
		hookErr = hook(op.location)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	now = time.Now()
	c.advanceLocked(now)
	switch {
	case hookErr != nil:
		c.failSavepointLocked(op, now, "Failure to finalize checkpoint.", "java.io.IOException: "+hookErr.Error())
		return
	case c.state != stateRunning || !c.verticesIn(execRunning):
		c.failSavepointLocked(op, now, "Checkpoint Coordinator is suspending.", "")
		return
	}
	ctype := "SAVEPOINT"
	if op.kind == "stop" {
		ctype = "SYNC_SAVEPOINT"
	}
	stat := &checkpointStat{
		id: op.checkpointID, status: "COMPLETED", savepoint: true, format: op.format, ctype: ctype,
		triggered: op.triggered, acked: now, path: op.location,
		numSubtasks: c.numSubtasksLocked(), stateSize: 4096 + 512*op.checkpointID,
	}
	c.inProgressCount--
	c.completedCount++
	c.latestSavepoint = stat
	c.addHistoryLocked(stat)
	c.completed = append(c.completed, op.location)
	op.completed = true
	switch {
	case op.kind == "stop":
		c.terminateLocked(stateFinished, now, func(*vertex) string { return execFinished })
	case op.cancelJob:
		c.terminateLocked(stateCanceled, now, func(*vertex) string { return execCanceled })
	}
}

// failSavepointLocked completes op with a CheckpointException (message), caused by cause
// when given.
func (c *Cluster) failSavepointLocked(op *operation, now time.Time, message, cause string) {
	chain := []string{
		"java.util.concurrent.CompletionException: org.apache.flink.runtime.checkpoint.CheckpointException: " + message,
		"org.apache.flink.runtime.checkpoint.CheckpointException: " + message,
	}
	failMessage := message
	if cause != "" {
		chain = append(chain, cause)
		failMessage = cause
	}
	op.completed, op.failure, op.location = true, newFailure(chain...), ""
	c.inProgressCount--
	c.failedCount++
	stat := &checkpointStat{
		id: op.checkpointID, status: "FAILED", savepoint: true, format: op.format, ctype: "SAVEPOINT",
		triggered: op.triggered, acked: now, failMessage: failMessage, numSubtasks: c.numSubtasksLocked(),
	}
	if op.kind == "stop" {
		stat.ctype = "SYNC_SAVEPOINT"
	}
	c.latestFailed = stat
	c.addHistoryLocked(stat)
}

// ---- disposals ----

func (c *Cluster) startDisposalLocked(op *operation) {
	c.disposals[op.triggerID] = op
	go c.completeDisposal(op, c.timings.Disposal)
}

func (c *Cluster) completeDisposal(op *operation, delay time.Duration) {
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-c.done:
		return
	}
	c.mu.Lock()
	hook := c.onDispose
	c.mu.Unlock()
	err := error(nil)
	if cause := c.faults.disposalFault(); cause != "" {
		err = fmt.Errorf("%s", cause)
	} else if hook != nil {
		err = hook(op.location)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	op.completed = true
	if err != nil {
		op.failure = newFailure(
			"java.util.concurrent.CompletionException: java.io.IOException: "+err.Error(),
			"java.io.IOException: "+err.Error())
		return
	}
	c.disposed = append(c.disposed, op.location)
}

// ---- throwables ----

// stackTrace renders a Java-like stack trace: chain[0] is the outermost exception
// ("class: message"), every further entry a "Caused by:".
func stackTrace(chain ...string) string {
	var b strings.Builder
	for i, e := range chain {
		if i > 0 {
			b.WriteString("Caused by: ")
		}
		b.WriteString(e)
		b.WriteString("\n\tat org.apache.flink.flinktest.Emulator.respond(emulated)\n")
		if i > 0 {
			b.WriteString("\t... 1 more\n")
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func newFailure(chain ...string) *failure {
	class := chain[0]
	if i := strings.Index(class, ":"); i >= 0 {
		class = class[:i]
	}
	return &failure{class: class, stack: stackTrace(chain...)}
}

func (f *failure) json() map[string]any {
	return map[string]any{
		"class":                f.class,
		"stack-trace":          f.stack,
		"serialized-throwable": base64.StdEncoding.EncodeToString([]byte(f.stack)),
	}
}

// serverSideException wraps a stack trace the way Flink reports unhandled exceptions in
// the second entry of a 500's errors.
func serverSideException(chain ...string) string {
	return "<Exception on server side:\n" + stackTrace(chain...) + "\n\nEnd of exception on server side>"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
