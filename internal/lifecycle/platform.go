// Package lifecycle sequences every operation on a Flink application: it classifies a
// change into an Operation and then runs the steps that carry it out against Kubernetes
// and the Flink REST API. It knows nothing of Terraform: resources translate their models
// into these types and call in here.
package lifecycle

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
)

// FlinkDialer returns a REST client for the JobManager of one application.
type FlinkDialer func(namespace, application string) *flink.Client

// Platform is the set of shared clients built once by the provider's Configure and handed
// to every resource and data source.
type Platform struct {
	Kube  *kube.Client
	Flink FlinkDialer
	// RestURL is what the provider calls a given application's REST endpoint (for display).
	RestURL func(namespace, application string) string
	// DefaultNamespace applies where a resource leaves namespace unset.
	DefaultNamespace string
	// SnapshotStorageURL is the gocloud.dev/blob URL of the snapshot bucket ("" = none).
	SnapshotStorageURL string
	// SnapshotStorageCredentialsSecret names the Secret ("namespace/name") whose keys sign
	// the provider's requests to s3:// storage; "" leaves them to the AWS SDK's default chain.
	SnapshotStorageCredentialsSecret string
	// OpenStore opens the snapshot store; nil opens SnapshotStorageURL. Tests set it to
	// share a bucket with the Flink emulator.
	OpenStore func(ctx context.Context) (*snapshots.Store, error)
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	storeOnce sync.Once
	storeVal  *snapshots.Store
	storeErr  error
	idOnce    sync.Once
	id        string
}

// Progress receives short human-readable lines while a long step runs.
type Progress func(msg string)

func (p *Platform) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// store opens the snapshot store once, on first use: plans that never touch snapshots need
// no cloud credentials. It returns nil, nil when no storage is configured.
func (p *Platform) store(ctx context.Context) (*snapshots.Store, error) {
	p.storeOnce.Do(func() {
		switch {
		case p.OpenStore != nil:
			p.storeVal, p.storeErr = p.OpenStore(ctx)
		case p.SnapshotStorageURL != "":
			p.storeVal, p.storeErr = p.openStore(context.WithoutCancel(ctx), p.SnapshotStorageURL)
		}
		if p.storeErr != nil {
			p.storeErr = settingErrorf(SettingSnapshotStorage, "opening %s: %w", SettingSnapshotStorage, p.storeErr)
		}
	})
	return p.storeVal, p.storeErr
}

// openStore opens the bucket at storageURL (the snapshot storage, a copy's destination),
// signing s3:// requests with the keys of SnapshotStorageCredentialsSecret when it is set.
// The Secret is read here, when storage is first used, not when the provider is configured:
// plans that never touch snapshots need neither the Secret nor the permission to read it.
func (p *Platform) openStore(ctx context.Context, storageURL string) (*snapshots.Store, error) {
	if p.SnapshotStorageCredentialsSecret == "" || !strings.HasPrefix(storageURL, "s3://") {
		return snapshots.Open(ctx, storageURL)
	}
	ns, name, _ := strings.Cut(p.SnapshotStorageCredentialsSecret, "/")
	data, err := p.Kube.SecretData(ctx, ns, name)
	if err == nil {
		var creds snapshots.S3Credentials
		if creds, err = snapshots.S3CredentialsFromSecret(data); err == nil {
			creds.Source = "Secret " + p.SnapshotStorageCredentialsSecret + " (snapshot_storage_credentials_secret)"
			return snapshots.OpenWithCredentials(ctx, storageURL, creds)
		}
	}
	return nil, settingErrorf(SettingSnapshotStorageCredentials, "reading the credentials in Secret %s (%s): %w",
		p.SnapshotStorageCredentialsSecret, SettingSnapshotStorageCredentials, err)
}

// identity names this provider process in Leases: host, pid and a random suffix.
func (p *Platform) identity() string {
	p.idOnce.Do(func() { p.id = "terraform-provider-flink@" + kube.NewLeaseIdentity() })
	return p.id
}

// Records is the store of the provider's records (application, version, snapshot), on the
// platform's Kubernetes client.
func (p *Platform) Records() *records.Store { return records.New(p.Kube) }
