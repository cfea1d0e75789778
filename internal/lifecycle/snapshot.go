package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
)

// TakeSnapshot triggers a savepoint of a running application without stopping it, and
// records it as managed by a flink_snapshot.
func (p *Platform) TakeSnapshot(ctx context.Context, namespace, name string, opts SavepointOptions, progress Progress) (kube.SnapshotRecord, error) {
	lock, err := p.lock(ctx, namespace, name, "snapshot")
	if err != nil {
		return kube.SnapshotRecord{}, err
	}
	defer lock.Release(context.WithoutCancel(ctx))

	record, _, err := p.Kube.GetAppRecord(ctx, namespace, name)
	if errors.Is(err, kube.ErrNotFound) {
		return kube.SnapshotRecord{}, fmt.Errorf("application %s/%s does not exist, so there is nothing to snapshot", namespace, name)
	}
	if err != nil {
		return kube.SnapshotRecord{}, err
	}
	if current := p.currentFrom(ctx, &record); current.State != StateRunning {
		return kube.SnapshotRecord{}, fmt.Errorf("application %s/%s is not running (it is %s), so no savepoint can be taken; "+
			"to keep the state it stopped with, adopt its last snapshot with path = %q", namespace, name, current.State, record.LastSnapshotPath)
	}
	if opts.Timeout == 0 {
		opts.Timeout = Desired{}.withDefaults().Savepoint.Timeout
	}
	format := strings.ToUpper(opts.Format)
	if format == "" {
		format = flink.FormatCanonical
	}
	client := p.Flink(namespace, name)
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	triggerID, err := client.TriggerSavepoint(ctx, record.JobID, flink.SavepointRequest{
		TargetDirectory: p.SavepointDirectory(Desired{Namespace: namespace, Name: name, Savepoint: opts}), FormatType: format,
	})
	if err != nil {
		return kube.SnapshotRecord{}, fmt.Errorf("triggering a savepoint of job %s: %w", record.JobID, err)
	}
	progress(fmt.Sprintf("%s: savepoint of job %s triggered", name, shortJobID(record.JobID)))
	path, err := flink.WaitForSavepoint(ctx, client, record.JobID, triggerID)
	if err != nil {
		return kube.SnapshotRecord{}, fmt.Errorf("the savepoint of job %s failed; the job keeps running: %w", record.JobID, err)
	}
	return p.recordManaged(ctx, &record, path, kube.OriginUser, strings.ToLower(format), "", progress)
}

// AdoptSnapshot records an existing savepoint or retained checkpoint after checking that its
// _metadata exists.
func (p *Platform) AdoptSnapshot(ctx context.Context, namespace, name, path, format string, progress Progress) (kube.SnapshotRecord, error) {
	store, err := p.store(ctx)
	if err != nil {
		return kube.SnapshotRecord{}, err
	}
	if store == nil {
		return kube.SnapshotRecord{}, fmt.Errorf("adopting %s needs snapshot_storage_url in the provider, to check that the snapshot exists", path)
	}
	if _, err := store.Key(path); err != nil {
		return kube.SnapshotRecord{}, err
	}
	record := kube.AppRecord{Namespace: namespace, Application: name}
	if stored, _, err := p.Kube.GetAppRecord(ctx, namespace, name); err == nil {
		record = stored
	}
	record.JobID = "" // not known for an adopted path
	return p.recordManaged(ctx, &record, path, kube.OriginImported, format, "", progress)
}

// CopySnapshot copies a recorded snapshot's files to destinationURL (a bucket URL, e.g. a
// disaster-recovery bucket or another cluster's storage) and records the copy.
func (p *Platform) CopySnapshot(ctx context.Context, namespace, sourceName, destinationURL string, progress Progress) (kube.SnapshotRecord, error) {
	source, err := p.Kube.GetSnapshotRecord(ctx, namespace, sourceName)
	if err != nil {
		return kube.SnapshotRecord{}, fmt.Errorf("source snapshot %s/%s: %w", namespace, sourceName, err)
	}
	store, err := p.store(ctx)
	if err != nil {
		return kube.SnapshotRecord{}, err
	}
	if store == nil {
		return kube.SnapshotRecord{}, errors.New("copying a snapshot needs snapshot_storage_url in the provider")
	}
	destination, err := snapshots.Open(ctx, destinationURL)
	if err != nil {
		return kube.SnapshotRecord{}, fmt.Errorf("opening destination_url: %w", err)
	}
	defer destination.Close()
	dir := source.Path[strings.LastIndex(strings.TrimSuffix(source.Path, "/"), "/")+1:]
	destinationPath := flinkPathOf(destinationURL) + "/" + dir
	progress(fmt.Sprintf("copying snapshot %s to %s", source.Path, destinationPath))
	size, err := store.Copy(ctx, source.Path, destination, destinationPath)
	if err != nil {
		return kube.SnapshotRecord{}, err
	}
	record := kube.AppRecord{Namespace: namespace, Application: source.Application, JobID: source.JobID}
	record.Version.Label, record.Version.FlinkVersion = source.VersionLabel, source.FlinkVersion
	return p.recordManaged(ctx, &record, destinationPath, kube.OriginCopied, source.Format, source.Name, progress,
		func(s *kube.SnapshotRecord) { s.SizeBytes, s.BucketURL = size, destinationURL })
}

// recordManaged records a snapshot owned by a flink_snapshot. Paths outside the provider's
// store (copies to another bucket) are recorded without re-reading them; adjust fills
// what only the caller knows.
func (p *Platform) recordManaged(ctx context.Context, record *kube.AppRecord, path, origin, format, source string, progress Progress,
	adjust ...func(*kube.SnapshotRecord)) (kube.SnapshotRecord, error) {
	snap, err := p.recordSnapshot(ctx, record, path, origin, format, progress)
	if err != nil {
		return snap, err
	}
	snap.ManagedBy, snap.SourceSnapshot = kube.SnapshotManagedByResource, source
	for _, a := range adjust {
		a(&snap)
	}
	return snap, p.Kube.PutSnapshotRecord(ctx, snap)
}

// ReleaseSnapshot ends a flink_snapshot's ownership: "delete" disposes the files and the
// record; "retain" keeps both, handing the record back to nobody (retention still never
// touches snapshots it did not take).
func (p *Platform) ReleaseSnapshot(ctx context.Context, namespace, name string, dispose bool, progress Progress) error {
	snap, err := p.Kube.GetSnapshotRecord(ctx, namespace, name)
	if errors.Is(err, kube.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if dispose {
		return p.DisposeSnapshot(ctx, snap, progress)
	}
	snap.ManagedBy = ""
	return p.Kube.PutSnapshotRecord(ctx, snap)
}

// flinkPathOf is the Flink-side path of a bucket URL: the URL without its query (driver
// options such as ?region=).
func flinkPathOf(bucketURL string) string {
	u, err := url.Parse(bucketURL)
	if err != nil {
		return strings.TrimSuffix(bucketURL, "/")
	}
	u.RawQuery = ""
	return strings.TrimSuffix(u.String(), "/")
}
