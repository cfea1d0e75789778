package snapshot

import (
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/framework"
)

// flink_snapshot's diagnostics: its own checks, and the lifecycle's errors worded for it.

// settings: of the lifecycle settings, flink_snapshot holds only where a copy goes.
var settings = framework.Settings{
	lifecycle.SettingCopyDestination: path.Root("destination_url"),
}

// addLifecycleError adds an error of the lifecycle: pointed at the setting it concerns, and for
// a path another flink_snapshot manages with how to take that one over.
func addLifecycleError(diags *diag.Diagnostics, summary string, err error) {
	var managed *lifecycle.SnapshotManagedError
	if errors.As(err, &managed) {
		diags.AddAttributeError(path.Root("path"), summary, fmt.Sprintf("%s is already managed by flink_snapshot %s/%s; import "+
			"that one instead of adopting the path again (terraform import <address> %s/%s)",
			managed.Path, managed.Namespace, managed.Name, managed.Namespace, managed.Name))
		return
	}
	settings.AddError(diags, summary, err)
}

func addInvalidSourceID(diags *diag.Diagnostics, id, namespace string) {
	diags.AddAttributeError(path.Root("source_snapshot_id"), "Invalid snapshot id",
		fmt.Sprintf("%q is not the id of a snapshot in namespace %s", id, namespace))
}

// addDeleteError: a failed destroy keeps the record, which is what makes destroying again safe.
func addDeleteError(diags *diag.Diagnostics, id string, err error) {
	settings.AddError(diags, "Cannot delete snapshot "+id, fmt.Errorf("%w\n\nThe snapshot record is kept, so nothing "+
		"is forgotten; fix the cause and destroy again.", err))
}
