package lifecycle

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// Kubernetes high availability. Each generation of an application (each deploy) runs with
// its own kubernetes.cluster-id and HA storage directory, so a new deployment never recovers
// an older job's HA data, and a JobManager restarted within a generation recovers the job
// from its latest completed checkpoint, which Flink prefers to the deploy-time restore path.
// Flink leaves a generation's HA data behind when its cluster is scaled away; finish deletes
// it once nothing can need it any more (dropSupersededHA).

// haRoot is the durable storage the application's HA data goes under: its
// savepoint_directory, else the provider's snapshot storage, else the version's savepoint or
// checkpoint directory; "" when none is known.
func (p *Platform) haRoot(savepointDir string, v spec.Version) string {
	if dir := strings.TrimSuffix(savepointDir, "/"); dir != "" {
		return dir
	}
	if root := p.storageRoot(); root != "" {
		return root
	}
	if dir := flinkconf.SavepointDir(v); dir != "" {
		return dir
	}
	return flinkconf.CheckpointDir(v)
}

// haStorageDir is high-availability.storageDir of one generation:
// <root>/ha/<namespace>/<cluster id>, or "" without a root.
func haStorageDir(root, namespace, app string, gen int64) string {
	if root == "" {
		return ""
	}
	return root + "/ha/" + namespace + "/" + kube.HAClusterID(app, gen)
}

// checkHARoot refuses HA without durable storage for its data.
func (p *Platform) checkHARoot(d Desired) error {
	if !d.HighAvailability || p.haRoot(d.Savepoint.Directory, d.Version) != "" || d.VersionPending {
		return nil
	}
	return settingErrorf(SettingHighAvailability, "%s: %s is on, and Flink keeps its HA data (the job graph and pointers to "+
		"the latest checkpoints) in durable storage it can write, but none is known: set %s in the provider, %s on the "+
		"application, or state.savepoints.dir in the version's %s. Or set %s: a restarted JobManager then starts the job "+
		"again from its deploy-time snapshot", d.Name, SettingHighAvailability, SettingSnapshotStorage, SettingSavepointDirectory,
		SettingFlinkConfiguration, SettingValue{SettingHighAvailability, false})
}

// RunsWithoutHighAvailability says whether d is a running application without HA: when its
// JobManager restarts, the job starts again from the snapshot it was deployed from (or empty),
// its state rewinds, and it keeps its job id, so nothing that observes it notices. A plan
// warns about it.
func RunsWithoutHighAvailability(d Desired) bool {
	return !d.HighAvailability && d.State == StateRunning
}

// haSpec is the HA of the record's current generation, as rendered; nil without HA.
func (o *machine) haSpec() *spec.HighAvailability {
	r := o.record
	if !r.HighAvailability {
		return nil
	}
	dir := r.HAStorageDir
	if dir == "" {
		dir = haStorageDir(o.p.haRoot(r.SavepointDirectory, r.Version), r.Namespace, r.Application, r.Generation)
	}
	return &spec.HighAvailability{ClusterID: kube.HAClusterID(r.Application, r.Generation), StorageDir: dir}
}

// startGeneration sets the HA of the generation deploy just began, and deletes whatever HA
// data an earlier application of the same name left under its cluster id (its record deleted
// outside the provider, so its generations are counted again): the new JobManager must not
// recover another job. Nothing of this generation has run yet.
func (o *machine) startGeneration(ctx context.Context, ha bool) error {
	r := o.record
	r.HighAvailability, r.HAStorageDir = ha, ""
	if !ha {
		return nil
	}
	r.HAStorageDir = haStorageDir(o.p.haRoot(r.SavepointDirectory, r.Version), r.Namespace, r.Application, r.Generation)
	return o.p.dropGeneration(ctx, r, r.Generation)
}

// dropSupersededHA deletes, once an operation's journal is closed, the HA data of every
// generation that can never run again: all before the current one, and a suspended
// application's own too (its savepoint, recorded before the cluster stopped, holds all its
// state). The running generation's stays, and so does a cancelled one's (no snapshot
// supersedes it) until the next deploy. Without HA now, the ServiceAccount, Role and
// RoleBinding go as well: no pod runs as them. A failure is reported, not returned: the
// operation is done, and the next one tries again.
func (o *machine) dropSupersededHA(ctx context.Context) {
	r := o.record
	keep, keepJob := r.Generation, r.JobID
	if r.State == StateSuspended {
		keep, keepJob = keep+1, ""
	}
	// A scale to zero is rolled out while its pods still stop.
	waitCtx, cancel := context.WithTimeout(ctx, haCleanupWait)
	err := o.p.Kube.WaitJobManagersGone(waitCtx, r.Namespace, r.Application, keepJob)
	cancel()
	if err == nil {
		err = o.p.dropGenerationsBelow(ctx, r, keep)
	}
	if !r.HighAvailability {
		if e := o.p.Kube.DeleteHAAccess(ctx, r.Namespace, r.Application); e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		msg := fmt.Sprintf("%s: cleaning up high-availability data of earlier deployments: %v (the next apply tries again)", r.Application, err)
		o.progress(msg)
		o.p.event(ctx, r.Namespace, r.Application, EventHACleanupFailed, msg, true)
	}
}

// haCleanupWait bounds how long finish waits for stopping JobManagers before it leaves their
// HA data to the next apply.
const haCleanupWait = 2 * time.Minute

// dropAllHA deletes the HA data of every generation, for an application being deleted.
func (p *Platform) dropAllHA(ctx context.Context, r *records.AppRecord) error {
	return p.dropGenerationsBelow(ctx, r, math.MaxInt64)
}

// dropGenerationsBelow deletes the HA data of the generations before keep. The HA ConfigMaps
// say which generations have data.
func (p *Platform) dropGenerationsBelow(ctx context.Context, r *records.AppRecord, keep int64) error {
	gens, err := p.Kube.HAGenerations(ctx, r.Namespace, r.Application)
	if err != nil {
		return err
	}
	for _, g := range gens {
		if g >= keep {
			continue
		}
		if err := p.dropGeneration(ctx, r, g); err != nil {
			return err
		}
	}
	return nil
}

// dropGeneration deletes one generation's HA data: its files first (where the provider's
// snapshot store reaches them), then the ConfigMaps that index them.
func (p *Platform) dropGeneration(ctx context.Context, r *records.AppRecord, gen int64) error {
	dir := haStorageDir(p.haRoot(r.SavepointDirectory, r.Version), r.Namespace, r.Application, gen)
	if gen == r.Generation && r.HAStorageDir != "" {
		dir = r.HAStorageDir
	}
	if dir != "" {
		store, err := p.store(ctx)
		if err != nil {
			return err
		}
		if store != nil {
			if _, err := store.Key(dir); err == nil {
				if err := store.RemoveAll(ctx, dir); err != nil {
					return err
				}
			}
		}
	}
	return p.Kube.DeleteHAConfigMaps(ctx, r.Namespace, kube.HAClusterID(r.Application, gen))
}

// haWords says, for the plan, how an operation changes high availability.
func haWords(current *Current, d Desired) string {
	switch {
	case current == nil || current.HighAvailability == d.HighAvailability:
		return ""
	case d.HighAvailability:
		return ", turning high availability on"
	default:
		return ", turning high availability off"
	}
}
