package applicationversion

import (
	"errors"
	"fmt"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
)

// The diagnostics of flink_application_version and its data source, in Terraform's words.

// addEnvSetTwice: a variable set twice would leave which value wins to Kubernetes' ordering.
func addEnvSetTwice(diags *diag.Diagnostics, name string) {
	diags.AddAttributeError(path.Root("env_from_secrets").AtMapKey(name), "Environment variable set twice",
		fmt.Sprintf("%s is set both in env and in env_from_secrets; set it in one of them.", name))
}

// addReporterConfiguredTwice: metrics configures the Prometheus reporter; the version's own
// keys for it would be overwritten or clash.
func addReporterConfiguredTwice(diags *diag.Diagnostics, key string) {
	diags.AddAttributeError(path.Root("flink_configuration").AtMapKey(key), "Prometheus reporter configured twice",
		fmt.Sprintf("flink_configuration sets %s, and metrics configures the Prometheus reporter; remove the key, or "+
			"metrics and configure the reporter yourself.", key))
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

// addDeleteRefused words a refused delete; a deployed version gets the Terraform remedy.
func addDeleteRefused(diags *diag.Diagnostics, err error) {
	var deployed *lifecycle.VersionDeployedError
	if errors.As(err, &deployed) {
		diags.AddError("Version is deployed", deployed.Error()+". When a change replaces a version in place, add "+
			"lifecycle { create_before_destroy = true } to the flink_application_version so the new one exists first.")
		return
	}
	diags.AddError("Version is deployed", err.Error())
}
