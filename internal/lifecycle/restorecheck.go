package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots/metadata"
)

// State compatibility: before anything is stopped, a plan that restores state compares the
// operators in that state (a snapshot's _metadata, or the running job's latest checkpoint)
// with the operators of the version that will restore it, and refuses what Flink would
// refuse after the old job is gone. See docs/design.md, "State compatibility".

// RestoreCheck is the verdict on the state a new job is given.
type RestoreCheck struct {
	Status string
	// Snapshot says which state was compared: a snapshot's path, or the running job's latest
	// checkpoint (the savepoint the upgrade takes holds the same operators).
	Snapshot string
	// Dropped are the operators whose state the new version does not take (by uid, else name,
	// else operator id): restoring needs allow_non_restored_state.
	Dropped []string
	// Empty are the new version's stateful operators that find no state: they start empty.
	Empty []string
	// Reason says why the status is not_checked or unknown.
	Reason string
}

// RestoreCheck statuses.
const (
	RestoreCheckCompatible = "compatible"
	RestoreCheckDropsState = "drops_state"
	// RestoreCheckNotChecked: what the new version's operators are is not known (it declares
	// no stateful_operator_uids and none of its snapshots is on record).
	RestoreCheckNotChecked = "not_checked"
	// RestoreCheckUnknown: what the state holds could not be read.
	RestoreCheckUnknown = "unknown"
)

// snapshotOperator is one operator of the state to restore.
type snapshotOperator = records.SnapshotOperator

// stateToRestore is the state a new job would be given, as far as it can be known before
// apply: its operators, or why they are not known.
type stateToRestore struct {
	what      string
	operators []snapshotOperator
	unknown   string
}

// versionOperators are the operators of a version, as declared or as its snapshots showed.
type versionOperators struct {
	ids      map[string]bool
	stateful []snapshotOperator
}

// restoreCheckOf checks the state an operation restores (nil: it restores none). snap is the
// restore source of a deploy or resume.
func (p *Platform) restoreCheckOf(ctx context.Context, op Operation, snap records.SnapshotRecord, current *Current, d Desired) (*RestoreCheck, error) {
	switch {
	case op == OpSavepointRedeploy || op == OpLastStateRedeploy || op == OpRescale:
		return p.checkRestore(ctx, p.runningJobState(ctx, current, d), current, d)
	case !restoresChosenOrLatest(op):
		return nil, nil
	case d.Restore.SnapshotPending:
		return &RestoreCheck{Status: RestoreCheckNotChecked, Reason: "the snapshot to restore is taken in this apply"}, nil
	case snap.Path != "":
		return p.checkRestore(ctx, p.snapshotState(ctx, snap), current, d)
	}
	return nil, nil
}

// checkRestore compares state with the desired version's operators. It refuses (a
// SettingError) a restore that would drop state without allow_non_restored_state, and one
// Flink refuses for its max parallelism; otherwise it says what it found.
func (p *Platform) checkRestore(ctx context.Context, state stateToRestore, current *Current, d Desired) (*RestoreCheck, error) {
	check := &RestoreCheck{Snapshot: state.what}
	target, why := p.operatorsOf(ctx, d)
	switch {
	case target == nil:
		check.Status, check.Reason = RestoreCheckNotChecked, why
		return check, nil
	case state.operators == nil:
		check.Status, check.Reason = RestoreCheckUnknown, state.unknown
		return check, nil
	}
	name := operatorNamer(current, d)
	restored := map[string]bool{}
	for _, op := range state.operators {
		switch {
		case !op.HasState:
		case target.ids[op.ID]:
			restored[op.ID] = true
			if err := checkMaxParallelism(op, name(op), d); err != nil {
				return nil, err
			}
		default:
			check.Dropped = append(check.Dropped, name(op))
		}
	}
	for _, op := range target.stateful {
		if !restored[op.ID] {
			check.Empty = append(check.Empty, name(op))
		}
	}
	sort.Strings(check.Dropped)
	sort.Strings(check.Empty)
	check.Status = RestoreCheckCompatible
	if len(check.Dropped) > 0 {
		check.Status = RestoreCheckDropsState
		if !d.Restore.AllowNonRestoredState {
			return nil, settingErrorf(SettingAllowNonRestoredState, "%s: version %s cannot restore the state of %s from %s: it has "+
				"no operator with that uid, so Flink would refuse to start it after the running job is stopped. Set %s to drop "+
				"that state, or give the operators back their uids", d.Name, d.Version.Label, strings.Join(check.Dropped, ", "),
				state.what, SettingValue{SettingAllowNonRestoredState, true})
		}
	}
	return check, nil
}

// checkMaxParallelism refuses what Flink refuses when it restores keyed state: a max
// parallelism other than the one the state was written with, when the version sets it, and
// otherwise (Flink then keeps the state's) a parallelism above it.
func checkMaxParallelism(op snapshotOperator, name string, d Desired) error {
	if op.MaxParallelism <= 0 {
		return nil
	}
	if v, ok := d.Version.FlinkConfiguration[flinkconf.KeyMaxParallelism]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n != op.MaxParallelism {
			return settingErrorf(SettingFlinkConfiguration, "%s: version %s sets %s = %d, but the state of %s was written with max "+
				"parallelism %d, and Flink cannot change it on restore: set it to %d (or remove it)", d.Name, d.Version.Label,
				flinkconf.KeyMaxParallelism, n, name, op.MaxParallelism, op.MaxParallelism)
		}
		return nil
	}
	if d.Version.Parallelism > int64(op.MaxParallelism) {
		return settingErrorf(SettingVersion, "%s: version %s has parallelism %d, but the state of %s was written with max "+
			"parallelism %d, which a restore keeps and parallelism cannot exceed: use a parallelism of at most %d",
			d.Name, d.Version.Label, d.Version.Parallelism, name, op.MaxParallelism, op.MaxParallelism)
	}
	return nil
}

// operatorsOf are the desired version's operators: those its stateful_operator_uids declare,
// else those in the newest snapshot on record of an earlier run of the version. nil, with the
// reason, when neither is known.
func (p *Platform) operatorsOf(ctx context.Context, d Desired) (*versionOperators, string) {
	if uids := d.Version.StatefulOperatorUIDs; len(uids) > 0 {
		ops := &versionOperators{ids: map[string]bool{}}
		for _, uid := range uids {
			op := snapshotOperator{ID: operatorID(uid), UID: uid, HasState: true}
			ops.ids[op.ID] = true
			ops.stateful = append(ops.stateful, op)
		}
		return ops, ""
	}
	why := fmt.Sprintf("version %s declares no stateful operators and has no snapshot on record", d.Version.Label)
	if d.VersionPending {
		return nil, fmt.Sprintf("version %s is created in this apply; its operators are compared then", d.Version.Label)
	}
	snaps, err := p.Records().ListSnapshotRecords(ctx, d.Namespace, records.SnapshotFilter{Application: d.Name, VersionLabel: d.Version.Label})
	if err != nil {
		return nil, fmt.Sprintf("the snapshots of version %s could not be listed: %v", d.Version.Label, err)
	}
	for _, s := range snaps { // newest first
		if s.Contents != nil && s.State == records.SnapshotCompleted {
			ops := &versionOperators{ids: map[string]bool{}}
			for _, op := range s.Contents.Operators {
				ops.ids[op.ID] = true
				if op.HasState {
					ops.stateful = append(ops.stateful, op)
				}
			}
			return ops, ""
		}
	}
	return nil, why
}

// operatorIDPattern is an operator id as Flink prints it; setUidHash takes one in place of a uid.
var operatorIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// operatorID is the operator id of a declared uid (or the id itself, for an operator with none).
func operatorID(uid string) string {
	if operatorIDPattern.MatchString(uid) {
		return uid
	}
	return metadata.OperatorIDForUID(uid)
}

// operatorNamer names an operator for a person: its uid (from the snapshot, or declared by
// the running or the desired version), else its name, else its id.
func operatorNamer(current *Current, d Desired) func(snapshotOperator) string {
	declared := map[string]string{}
	for _, v := range [][]string{d.Version.StatefulOperatorUIDs, currentUIDs(current)} {
		for _, uid := range v {
			declared[operatorID(uid)] = uid
		}
	}
	return func(op snapshotOperator) string {
		switch {
		case op.UID != "":
			return op.UID
		case declared[op.ID] != "":
			return declared[op.ID]
		case op.Name != "":
			return fmt.Sprintf("%q (operator %s)", op.Name, op.ID)
		}
		return "operator " + op.ID
	}
}

func currentUIDs(current *Current) []string {
	if current == nil {
		return nil
	}
	return current.Version.StatefulOperatorUIDs
}

// snapshotState is the state in a recorded snapshot: what its record says, else what its
// _metadata says now.
func (p *Platform) snapshotState(ctx context.Context, snap records.SnapshotRecord) stateToRestore {
	state := stateToRestore{what: snap.Path}
	if snap.Contents != nil {
		state.operators = snap.Contents.Operators
		return state
	}
	contents, err := p.contentsOf(ctx, snap.Path)
	if err != nil {
		state.unknown = err.Error()
		return state
	}
	state.operators = contents.Operators
	return state
}

// runningJobState is the state a redeploy restores: the savepoint it takes holds the running
// job's operators, which its latest checkpoint shows now. Without one (no checkpoint
// storage, or none taken yet), the newest snapshot on record of the running version, else
// the operators the running version declares.
func (p *Platform) runningJobState(ctx context.Context, current *Current, d Desired) stateToRestore {
	if current == nil {
		return stateToRestore{what: "the running job", unknown: "no job runs"}
	}
	job := "job " + shortJobID(current.JobID)
	checkpoint := "has no checkpoint the provider can read"
	// The newest checkpoint in its checkpoint directory, not the one Flink's statistics name:
	// those lag, and Flink deletes a checkpoint once a newer one completes (it keeps
	// state.checkpoints.num-retained). One listed may be gone when it is read: list again.
	for attempt := 0; attempt < 3 && current.JobID != ""; attempt++ {
		path, err := p.latestRetainedCheckpoint(ctx, current)
		if err != nil || path == "" {
			break
		}
		contents, err := p.contentsOf(ctx, path)
		if err == nil {
			// Not named by its path: Terraform plans again during apply, and the value
			// must not change when the job checkpoints in between.
			return stateToRestore{what: job + "'s latest checkpoint", operators: contents.Operators}
		}
		checkpoint = "has a latest checkpoint that cannot be read (" + err.Error() + ")"
		if !errors.Is(err, snapshots.ErrNoMetadata) {
			break
		}
	}
	running := d
	running.Version, running.VersionPending = current.Version, false
	if ops, _ := p.operatorsOf(ctx, running); ops != nil {
		return stateToRestore{what: fmt.Sprintf("%s (version %s)", job, current.Version.Label), operators: ops.stateful}
	}
	return stateToRestore{what: job, unknown: fmt.Sprintf("%s %s, and version %s declares no stateful operators and has "+
		"no snapshot on record", job, checkpoint, current.Version.Label)}
}

// contentsOf reads the _metadata of a snapshot in the provider's store. An error says why it
// cannot: the check then says "unknown", it never guesses.
func (p *Platform) contentsOf(ctx context.Context, path string) (*records.SnapshotContents, error) {
	store, err := p.store(ctx)
	if err != nil || store == nil {
		return nil, fmt.Errorf("there is no snapshot storage to read %s from", path)
	}
	if _, err := store.Key(path); err != nil {
		return nil, fmt.Errorf("%s lies outside the snapshot storage", path)
	}
	m, err := store.ReadMetadata(ctx, path)
	if err != nil {
		return nil, err
	}
	contents := &records.SnapshotContents{MetadataVersion: m.FormatVersion, CheckpointID: m.CheckpointID}
	for _, op := range m.Operators {
		contents.Operators = append(contents.Operators, records.SnapshotOperator{ID: op.ID, UID: op.UID, Name: op.Name,
			Parallelism: op.Parallelism, MaxParallelism: op.MaxParallelism, StateSize: op.StateSize, HasState: op.HasState})
	}
	return contents, nil
}

// words says the verdict in the plan's words.
func (c *RestoreCheck) words() string {
	switch c.Status {
	case RestoreCheckNotChecked:
		return "State not checked: " + c.Reason + "."
	case RestoreCheckUnknown:
		return "State unknown: " + c.Reason + "."
	}
	s := "State check against " + c.Snapshot + ": "
	if c.Status == RestoreCheckDropsState {
		s += "the state of " + strings.Join(c.Dropped, ", ") + " is dropped, as allowed"
	} else {
		s += "every operator's state is restored"
	}
	if len(c.Empty) > 0 {
		s += "; " + strings.Join(c.Empty, ", ") + " start empty"
	}
	return s + "."
}
