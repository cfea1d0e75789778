package lifecycle

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

// The provider process dies after each step of a savepoint upgrade. The next process plans
// recover (naming the savepoint once one is recorded) and finishes the upgrade from the
// savepoint of the first attempt: exactly one savepoint is ever taken, and a savepoint in
// flight is asked about by its trigger id instead of being triggered again.
func TestSavepointRedeploy_CrashAfterEachStep(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// step: the process dies right after the journal reaches it. Otherwise setup makes
		// it die (with the crash's fire).
		step  string
		setup func(s *stateful, old *flinktest.Cluster, c *crash)
		// failV2 makes version 2's job fail at start (for the rollback step).
		failV2 bool
		// journal left behind by the dead process.
		wantStep     string
		wantRecorded bool // the journal names the savepoint
		wantTrigger  bool // the journal names a trigger id
		// stops: stop requests sent by the first and the second process.
		firstStops, secondStops int
		wantVersion             string
		// wantRecoverErr: recover finishes but reports the upgrade as failed.
		wantRecoverErr []string
		// inFlight: the savepoint is still in progress when the next process starts.
		inFlight bool
	}{
		{name: "started", step: stepStarted, wantStep: stepStarted, firstStops: 0, secondStops: 1, wantVersion: "v2"},
		{name: "savepoint, trigger recorded but not sent", step: stepSavepoint, wantStep: stepSavepoint, wantTrigger: true,
			firstStops: 0, secondStops: 1, wantVersion: "v2"},
		{name: "savepoint, stop sent and savepoint in flight", wantStep: stepSavepoint, wantTrigger: true,
			setup: func(s *stateful, old *flinktest.Cluster, c *crash) {
				old.Faults().SlowSavepoints(300 * time.Millisecond)
				s.onFlink(func(method, path string, _ []byte, _ int) {
					if method == http.MethodPost && strings.HasSuffix(path, "/stop") {
						c.fire()
					}
				})
			},
			firstStops: 1, secondStops: 0, wantVersion: "v2", inFlight: true},
		{name: "savepoint, stop sent and savepoint completed", wantStep: stepSavepoint, wantTrigger: true,
			setup: func(s *stateful, old *flinktest.Cluster, c *crash) {
				s.onFlink(func(method, path string, _ []byte, _ int) {
					if method == http.MethodPost && strings.HasSuffix(path, "/stop") {
						c.fire()
					}
				})
			},
			firstStops: 1, secondStops: 0, wantVersion: "v2"},
		{name: "snapshot_taken", step: stepTaken, wantStep: stepTaken, wantRecorded: true, wantTrigger: true,
			firstStops: 1, wantVersion: "v2"},
		{name: "deploying", step: stepDeploying, wantStep: stepDeploying, wantRecorded: true, wantTrigger: true,
			firstStops: 1, wantVersion: "v2"},
		{name: "deploying, new JobManager already started", wantStep: stepDeploying, wantRecorded: true, wantTrigger: true,
			setup: func(s *stateful, old *flinktest.Cluster, c *crash) {
				s.kubelet.setOnStart(func(cl *flinktest.Cluster) {
					if cl.JobID() == jobGen2 {
						c.fire()
					}
				})
			},
			firstStops: 1, wantVersion: "v2"},
		{name: "rolling_back", step: stepRollback, failV2: true, wantStep: stepRollback, wantRecorded: true, wantTrigger: true,
			firstStops: 1, wantVersion: "v1", wantRecoverErr: []string{"rolled back to version v1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStateful(t)
			s.deploy(versionN(1))
			old := s.cluster()
			if tc.failV2 {
				s.kubelet.setFailVersion("v2", rootCauseMsg)
			}
			desired := statefulFor(versionN(2), StateRunning)
			c := s.crashAt(tc.step)
			if tc.setup != nil {
				tc.setup(s, old, c)
			}

			// The first process dies.
			mark := s.mark()
			if _, err := s.p.Apply(c.ctx, desired, OpSavepointRedeploy, s.progressFn()); err == nil {
				t.Fatal("Apply succeeded although the process died")
			}
			if !c.fired.Load() {
				t.Fatal("the crash never happened")
			}
			first := s.since(mark)
			s.onFlink(nil)
			s.kubelet.setOnStart(nil)
			c.over()
			s.restart()
			if tc.inFlight && len(old.Savepoints()) != 0 {
				t.Errorf("the savepoint completed before the next process started; this case needs it in flight")
			}

			rec := s.record()
			j := rec.Journal
			if j == nil || j.Step != tc.wantStep || (j.SavepointPath != "") != tc.wantRecorded || (j.TriggerID != "") != tc.wantTrigger {
				t.Fatalf("journal left by the dead process: %+v; want step %s, savepoint recorded %v, trigger %v\n%s",
					j, tc.wantStep, tc.wantRecorded, tc.wantTrigger, strings.Join(first, "\n"))
			}
			firstStops := flinkRequests(first, http.MethodPost, "/jobs/"+jobGen1+"/stop")
			if len(firstStops) != tc.firstStops {
				t.Errorf("first process sent %d stop requests, want %d", len(firstStops), tc.firstStops)
			}
			for _, l := range firstStops {
				if tr := fieldOf(l, "trigger"); tr != j.TriggerID {
					t.Errorf("stop sent with trigger %s, journal says %s", tr, j.TriggerID)
				}
			}
			ctx := context.Background()
			plan, err := s.p.PlanChange(ctx, desired)
			if err != nil || plan.Operation != OpRecover {
				t.Fatalf("PlanChange after the crash = %+v, %v; want recover", plan, err)
			}
			if Classify(&Current{Version: rec.Version, State: rec.State, Journal: j}, desired).Operation != OpRecover {
				t.Errorf("Classify with the journal is not recover")
			}
			wantContains(t, "plan summary", plan.Summary, "interrupted savepoint_redeploy (v1 -> v2)", `step "`+tc.wantStep+`"`)
			if tc.wantRecorded {
				wantContains(t, "plan summary", plan.Summary, j.SavepointPath)
			} else {
				wantContains(t, "plan summary", plan.Summary, "finish taking it")
			}

			// The next process recovers.
			mark = s.mark()
			_, err = s.apply(desired, OpRecover)
			switch {
			case tc.wantRecoverErr != nil && err == nil:
				t.Errorf("recover succeeded; want it to report the failed upgrade")
			case tc.wantRecoverErr != nil:
				wantContains(t, "recover error", err.Error(), tc.wantRecoverErr...)
			case err != nil:
				t.Fatalf("recover: %v\n%s", err, strings.Join(s.since(mark), "\n"))
			}
			second := s.since(mark)
			secondStops := flinkRequests(second, http.MethodPost, "/jobs/"+jobGen1+"/stop")
			if len(secondStops) != tc.secondStops {
				t.Errorf("recover sent %d stop requests, want %d:\n%s", len(secondStops), tc.secondStops, strings.Join(second, "\n"))
			}
			if j.TriggerID != "" {
				for _, l := range secondStops {
					if tr := fieldOf(l, "trigger"); tr != j.TriggerID {
						t.Errorf("recover triggered %s instead of the recorded trigger %s", tr, j.TriggerID)
					}
				}
				if !tc.wantRecorded && len(flinkRequests(second, http.MethodGet, "/jobs/"+jobGen1+"/savepoints/"+j.TriggerID)) == 0 {
					t.Errorf("recover did not ask Flink about trigger %s", j.TriggerID)
				}
			}

			taken := s.savepointsTaken()
			if len(taken) != 1 {
				t.Fatalf("savepoints taken %q; want exactly one", taken)
			}
			sp := taken[0]
			if tc.wantRecorded && j.SavepointPath != sp {
				t.Errorf("journal savepoint %s, but the only savepoint is %s", j.SavepointPath, sp)
			}
			cl := s.cluster()
			if cl.RestoredFrom() != sp || cl.JobState() != flink.JobRunning {
				t.Errorf("final job %s is %s restoring %q; want RUNNING from %s", cl.JobID(), cl.JobState(), cl.RestoredFrom(), sp)
			}
			rec = s.record()
			if rec.Journal != nil || rec.DeployedVersion != tc.wantVersion || rec.JobID != cl.JobID() || rec.LastSnapshotPath != sp || rec.State != StateRunning {
				t.Errorf("record after recover %+v journal %+v; want %s running from %s", rec, rec.Journal, tc.wantVersion, sp)
			}
			if snaps := s.snapshotRecords(); len(snaps) != 1 || snaps[0].Path != sp || rec.LastSnapshotName != snaps[0].Name {
				t.Errorf("snapshot records %+v; want one of %s", snaps, sp)
			}
			// Every job started after the savepoint restored it.
			for _, l := range s.events() {
				if strings.HasPrefix(l, "jobmanager start") && !strings.Contains(l, "job="+jobGen1) && fieldOf(l, "restore") != sp {
					t.Errorf("a job started from something else than %s: %s", sp, l)
				}
			}
		})
	}
}

// A suspend whose process died while scaling to zero: recover finishes the suspend, and the
// next resume starts from the suspend savepoint.
func TestSuspend_CrashWhileScalingToZero(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	suspend := statefulFor(versionN(1), StateSuspended)
	c := s.crashAt(stepScaleZero)
	if _, err := s.p.Apply(c.ctx, suspend, OpSuspend, s.progressFn()); err == nil {
		t.Fatal("Apply succeeded although the process died")
	}
	c.over()
	s.restart()
	j := s.record().Journal
	if j == nil || j.Step != stepScaleZero || j.SavepointPath == "" {
		t.Fatalf("journal %+v; want scaling_to_zero with the savepoint", j)
	}
	plan, err := s.p.PlanChange(context.Background(), suspend)
	if err != nil || plan.Operation != OpRecover {
		t.Fatalf("PlanChange = %+v, %v; want recover", plan, err)
	}
	wantContains(t, "plan summary", plan.Summary, "interrupted suspend", j.SavepointPath, "to suspended")
	s.mustApply(suspend, OpRecover)
	rec := s.record()
	if rec.Journal != nil || rec.State != StateSuspended || s.emu.Cluster(s.host()) != nil || replicasOf(s.deployment(jmName())) != 0 {
		t.Errorf("after recover: record %+v, JobManager serving %v", rec, s.emu.Cluster(s.host()) != nil)
	}
	s.mustApply(statefulFor(versionN(1), StateRunning), OpResume)
	taken := s.savepointsTaken()
	if cl := s.cluster(); len(taken) != 1 || cl.RestoredFrom() != taken[0] || taken[0] != j.SavepointPath {
		t.Errorf("savepoints %q; resumed job restores %q; journal had %s", taken, cl.RestoredFrom(), j.SavepointPath)
	}
}
