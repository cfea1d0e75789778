package lifecycle

// The fault table: every stateful operation (upgrade, suspend, resume, destroy, snapshot)
// run under each fault a production cluster throws at it, then applied again as the next
// terraform apply would. For every case the promise must hold: no savepoint Flink completed
// is left unrecorded, no job starts from older state than the newest savepoint taken, no
// healthy job is replaced without a savepoint, and the second apply converges.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// tableOp is one operation of the table, as the resources run it.
type tableOp struct {
	name string
	// setup brings the application to where the operation starts (no faults yet).
	setup func(s *stateful)
	// run is the operation under the fault.
	run func(ctx context.Context, s *stateful) error
	// converge is what the next terraform apply does, the fault gone.
	converge func(s *stateful) error
	// done checks the application ended as the configuration asks.
	done func(s *stateful) error
	// savepointRequest is the Flink request that takes the operation's savepoint ("" none).
	savepointRequest string
}

var tableOps = []tableOp{
	{
		name:  "upgrade",
		setup: func(s *stateful) { s.deploy(versionN(1)) },
		run: func(ctx context.Context, s *stateful) error {
			_, err := s.p.Apply(ctx, s.tableDesired(2, StateRunning), OpSavepointRedeploy, s.progressFn())
			return err
		},
		converge:         func(s *stateful) error { return s.applyUntilNone(s.tableDesired(2, StateRunning)) },
		done:             func(s *stateful) error { return s.runs("v2") },
		savepointRequest: "POST /stop",
	},
	{
		name:  "suspend",
		setup: func(s *stateful) { s.deploy(versionN(1)) },
		run: func(ctx context.Context, s *stateful) error {
			_, err := s.p.Apply(ctx, s.tableDesired(1, StateSuspended), OpSuspend, s.progressFn())
			return err
		},
		converge:         func(s *stateful) error { return s.applyUntilNone(s.tableDesired(1, StateSuspended)) },
		done:             func(s *stateful) error { return s.isSuspended() },
		savepointRequest: "POST /stop",
	},
	{
		name: "resume",
		setup: func(s *stateful) {
			s.deploy(versionN(1))
			s.mustApply(statefulFor(versionN(1), StateSuspended), OpSuspend)
		},
		run: func(ctx context.Context, s *stateful) error {
			_, err := s.p.Apply(ctx, s.tableDesired(1, StateRunning), OpResume, s.progressFn())
			return err
		},
		converge: func(s *stateful) error { return s.applyUntilNone(s.tableDesired(1, StateRunning)) },
		done:     func(s *stateful) error { return s.runs("v1") },
	},
	{
		// Rescale in place 2 → 4 (adaptive scheduler); a failed one falls back to the redeploy.
		name:  "rescale",
		setup: func(s *stateful) { s.deploy(adaptiveVersion(1, 2)) },
		run: func(ctx context.Context, s *stateful) error {
			_, err := s.p.Apply(ctx, s.rescaleDesired(), OpRescale, s.progressFn())
			return err
		},
		converge: func(s *stateful) error { return s.applyUntilNone(s.rescaleDesired()) },
		done: func(s *stateful) error {
			if err := s.runs("v2"); err != nil {
				return err
			}
			for name, p := range s.cluster().VertexParallelism() {
				if p != 4 {
					return fmt.Errorf("vertex %s runs with parallelism %d, want 4", name, p)
				}
			}
			return nil
		},
		savepointRequest: "POST /stop", // the fallback's
	},
	{
		// Reprocess from the savepoint the upgrade to v2 took: v2 stops with a savepoint of its
		// own and starts again from the chosen, older one.
		name: "reprocess",
		setup: func(s *stateful) {
			s.deploy(versionN(1))
			s.mustApply(statefulFor(versionN(2), StateRunning), OpSavepointRedeploy)
			s.chosen = s.snapshotRecords()[0]
		},
		run: func(ctx context.Context, s *stateful) error {
			_, err := s.p.Apply(ctx, s.reprocessDesired(), OpReprocess, s.progressFn())
			return err
		},
		converge: func(s *stateful) error { return s.applyUntilNone(s.reprocessDesired()) },
		done: func(s *stateful) error {
			if err := s.runs("v2"); err != nil {
				return err
			}
			if from := s.cluster().RestoredFrom(); from != s.chosen.Path || s.record().RestoredSnapshot != s.chosen.Name {
				return fmt.Errorf("the job restored %q (record: started from %q); want the chosen snapshot %s (%s)",
					from, s.record().RestoredSnapshot, s.chosen.Name, s.chosen.Path)
			}
			return nil
		},
		savepointRequest: "POST /stop",
	},
	{
		name:  "destroy",
		setup: func(s *stateful) { s.deploy(versionN(1)) },
		run: func(ctx context.Context, s *stateful) error {
			return s.p.Delete(ctx, testNS, testApp, DestroySavepoint, s.tableDesired(1, StateRunning).Savepoint, s.progressFn())
		},
		converge: func(s *stateful) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return s.p.Delete(ctx, testNS, testApp, DestroySavepoint, s.tableDesired(1, StateRunning).Savepoint, s.progressFn())
		},
		done: func(s *stateful) error {
			if _, _, err := s.p.Records().GetAppRecord(context.Background(), testNS, testApp); !errors.Is(err, records.ErrNotFound) {
				return fmt.Errorf("the application record is still there (%v)", err)
			}
			// on_destroy = "savepoint": the job's last state is kept, as a destroy snapshot.
			taken := s.savepointsTaken()
			for _, r := range s.snapshotRecords() {
				if r.Origin == records.OriginDestroy && len(taken) > 0 && samePath(r.Path, taken[len(taken)-1]) {
					return nil
				}
			}
			return fmt.Errorf("the application was destroyed without a final savepoint (savepoints taken: %q)", taken)
		},
		savepointRequest: "POST /stop",
	},
	{
		name:  "snapshot",
		setup: func(s *stateful) { s.deploy(versionN(1)) },
		run: func(ctx context.Context, s *stateful) error {
			_, err := s.p.TakeSnapshot(ctx, testNS, testApp, s.tableDesired(1, StateRunning).Savepoint, s.progressFn())
			return err
		},
		converge: func(s *stateful) error {
			// Terraform creates the flink_snapshot again when its create failed; the
			// application's next plan is then clean (or recovers what was left).
			if !s.hasManagedSnapshot() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := s.p.TakeSnapshot(ctx, testNS, testApp, s.tableDesired(1, StateRunning).Savepoint, s.progressFn()); err != nil {
					return err
				}
			}
			return s.applyUntilNone(s.tableDesired(1, StateRunning))
		},
		done: func(s *stateful) error {
			if !s.hasManagedSnapshot() {
				return errors.New("no snapshot is managed by the flink_snapshot")
			}
			return s.runs("v1")
		},
		savepointRequest: "POST /savepoints",
	},
}

// tableFault is one fault, injected while the operation runs (and, for the second runner,
// around it).
type tableFault struct {
	name string
	// inject arms the fault; the returned func disarms it (the fault is gone).
	inject func(t *testing.T, s *stateful, op tableOp) (disarm func())
	// runWith, when set, replaces running the operation (for faults that are a race).
	runWith func(t *testing.T, s *stateful, op tableOp) error
	// applies says whether the fault means anything for op.
	applies func(op tableOp) bool
}

// tableFaults lists the faults; writes is the number of Kubernetes writes op makes when
// nothing fails, so that each write fails in turn.
func tableFaults(writes int) []tableFault {
	var faults []tableFault
	for i := 1; i <= writes; i++ {
		faults = append(faults,
			tableFault{name: fmt.Sprintf("API server down from write %d (503)", i), inject: apiOutage(i, false)},
			tableFault{name: fmt.Sprintf("API server throttles write %d once (429)", i), inject: apiOutage(i, true)})
	}
	return append(faults,
		tableFault{name: "404 from a non-Flink front", inject: func(_ *testing.T, s *stateful, _ tableOp) func() {
			s.rt.answer(func(r *http.Request) *http.Response { return ingress404(r) })
			return func() { s.rt.answer(nil) }
		}},
		tableFault{name: "the savepoint request never answers", applies: takesSavepoint, inject: func(_ *testing.T, s *stateful, op tableOp) func() {
			var once atomic.Bool
			s.rt.loseAnswers(func(r *http.Request) bool {
				return r.Method+" "+lastSegment(r.URL.Path) == op.savepointRequest && once.CompareAndSwap(false, true)
			})
			return func() { s.rt.loseAnswers(nil) }
		}},
		tableFault{name: "reading the job never answers", inject: func(_ *testing.T, s *stateful, _ tableOp) func() {
			var once atomic.Bool
			s.rt.loseAnswers(func(r *http.Request) bool {
				return r.Method == http.MethodGet && strings.Count(r.URL.Path, "/") == 2 && strings.HasPrefix(r.URL.Path, "/jobs/") &&
					once.CompareAndSwap(false, true)
			})
			return func() { s.rt.loseAnswers(nil) }
		}},
		tableFault{name: "the savepoint completes after the provider gave up", applies: takesSavepoint,
			inject: func(t *testing.T, s *stateful, _ tableOp) func() {
				c := s.cluster()
				c.Faults().SlowSavepoints(400 * time.Millisecond)
				s.shortSavepointTimeout.Store(true)
				return func() {
					s.shortSavepointTimeout.Store(false)
					// Flink finishes the savepoint, then forgets the operation
					// (rest.async.store-duration) before the next apply comes.
					eventually(t, "the slow savepoint settled", func() bool { return !savepointInFlight(s, c) })
					c.ForgetOperations()
				}
			}},
		tableFault{name: "a second runner 2 minutes fast", runWith: secondRunner(2 * time.Minute)},
		tableFault{name: "a second runner 2 minutes slow", runWith: secondRunner(-2 * time.Minute)},
	)
}

func takesSavepoint(op tableOp) bool { return op.savepointRequest != "" }

func lastSegment(path string) string { return path[strings.LastIndex(path, "/"):] }

// apiOutage fails Kubernetes writes from the n-th on (or only the n-th, once) with 503 / 429.
func apiOutage(n int, once bool) func(t *testing.T, s *stateful, op tableOp) func() {
	return func(_ *testing.T, s *stateful, _ tableOp) func() {
		var count atomic.Int64
		var armed atomic.Bool
		armed.Store(true)
		s.fake.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if !armed.Load() || !isWrite(a) {
				return false, nil, nil
			}
			i := count.Add(1)
			switch {
			case once && i == int64(n):
				return true, nil, apierrors.NewTooManyRequests("throttled", 0)
			case !once && i >= int64(n):
				return true, nil, apierrors.NewServiceUnavailable("the API server is restarting")
			}
			return false, nil, nil
		})
		return func() { armed.Store(false) }
	}
}

func isWrite(a k8stesting.Action) bool {
	switch a.GetVerb() {
	case "create", "update", "patch", "delete":
		return a.GetResource().Resource != "events"
	}
	return false
}

// secondRunner runs the operation on runner A while runner B, whose clock is off by skew,
// tries the same operation: B must be refused while A holds the lock, whatever the clocks
// say, and B's next apply (A done) converges.
func secondRunner(skew time.Duration) func(t *testing.T, s *stateful, op tableOp) error {
	return func(t *testing.T, s *stateful, op tableOp) error {
		// Every Flink answer takes a while, so that A is still at work when B comes.
		s.rt.answer(func(*http.Request) *http.Response { time.Sleep(40 * time.Millisecond); return nil })
		defer s.rt.answer(nil)
		a, b := s.p, s.newRunner()
		b.Now = func() time.Time { return time.Now().Add(skew) }
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done <- op.run(ctx, s)
		}()
		eventually(t, "runner A holds the lock", func() bool {
			op, _ := a.Kube.LockOperation(context.Background(), testNS, testApp)
			return op != ""
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errB := op.run(ctx, &stateful{harness: &harness{t: s.t, p: b, fake: s.fake, emu: s.emu, kubelet: s.kubelet, rt: s.rt}, chosen: s.chosen})
		if !errors.Is(errB, kube.ErrLocked) {
			t.Errorf("runner B (clock %+v) was not refused while runner A held the lock: %v", skew, errB)
		}
		errA := <-done
		s.p = b // the next apply is B's
		return errA
	}
}

// faultStats counts what the table found.
type faultStats struct {
	mu                                              sync.Mutex
	cases, lost, stale, replaced, notConverged, hit int
}

func TestFaultTable(t *testing.T) {
	t.Parallel()
	stats := &faultStats{}
	t.Cleanup(func() {
		t.Logf("fault table: %d cases run (%d failed the operation); savepoints lost = %d; stale restores = %d; "+
			"healthy jobs replaced = %d; not converged = %d", stats.cases, stats.hit, stats.lost, stats.stale, stats.replaced, stats.notConverged)
	})
	for _, op := range tableOps {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			writes := countWrites(t, op)
			for _, fault := range tableFaults(writes) {
				if fault.applies != nil && !fault.applies(op) {
					continue
				}
				t.Run(fault.name, func(t *testing.T) {
					t.Parallel()
					runFaultCase(t, op, fault, stats)
				})
			}
		})
	}
}

// countWrites runs op without faults and counts its Kubernetes writes.
func countWrites(t *testing.T, op tableOp) int {
	s := newTableHarness(t)
	op.setup(s)
	var n atomic.Int64
	s.fake.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if isWrite(a) {
			n.Add(1)
		}
		return false, nil, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := op.run(ctx, s); err != nil {
		t.Fatalf("%s without faults: %v", op.name, err)
	}
	if err := op.done(s); err != nil {
		t.Fatalf("%s without faults: %v", op.name, err)
	}
	return int(n.Load())
}

func runFaultCase(t *testing.T, op tableOp, fault tableFault, stats *faultStats) {
	s := newTableHarness(t)
	op.setup(s)
	var runErr error
	if fault.runWith != nil {
		runErr = fault.runWith(t, s, op)
	} else {
		disarm := fault.inject(t, s, op)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		runErr = op.run(ctx, s)
		cancel()
		disarm()
	}
	convergeErr := op.converge(s)
	if convergeErr == nil {
		convergeErr = op.done(s)
	}
	lost, stale, replaced := s.invariants(t)
	stats.mu.Lock()
	defer stats.mu.Unlock()
	stats.cases++
	if runErr != nil {
		stats.hit++
	}
	stats.lost += lost
	stats.stale += stale
	stats.replaced += replaced
	if convergeErr != nil {
		stats.notConverged++
		t.Errorf("the next apply did not converge: %v (the faulty run said: %v)", convergeErr, runErr)
	}
}

// invariants checks the promise over everything the case did and counts the violations.
func (s *stateful) invariants(t *testing.T) (lost, stale, replaced int) {
	t.Helper()
	records := s.allSnapshotRecords()
	clusters := s.kubelet.clustersSoFar()
	for _, c := range clusters {
		for _, sp := range c.Savepoints() {
			if !containsPath(records, sp) {
				lost++
				t.Errorf("savepoint %s that Flink completed is recorded nowhere", sp)
			}
		}
	}
	// JobManagers start one after another, and each stops taking savepoints before the next
	// starts: a start must restore the newest savepoint the JobManagers before it took, or
	// the snapshot the configuration chose to reprocess from.
	for i, st := range s.kubelet.startsSoFar() {
		newest := ""
		for _, c := range clusters[:i] {
			if sps := c.Savepoints(); len(sps) > 0 {
				newest = sps[len(sps)-1]
			}
		}
		if st.RestorePath != newest && (s.chosen.Path == "" || st.RestorePath != s.chosen.Path) {
			stale++
			t.Errorf("job %s started from %q; the newest savepoint then was %q", st.JobID, st.RestorePath, newest)
		}
		if st.PreviousHealthy {
			replaced++
			t.Errorf("job %s replaced the healthy job %s without a savepoint", st.JobID, st.PreviousJobID)
		}
	}
	for _, st := range s.kubelet.stopsSoFar() {
		if st.PreviousHealthy {
			replaced++
			t.Errorf("scaling to zero stopped the healthy job %s without a savepoint", st.PreviousJobID)
		}
	}
	return lost, stale, replaced
}

// ---- harness for the table ----

// newTableHarness is a stateful harness whose Flink requests time out quickly: a request
// that never answers costs 300ms.
func newTableHarness(t *testing.T) *stateful {
	s := newStateful(t)
	client := &http.Client{Transport: s.rt, Timeout: 300 * time.Millisecond}
	s.p.Flink = func(namespace, application string) *flink.Client {
		return flink.New(namespace+"/"+application, kube.RestURL(application, namespace), client)
	}
	return s
}

// tableDesired is the application at version n in state; while shortSavepointTimeout is set
// its savepoint_timeout is shorter than a slow savepoint.
func (s *stateful) tableDesired(n int, state string) Desired {
	d := statefulFor(versionN(n), state)
	d.Savepoint.Timeout = 2 * time.Second
	if s.shortSavepointTimeout.Load() {
		d.Savepoint.Timeout = 200 * time.Millisecond
	}
	return d
}

// rescaleDesired is v2: v1 under the adaptive scheduler with parallelism 4.
func (s *stateful) rescaleDesired() Desired {
	d := s.tableDesired(2, StateRunning)
	d.Version = adaptiveVersion(2, 4)
	return d
}

// reprocessDesired is v2 running, restoring the chosen snapshot.
func (s *stateful) reprocessDesired() Desired {
	d := s.tableDesired(2, StateRunning)
	d.Restore = Restore{Strategy: RestoreSnapshot, SnapshotName: s.chosen.Name}
	return d
}

// newRunner is another provider process on another machine: same API server and Flink,
// its own identity and clock.
func (s *stateful) newRunner() *Platform {
	old := s.p
	return &Platform{
		Kube:  &kube.Client{Kube: old.Kube.Kube, FieldManager: old.Kube.FieldManager, Logf: old.Kube.Logf, TransientBackoff: old.Kube.TransientBackoff},
		Flink: old.Flink, RestURL: old.RestURL, DefaultNamespace: old.DefaultNamespace,
		SnapshotStorageURL: old.SnapshotStorageURL, OpenStore: old.OpenStore,
	}
}

// applyUntilNone plans and applies, as consecutive terraform applies would, until the plan
// is clean (at most three applies).
func (s *stateful) applyUntilNone(desired Desired) error {
	for i := 0; i < 3; i++ {
		plan, err := s.p.PlanChange(context.Background(), desired)
		if err != nil {
			return fmt.Errorf("plan: %w", err)
		}
		if plan.Operation == OpNone {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = s.p.Apply(ctx, desired, plan.Operation, s.progressFn())
		cancel()
		if err != nil {
			return fmt.Errorf("apply %s: %w", plan.Operation, err)
		}
	}
	return errors.New("still not converged after three applies")
}

func (s *stateful) runs(label string) error {
	rec := s.record()
	c := s.emu.Cluster(s.host())
	if c == nil || rec.DeployedVersion != label || rec.Journal != nil || c.JobID() != rec.JobID || c.JobState() != flink.JobRunning {
		return fmt.Errorf("want %s running; record deployed %s job %s journal %+v", label, rec.DeployedVersion, rec.JobID, rec.Journal)
	}
	return nil
}

func (s *stateful) isSuspended() error {
	rec := s.record()
	if rec.State != StateSuspended || rec.Journal != nil || rec.LastSnapshotPath == "" {
		return fmt.Errorf("want suspended with its savepoint; record %+v", rec)
	}
	return nil
}

func (s *stateful) hasManagedSnapshot() bool {
	for _, r := range s.snapshotRecords() {
		if r.ManagedBy == records.SnapshotManagedByResource {
			return true
		}
	}
	return false
}

func (s *stateful) allSnapshotRecords() []records.SnapshotRecord {
	list, err := s.p.Records().ListSnapshotRecords(context.Background(), testNS, records.SnapshotFilter{})
	if err != nil {
		s.t.Fatal(err)
	}
	return list
}

func savepointInFlight(s *stateful, c *flinktest.Cluster) bool {
	if s.emu.Cluster(s.host()) != c {
		return false
	}
	st, err := s.p.Flink(testNS, testApp).Checkpoints(context.Background(), c.JobID())
	return err != nil || st.Counts.InProgress > 0
}
