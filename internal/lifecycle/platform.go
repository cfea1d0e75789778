// Package lifecycle sequences every operation on a Flink application: it classifies a
// change into an Operation and then runs the steps that carry it out against Kubernetes
// and the Flink REST API. It knows nothing of Terraform: resources translate their models
// into spec types and call in here.
package lifecycle

import (
	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
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
}

// Progress receives short human-readable lines while a long step runs.
type Progress func(msg string)
