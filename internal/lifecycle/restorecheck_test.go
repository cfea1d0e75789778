package lifecycle

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots/metadata"
)

// counterState is the state of a CounterJob savepoint: three operators with state, one without,
// with their uids as the metadata formats that carry them say.
func counterState() stateToRestore {
	op := func(uid string, hasState bool) snapshotOperator {
		return snapshotOperator{ID: metadata.OperatorIDForUID(uid), UID: uid, Parallelism: 2, MaxParallelism: 128, HasState: hasState}
	}
	return stateToRestore{what: "file:///snapshots/savepoint-1", operators: []snapshotOperator{
		op("generator", true), op("counter", true), op("tracker", true), op("sink", false),
	}}
}

func declaring(uids ...string) Desired {
	d := desiredFor(testVersion("v3"), StateRunning)
	d.Version.StatefulOperatorUIDs = uids
	return d
}

func TestRestoreCheck_DroppedStateIsRefusedNamingTheOperator(t *testing.T) {
	h := newHarness(t)
	_, err := h.p.checkRestore(context.Background(), counterState(), nil, declaring("generator", "counter"))
	var settingErr *SettingError
	if !errors.As(err, &settingErr) || settingErr.Setting != SettingAllowNonRestoredState {
		t.Fatalf("want a refusal pointing at allow_non_restored_state, got %v", err)
	}
	if !strings.Contains(err.Error(), "tracker") || !strings.Contains(err.Error(), "file:///snapshots/savepoint-1") {
		t.Errorf("the refusal must name the operator and the state: %v", err)
	}
}

func TestRestoreCheck_DroppedStateWithAllowNonRestoredStateIsSaid(t *testing.T) {
	h := newHarness(t)
	d := declaring("generator", "counter")
	d.Restore.AllowNonRestoredState = true
	check, err := h.p.checkRestore(context.Background(), counterState(), nil, d)
	if err != nil {
		t.Fatal(err)
	}
	if check.Status != RestoreCheckDropsState || !reflect.DeepEqual(check.Dropped, []string{"tracker"}) {
		t.Errorf("want drops_state [tracker], got %+v", check)
	}
	if !strings.Contains(check.words(), "tracker is dropped") {
		t.Errorf("the plan's words must say what is dropped: %q", check.words())
	}
}

func TestRestoreCheck_NewStatefulOperatorStartsEmpty(t *testing.T) {
	h := newHarness(t)
	check, err := h.p.checkRestore(context.Background(), counterState(), nil, declaring("generator", "counter", "tracker", "audit"))
	if err != nil {
		t.Fatal(err)
	}
	if check.Status != RestoreCheckCompatible || len(check.Dropped) != 0 || !reflect.DeepEqual(check.Empty, []string{"audit"}) {
		t.Errorf("want compatible with audit starting empty, got %+v", check)
	}
}

func TestRestoreCheck_OperatorWithoutStateMayGo(t *testing.T) {
	h := newHarness(t)
	// "sink" is in the snapshot but holds nothing: a version without it loses nothing.
	check, err := h.p.checkRestore(context.Background(), counterState(), nil, declaring("generator", "counter", "tracker"))
	if err != nil || check.Status != RestoreCheckCompatible || len(check.Empty) != 0 {
		t.Fatalf("want compatible, got %+v, %v", check, err)
	}
}

func TestRestoreCheck_OperatorIDDeclaredForAnOperatorWithoutUID(t *testing.T) {
	h := newHarness(t)
	state := counterState()
	state.operators = append(state.operators, snapshotOperator{ID: "0123456789abcdef0123456789abcdef", Name: "Window", HasState: true})
	_, err := h.p.checkRestore(context.Background(), state, nil, declaring("generator", "counter", "tracker"))
	if err == nil || !strings.Contains(err.Error(), `"Window" (operator 0123456789abcdef0123456789abcdef)`) {
		t.Fatalf("an undeclared operator without uid must be named by name and id: %v", err)
	}
	if _, err := h.p.checkRestore(context.Background(), state, nil,
		declaring("generator", "counter", "tracker", "0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatalf("declared by its operator id, it is restored: %v", err)
	}
}

func TestRestoreCheck_ChangedMaxParallelismIsRefused(t *testing.T) {
	h := newHarness(t)
	d := declaring("generator", "counter", "tracker")
	d.Version.FlinkConfiguration = map[string]string{"pipeline.max-parallelism": "256"}
	_, err := h.p.checkRestore(context.Background(), counterState(), nil, d)
	var settingErr *SettingError
	if !errors.As(err, &settingErr) || settingErr.Setting != SettingFlinkConfiguration || !strings.Contains(err.Error(), "max parallelism 128") {
		t.Fatalf("want a refusal of the changed max parallelism, got %v", err)
	}
	d.Version.FlinkConfiguration["pipeline.max-parallelism"] = "128"
	if _, err := h.p.checkRestore(context.Background(), counterState(), nil, d); err != nil {
		t.Fatalf("the same max parallelism restores: %v", err)
	}
}

func TestRestoreCheck_ParallelismAboveTheStatesMaxParallelismIsRefused(t *testing.T) {
	h := newHarness(t)
	d := declaring("generator", "counter", "tracker")
	d.Version.Parallelism = 200
	_, err := h.p.checkRestore(context.Background(), counterState(), nil, d)
	var settingErr *SettingError
	if !errors.As(err, &settingErr) || settingErr.Setting != SettingVersion || !strings.Contains(err.Error(), "at most 128") {
		t.Fatalf("want a refusal of parallelism 200 over max parallelism 128, got %v", err)
	}
}

func TestRestoreCheck_VersionThatDeclaresNothingAndNeverRanIsNotChecked(t *testing.T) {
	h := newHarness(t)
	check, err := h.p.checkRestore(context.Background(), counterState(), nil, declaring())
	if err != nil || check.Status != RestoreCheckNotChecked || !strings.Contains(check.Reason, "declares no stateful operators") {
		t.Fatalf("want not_checked with the reason, got %+v, %v", check, err)
	}
}

func TestRestoreCheck_VersionThatRanBeforeIsCheckedByItsSnapshot(t *testing.T) {
	h := newHarness(t)
	// A savepoint of an earlier run of v3 shows its operators: it has no "tracker".
	ran := records.SnapshotRecord{Namespace: testNS, Application: testApp, Name: "fraud-ran-before", Path: "file:///snapshots/savepoint-0",
		Origin: records.OriginUpgrade, VersionLabel: "v3", CreatedAt: time.Now(), State: records.SnapshotCompleted,
		Contents: &records.SnapshotContents{MetadataVersion: 5, Operators: []records.SnapshotOperator{
			{ID: metadata.OperatorIDForUID("generator"), HasState: true}, {ID: metadata.OperatorIDForUID("counter"), HasState: true},
			{ID: metadata.OperatorIDForUID("project")},
		}}}
	if err := h.p.Records().PutSnapshotRecord(context.Background(), ran); err != nil {
		t.Fatal(err)
	}
	_, err := h.p.checkRestore(context.Background(), counterState(), nil, declaring())
	if err == nil || !strings.Contains(err.Error(), "tracker") {
		t.Fatalf("what v3's earlier snapshot showed must be checked: %v", err)
	}
}

func TestRestoreCheck_UnreadableStateIsUnknown(t *testing.T) {
	h := newHarness(t)
	state := stateToRestore{what: "s3://elsewhere/savepoint-1", unknown: "s3://elsewhere/savepoint-1 lies outside the snapshot storage"}
	check, err := h.p.checkRestore(context.Background(), state, nil, declaring("counter"))
	if err != nil || check.Status != RestoreCheckUnknown || !strings.Contains(check.words(), "outside") {
		t.Fatalf("want unknown with the reason, got %+v, %v", check, err)
	}
}

func TestRestoreCheck_OperatorWithoutUIDInTheStateIsNamedByTheRunningVersionsDeclaration(t *testing.T) {
	h := newHarness(t)
	state := counterState()
	for i := range state.operators {
		state.operators[i].UID = "" // older metadata formats carry only ids
	}
	running := &Current{Version: testVersion("v2")}
	running.Version.StatefulOperatorUIDs = []string{"generator", "counter", "tracker"}
	_, err := h.p.checkRestore(context.Background(), state, running, declaring("generator", "counter"))
	if err == nil || !strings.Contains(err.Error(), "state of tracker from") {
		t.Fatalf("the dropped operator must be named by the uid the running version declares: %v", err)
	}
}

func TestApply_RefusesDroppedStateBeforeTheRunningJobStops(t *testing.T) {
	h := newHarness(t)
	v2 := testVersion("v2")
	v2.StatefulOperatorUIDs = []string{"counter", "tracker"}
	before := h.deploy(v2)

	// v3 was created in the same apply, so no plan could check it: apply does, first.
	d := declaring("counter")
	d.UpgradeMode, d.Savepoint.Directory = UpgradeSavepoint, "s3://savepoints/fraud"
	_, err := h.apply(d, OpSavepointRedeploy)
	var settingErr *SettingError
	if !errors.As(err, &settingErr) || settingErr.Setting != SettingAllowNonRestoredState || !strings.Contains(err.Error(), "tracker") {
		t.Fatalf("want the refusal naming tracker, got %v", err)
	}
	if job := h.record().JobID; job != before.JobID || h.cluster().JobID() != before.JobID || len(h.kubelet.stopsSoFar()) != 0 {
		t.Fatalf("the refusal must leave v2's job %s running untouched (record: %s, stops: %v)", before.JobID, job, h.kubelet.stopsSoFar())
	}
	if h.record().Journal != nil {
		t.Fatalf("nothing was started, so nothing is journaled: %+v", h.record().Journal)
	}
}
