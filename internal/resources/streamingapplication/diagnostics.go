package streamingapplication

import (
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/framework"
)

// Where lifecycle errors and the resource's own checks become diagnostics of
// flink_streaming_application: the attribute they point at, and Terraform's words.

// settings are the attributes of the lifecycle settings this resource holds.
var settings = framework.Settings{
	lifecycle.SettingVersion:               path.Root("version_id"),
	lifecycle.SettingUpgradeMode:           path.Root("upgrade_mode"),
	lifecycle.SettingRestoreStrategy:       path.Root("restore").AtName("strategy"),
	lifecycle.SettingRestoreSnapshot:       path.Root("restore").AtName("snapshot_id"),
	lifecycle.SettingAllowNonRestoredState: path.Root("restore").AtName("allow_non_restored_state"),
	lifecycle.SettingSavepointDirectory:    path.Root("savepoint_directory"),
	lifecycle.SettingSavepointTimeout:      path.Root("savepoint_timeout"),
	lifecycle.SettingHighAvailability:      path.Root("high_availability"),
	lifecycle.SettingOnDestroy:             path.Root("on_destroy"),
}

// addLifecycleError adds an error of the lifecycle (plan, apply, destroy): pointed at the
// setting it concerns, and for a stale plan with what to do about it.
func addLifecycleError(diags *diag.Diagnostics, summary string, err error) {
	var stale *lifecycle.StalePlanError
	if errors.As(err, &stale) {
		again := ". Run terraform plan again"
		if stale.Planned == "" {
			again += " to see it before it happens"
		}
		diags.AddError(summary, err.Error()+again)
		return
	}
	settings.AddError(diags, summary, err)
}

func addRestoreMismatch(diags *diag.Diagnostics, hasSnapshot bool) {
	if hasSnapshot {
		diags.AddAttributeError(path.Root("restore").AtName("strategy"), "Snapshot ignored",
			`restore.snapshot_id is set, so set restore.strategy = "snapshot" too (otherwise it would be ignored).`)
		return
	}
	diags.AddAttributeError(path.Root("restore").AtName("snapshot_id"), "Missing snapshot",
		`restore.strategy = "snapshot" needs restore.snapshot_id: the id of the flink_snapshot to start from.`)
}

func addInvalidSnapshotID(diags *diag.Diagnostics, id, namespace string) {
	diags.AddAttributeError(path.Root("restore").AtName("snapshot_id"), "Invalid snapshot id",
		fmt.Sprintf("%q is not the id of a snapshot in namespace %s (expected %s/<snapshot>)", id, namespace, namespace))
}

func addVersionOfAnotherApplication(diags *diag.Diagnostics, versionID, versionNamespace, versionApplication, namespace, name string) {
	diags.AddAttributeError(path.Root("version_id"), "Version of another application",
		fmt.Sprintf("version %q belongs to application %s/%s, not %s/%s. Use a flink_application_version with "+
			"application = %q and namespace = %q.", versionID, versionNamespace, versionApplication, namespace, name, name, namespace))
}

func addVersionNotRecorded(diags *diag.Diagnostics, versionID, namespace string) {
	diags.AddAttributeError(path.Root("version_id"), "Version not found",
		fmt.Sprintf("no flink_application_version %q is recorded in namespace %q; create it first", versionID, namespace))
}

func addUnreachableWarning(diags *diag.Diagnostics, namespace, name, restURL string) {
	diags.AddWarning(name+": Flink REST API unreachable",
		fmt.Sprintf("the JobManager of %s/%s did not answer at %s; its job status is unknown.", namespace, name, restURL))
}

// addNoHAWarning says what running without HA means, for a plan that does.
func addNoHAWarning(diags *diag.Diagnostics, name string) {
	diags.AddAttributeWarning(path.Root("high_availability"), name+": no high availability",
		fmt.Sprintf("%s runs without high availability (high_availability = false). When its JobManager restarts "+
			"(a node drain, an eviction, an OOM kill), the job starts again from the snapshot it was deployed from, or with "+
			"empty state if it had none: its state rewinds, everything since is processed again, and checkpoints taken since "+
			"are not used. Terraform does not notice: the job runs under the same id and the next plan shows no change.", name))
}
