package applicationversion

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
)

// The diagnostics of flink_application_version and its data source, in Terraform's words.

// addEnvSetTwice: a variable set twice would leave which value wins to Kubernetes' ordering.
func addEnvSetTwice(diags *diag.Diagnostics, name string) {
	diags.AddAttributeError(path.Root("env_from_secrets").AtMapKey(name), "Environment variable set twice",
		fmt.Sprintf("%s is set both in env and in env_from_secrets; set it in one of them.", name))
}

func addNotEnoughSlots(diags *diag.Diagnostics, parallelism, replicas, slots int64) {
	diags.AddAttributeError(path.Root("parallelism"), "Not enough task slots",
		fmt.Sprintf("parallelism %d needs %d task slots, but task_manager provides %d (replicas %d × task_slots %d). "+
			"Raise task_manager.replicas or task_manager.task_slots, or lower parallelism.",
			parallelism, parallelism, replicas*slots, replicas, slots))
}

func addVersionNotFound(diags *diag.Diagnostics, namespace, application, version string) {
	diags.AddError("Application version not found",
		fmt.Sprintf("no version %q of application %q in namespace %q", version, application, namespace))
}
