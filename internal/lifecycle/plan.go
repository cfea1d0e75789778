package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// lock takes the application's Lease so two applies never interleave on one application.
// It fails at once, naming the holder, rather than queueing behind an unknown pipeline. A
// lease that looks abandoned is watched for its duration before it is taken over, and the
// user is told why the apply pauses.
func (p *Platform) lock(ctx context.Context, namespace, name, operation string, progress Progress) (*kube.Lock, error) {
	var abandoned *kube.Confirming
	lock, err := p.Kube.AcquireLock(ctx, namespace, name, kube.LeaseHolder{Identity: p.identity(), Operation: operation},
		kube.LockOptions{OnConfirm: func(c kube.Confirming) {
			progress(c.String())
			abandoned = &c
		}})
	if err == nil && abandoned != nil {
		p.event(ctx, namespace, name, EventLockTakenOver, fmt.Sprintf("the lock held by %s (%s) since %s was not renewed for %s; "+
			"taken over by %s for %s", abandoned.Holder.Identity, abandoned.Holder.Operation, abandoned.Since.UTC().Format(time.RFC3339),
			abandoned.Within.Round(time.Second), p.identity(), operation), true)
	}
	return lock, err
}

// release gives the application's Lease back. A failure is said, not returned: the outcome
// of what ran under the lock stands, and a Lease left behind expires after its duration.
func release(ctx context.Context, lock *kube.Lock, progress Progress) {
	if err := lock.Release(context.WithoutCancel(ctx)); err != nil {
		progress(fmt.Sprintf("releasing the lock: %v", err))
	}
}

// SavepointDirectory is where the lifecycle asks Flink to write an application's
// savepoints: the application's own setting, else a folder per application under the
// provider's snapshot storage, else "" (Flink's configured default).
func (p *Platform) SavepointDirectory(d Desired) string {
	if d.Savepoint.Directory != "" {
		return strings.TrimSuffix(d.Savepoint.Directory, "/")
	}
	if root := p.storageRoot(); root != "" {
		return root + "/" + d.Namespace + "/" + d.Name
	}
	return ""
}

// storageRoot is the provider's snapshot storage as Flink names it ("" when there is none,
// or it is in memory).
func (p *Platform) storageRoot() string {
	if p.SnapshotStorageURL == "" {
		return ""
	}
	u, err := url.Parse(p.SnapshotStorageURL)
	if err != nil || u.Scheme == "mem" {
		return ""
	}
	u.RawQuery = ""
	return strings.TrimSuffix(u.String(), "/")
}

// checkPlan refuses, at plan time and again before apply, what cannot work: nothing that
// can be known before the running job is stopped may fail after it.
func (p *Platform) checkPlan(ctx context.Context, plan Plan, current *Current, d Desired) error {
	if plan.Operation == OpRescale {
		plan.Operation = upgradeOperation(d.UpgradeMode) // what a rescale falls back to must work too
	}
	switch plan.Operation {
	case OpSavepointRedeploy, OpSuspend, OpReprocess:
		if p.SavepointDirectory(d) == "" && (current == nil || flinkconf.SavepointDir(current.Version) == "") {
			return settingErrorf(SettingSavepointDirectory, "%s: %s takes a savepoint, but no savepoint directory is known: set %s in "+
				"the provider, %s on the application, or state.savepoints.dir in the version's %s", d.Name, plan.Operation,
				SettingSnapshotStorage, SettingSavepointDirectory, SettingFlinkConfiguration)
		}
	case OpLastStateRedeploy:
		if err := checkLastState(current, d); err != nil {
			return err
		}
	}
	if restoresChosenOrLatest(plan.Operation) && d.Restore.Strategy == RestoreSnapshot && !d.Restore.SnapshotPending {
		if _, err := p.restoreSource(ctx, current, d); err != nil {
			return err
		}
	}
	if err := p.checkSavepointDirectory(ctx, d); err != nil {
		return err
	}
	if startsJob(plan.Operation) {
		if err := p.checkHARoot(d); err != nil {
			return err
		}
	}
	if startsJob(plan.Operation) && !d.VersionPending {
		// Render the new cluster now: bad input must fail before the old job is stopped.
		probe := spec.Deployment{Namespace: d.Namespace, Application: d.Name, Version: d.Version,
			JobID: JobIDFor(d.Namespace, d.Name, 0), RestorePath: "file:///probe", Labels: d.Labels, Annotations: d.Annotations,
			Pods: kube.PodMetadataFor(d.Labels, d.Annotations, d.Version.Label), Secret: probeSecret(current, d)}
		if d.HighAvailability {
			probe.HA = &spec.HighAvailability{ClusterID: kube.HAClusterID(d.Name, 0), StorageDir: "file:///probe"}
		}
		if _, err := kube.Render(probe, nil); err != nil {
			return fmt.Errorf("%s: version %s cannot be deployed: %w", d.Name, d.Version.Label, err)
		}
	}
	return nil
}

// probeSecret describes the Secret the desired version will run with, by keys only.
func probeSecret(current *Current, d Desired) *spec.OwnedSecret {
	switch {
	case d.SecretsChanged && d.Secrets.Empty():
		return nil
	case d.SecretsChanged:
		s := kube.DescribeOwnedSecret(kube.OwnedSecretName(d.Name, 0), d.Secrets)
		return &s
	case current != nil:
		return current.Secret
	}
	return nil
}

// startsJob are the operations that deploy the desired version.
func startsJob(op Operation) bool {
	return restoresChosenOrLatest(op) || isRedeploy(op)
}

// restoresChosenOrLatest are the operations whose new job starts from what restore picks.
func restoresChosenOrLatest(op Operation) bool {
	return op == OpDeploy || op == OpResume || op == OpReprocess
}

// checkLastState refuses last_state when the running version lets Flink delete the very
// checkpoint last_state would restore, or keeps no checkpoints at all.
func checkLastState(current *Current, d Desired) error {
	cfg := currentConfig(current)
	if current == nil || flinkconf.CheckpointDir(current.Version) == "" {
		return settingErrorf(SettingUpgradeMode, "%s: %s restores the latest checkpoint, but the running version has no "+
			"checkpoint storage: set execution.checkpointing.dir (Flink 1.18 and 1.19: state.checkpoints.dir) in its %s, or use %s",
			d.Name, SettingValue{SettingUpgradeMode, UpgradeLastState}, SettingFlinkConfiguration, SettingValue{SettingUpgradeMode, UpgradeSavepoint})
	}
	switch retention := strings.ToUpper(strings.TrimSpace(cfg[flinkconf.KeyCheckpointRetention])); retention {
	case "DELETE_ON_CANCELLATION", "NO_EXTERNALIZED_CHECKPOINTS":
		return settingErrorf(SettingUpgradeMode, "%s: %s cancels the job and restores its latest checkpoint, but the running "+
			"version sets %s = %s, so Flink deletes that checkpoint on cancellation. Use %s for this upgrade (and "+
			"RETAIN_ON_CANCELLATION, the provider's default, in later versions)", d.Name, SettingValue{SettingUpgradeMode, UpgradeLastState},
			flinkconf.KeyCheckpointRetention, retention, SettingValue{SettingUpgradeMode, UpgradeSavepoint})
	}
	return nil
}

// checkSavepointDirectory refuses a file:// savepoint directory that is not inside the
// provider's snapshot storage: a path on the pod's own disk is lost with the pod.
func (p *Platform) checkSavepointDirectory(ctx context.Context, d Desired) error {
	dir := d.Savepoint.Directory
	if !strings.HasPrefix(dir, "file:") {
		return nil
	}
	store, err := p.store(ctx)
	if err == nil && store != nil {
		if _, err = store.Key(dir + "/probe"); err == nil {
			return nil
		}
	}
	return settingErrorf(SettingSavepointDirectory, "%s: %s %q is a local file path, which is only durable when it is shared "+
		"storage the provider can see: put it under %s (%q), or use object storage (s3://, gs://, abfss://)",
		d.Name, SettingSavepointDirectory, dir, SettingSnapshotStorage, p.SnapshotStorageURL)
}

func currentConfig(current *Current) map[string]string {
	if current == nil {
		return nil
	}
	return current.Version.FlinkConfiguration
}

// restoreSource picks the snapshot a new job starts from when none is running. The latest
// strategies take the application's newest snapshot by the order the lifecycle recorded
// them, never by the clocks of the machines that wrote them. The snapshot must still be
// whole in the store: a snapshot whose files are gone is refused, not skipped for an older
// one.
func (p *Platform) restoreSource(ctx context.Context, current *Current, d Desired) (records.SnapshotRecord, error) {
	var snap records.SnapshotRecord
	if d.Restore.Strategy == RestoreSnapshot && current != nil && current.RestoredSnapshot == d.Restore.SnapshotName {
		// The application started from the chosen snapshot already: its newest state grew
		// from it. Only an application with no state of its own starts from it again.
		latest := d
		latest.Restore.Strategy = RestoreLatestState
		if newest, err := p.restoreSource(ctx, current, latest); err != nil || newest.Path != "" {
			return newest, err
		}
	}
	if current != nil && current.State == StateFinished && d.Restore.Strategy != RestoreSnapshot {
		return snap, nil // a bounded job runs again from the start; its final state is spent
	}
	switch d.Restore.Strategy {
	case RestoreNone:
		return snap, nil
	case RestoreSnapshot:
		if d.Restore.SnapshotName == "" {
			return snap, settingErrorf(SettingRestoreSnapshot, "%s: %s needs %s", d.Name,
				SettingValue{SettingRestoreStrategy, RestoreSnapshot}, SettingRestoreSnapshot)
		}
		var err error
		snap, err = p.Records().GetSnapshotRecord(ctx, d.Namespace, d.Restore.SnapshotName)
		if errors.Is(err, records.ErrNotFound) {
			return snap, settingErrorf(SettingRestoreSnapshot, "%s: %s %q does not exist in namespace %s", d.Name,
				SettingRestoreSnapshot, d.Restore.SnapshotName, d.Namespace)
		}
		if err != nil {
			return snap, err
		}
		if snap.State != records.SnapshotCompleted {
			return snap, fmt.Errorf("%s: snapshot %s is %s and cannot be restored", d.Name, snap.Name, snap.State)
		}
	default:
		snaps, err := p.Records().ListSnapshotRecords(ctx, d.Namespace, records.SnapshotFilter{Application: d.Name})
		if err != nil {
			return snap, err
		}
		if latest := latestState(snaps); latest != nil {
			snap = *latest
		}
		if d.Restore.Strategy == RestoreLatestState && current != nil {
			if cp, err := p.newerCheckpoint(ctx, d, current, snap); err != nil || cp.Path != "" {
				return cp, err
			}
		}
		if snap.Path == "" {
			return snap, nil
		}
	}
	return snap, p.checkRestorable(ctx, d.Name, snap)
}

// latestState is the newest completed snapshot taken of the application's own jobs. An
// adopted or copied snapshot is recorded now but may hold older state, so it never counts.
func latestState(snaps []records.SnapshotRecord) *records.SnapshotRecord {
	var eligible []records.SnapshotRecord
	for _, s := range snaps {
		if s.State == records.SnapshotCompleted && s.Origin != records.OriginImported && s.Origin != records.OriginCopied {
			eligible = append(eligible, s)
		}
	}
	if len(eligible) == 0 {
		return nil
	}
	sortNewestFirst(eligible)
	return &eligible[0]
}

// sortNewestFirst orders snapshots by the sequence the lifecycle gave them; records written
// before there were sequences follow, by their creation time.
func sortNewestFirst(snaps []records.SnapshotRecord) {
	sort.SliceStable(snaps, func(i, j int) bool {
		a, b := snaps[i], snaps[j]
		if a.Sequence != b.Sequence {
			return a.Sequence > b.Sequence
		}
		return a.CreatedAt.After(b.CreatedAt)
	})
}

// checkRestorable verifies that a snapshot in the provider's store still has its _metadata.
func (p *Platform) checkRestorable(ctx context.Context, app string, snap records.SnapshotRecord) error {
	store, err := p.store(ctx)
	if err != nil || store == nil || snap.BucketURL != "" {
		return err
	}
	if _, err := store.Key(snap.Path); err != nil {
		return nil // outside the store: Flink is the only judge
	}
	if err := store.Verify(ctx, snap.Path); err != nil {
		return settingErrorf(SettingRestoreStrategy, "%s: the snapshot to restore, %s (%s), is no longer whole: %w. It was deleted "+
			"or damaged outside the provider; nothing older is restored in its place. Choose one with %s, or start empty with %s",
			app, snap.Name, snap.Path, err, SettingValue{SettingRestoreStrategy, RestoreSnapshot}, SettingValue{SettingRestoreStrategy, RestoreNone})
	}
	return nil
}

// newerCheckpoint is, for restore.strategy = "latest_state", the latest completed checkpoint
// of the application's last job when it is newer than snap (the newest snapshot record): a
// job that ended outside Terraform has checkpointed since its last savepoint, and starting
// from the savepoint would throw that away. It returns an unrecorded SnapshotRecord of origin
// "checkpoint" (apply records it), or an empty one when snap is the newest state.
//
// The checkpoint comes from Flink's own statistics while its JobManager still answers, else
// from the checkpoint directory (<dir>/<job id>/chk-<n>, with _metadata). Which is newer is
// decided by Flink's checkpoint ids, or by the storage's own times when Flink is gone, never
// by the clocks of the machines that ran the applies.
func (p *Platform) newerCheckpoint(ctx context.Context, d Desired, current *Current, snap records.SnapshotRecord) (records.SnapshotRecord, error) {
	if current.JobID == "" {
		return records.SnapshotRecord{}, nil
	}
	cp := records.SnapshotRecord{Namespace: d.Namespace, Application: d.Name, Origin: records.OriginCheckpoint,
		Format: records.FormatCheckpoint, JobID: current.JobID, VersionLabel: current.Version.Label, FlinkVersion: current.Version.FlinkVersion}
	newer := false
	stats, err := p.Flink(d.Namespace, d.Name).Checkpoints(ctx, current.JobID)
	if latest := stats.Latest.Completed; err == nil && latest != nil && isExternal(latest.ExternalPath) {
		cp.Path = latest.ExternalPath
		// Flink's statistics lag its checkpoints: one that completed as the job ended may
		// not be reported yet, while it already subsumed (deleted) the one reported.
		if found, err := p.latestRetainedCheckpoint(ctx, current); err == nil && checkpointID(found) > latest.ID {
			cp.Path = found
		}
		// Savepoints and checkpoints of one job share Flink's id counter.
		sp := stats.Latest.Savepoint
		newer = snap.JobID != current.JobID || (sp != nil && samePath(sp.ExternalPath, snap.Path) && latest.ID > sp.ID)
		if !newer && (sp == nil || !samePath(sp.ExternalPath, snap.Path)) {
			newer, err = p.writtenAfter(ctx, cp.Path, snap.Path)
			if err != nil {
				return records.SnapshotRecord{}, err
			}
		}
	} else {
		found, err := p.latestRetainedCheckpoint(ctx, current)
		if err != nil || found == "" {
			return records.SnapshotRecord{}, err
		}
		cp.Path = found
		if newer = snap.Path == "" || snap.JobID != current.JobID; !newer {
			if newer, err = p.writtenAfter(ctx, cp.Path, snap.Path); err != nil {
				return records.SnapshotRecord{}, err
			}
		}
	}
	if !newer {
		return records.SnapshotRecord{}, nil
	}
	if err := p.checkRestorable(ctx, d.Name, cp); err != nil {
		return records.SnapshotRecord{}, settingErrorf(SettingRestoreStrategy, "%w. It is the latest checkpoint of job %s, newer "+
			"than its last snapshot %s; %s would start from that older snapshot instead", err, current.JobID, snap.Path,
			SettingValue{SettingRestoreStrategy, RestoreLatestSnapshot})
	}
	return cp, nil
}

// isExternal tells a retained checkpoint's path from Flink's placeholder for one that is
// not externally addressable (no checkpoint directory).
func isExternal(path string) bool { return path != "" && !strings.HasPrefix(path, "<") }

// latestRetainedCheckpoint finds the newest complete checkpoint of the record's job in the
// checkpoint directory of its version, or "" when there is none the store can see.
func (p *Platform) latestRetainedCheckpoint(ctx context.Context, current *Current) (string, error) {
	dir := ""
	if v := flinkconf.CheckpointDir(current.Version); v != "" {
		dir = v + "/" + current.JobID
	}
	store, err := p.store(ctx)
	if err != nil || store == nil || dir == "" {
		return "", err
	}
	if _, err := store.Key(dir); err != nil {
		return "", nil // outside the store
	}
	found, err := store.FindSavepoints(ctx, dir, "chk-")
	if err != nil {
		return "", err
	}
	best, bestID := "", int64(-1)
	for _, f := range found {
		if id := checkpointID(f.Path); id > bestID {
			best, bestID = f.Path, id
		}
	}
	return best, nil
}

// checkpointID is the id of the checkpoint at path (".../chk-<id>"), or -1.
func checkpointID(path string) int64 {
	i := strings.LastIndex(path, "/chk-")
	if i < 0 {
		return -1
	}
	var id int64
	if _, err := fmt.Sscanf(path[i+5:], "%d", &id); err != nil {
		return -1
	}
	return id
}

// writtenAfter reports whether the _metadata of a was written after that of b, by the
// storage's clock. Unknown (not in the store) counts as not after: the snapshot wins.
func (p *Platform) writtenAfter(ctx context.Context, a, b string) (bool, error) {
	store, err := p.store(ctx)
	if err != nil || store == nil {
		return false, err
	}
	ta, errA := store.MetadataTime(ctx, a)
	tb, errB := store.MetadataTime(ctx, b)
	if errA != nil || errB != nil {
		return false, nil
	}
	return ta.After(tb), nil
}
