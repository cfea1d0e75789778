package streamingapplication

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
)

// The secret settings live on the application, not the version: a version record is an
// immutable ConfigMap holding its whole spec, shared by every deployment of that artifact,
// while secret values differ per environment and rotate on their own. The provider keeps
// them in a Secret owned by the application record; Terraform keeps them sensitive in plan
// and state, or, as write-only arguments (Terraform/OpenTofu >= 1.11), nowhere at all.
func secretAttributes() map[string]schema.Attribute {
	confWO, envWO := path.MatchRoot("secret_flink_configuration_wo"), path.MatchRoot("secret_env_wo")
	confKeys := mapvalidator.KeysAre(validate.SecretFlinkConfigurationKey())
	envKeys := mapvalidator.KeysAre(validate.EnvVarName())
	const how = "The provider writes them to a new immutable Secret in the namespace, owned by the application (deleted " +
		"with it), and Flink reads them from there; they are never in a ConfigMap, a pod spec, a provider record or a log. "
	const change = "Changing a value redeploys the job like a new version would (`planned_operation` `savepoint_redeploy` " +
		"by default), rolling back to the previous values if the new job is not healthy. "
	return map[string]schema.Attribute{
		"secret_flink_configuration": schema.MapAttribute{
			Optional: true, Sensitive: true, ElementType: types.StringType,
			MarkdownDescription: "Sensitive Flink configuration (e.g. `s3.secret-key`, `fs.azure.account.key.<account>.blob.core.windows.net`). " +
				how + "At pod start they are merged into the configuration file (see `flink_configuration_secrets` of " +
				"`flink_application_version`). " + change + "Terraform keeps them in state, marked sensitive; use " +
				"`secret_flink_configuration_wo` to keep them out of state. Keys must be valid Secret keys (letters, digits, " +
				"`-`, `_`, `.`), not set by the provider, and not also in the version's `flink_configuration`. Prefer keys Flink " +
				"masks in its REST API and logs (containing `password`, `secret`, `token`, `apikey`, …).",
			Validators: []validator.Map{confKeys, mapvalidator.NoNullValues(), mapvalidator.ConflictsWith(confWO)},
		},
		"secret_env": schema.MapAttribute{
			Optional: true, Sensitive: true, ElementType: types.StringType,
			MarkdownDescription: "Sensitive environment variables of the Flink containers (by `secretKeyRef`). " + how + change +
				"Terraform keeps them in state, marked sensitive; use `secret_env_wo` to keep them out of state. A name may " +
				"not also be set by the version.",
			Validators: []validator.Map{envKeys, mapvalidator.NoNullValues(), mapvalidator.ConflictsWith(envWO)},
		},
		"secret_flink_configuration_wo": schema.MapAttribute{
			Optional: true, Sensitive: true, WriteOnly: true, ElementType: types.StringType,
			MarkdownDescription: "Write-only `secret_flink_configuration`: never stored in plan or state (Terraform and " +
				"OpenTofu >= 1.11; older CLIs reject it). The provider reads it only when `secret_flink_configuration_wo_version` " +
				"changes (and at create): change the version to roll out new values.",
			Validators: []validator.Map{confKeys, mapvalidator.NoNullValues(), mapvalidator.AlsoRequires(path.MatchRoot("secret_flink_configuration_wo_version"))},
		},
		"secret_flink_configuration_wo_version": schema.Int64Attribute{
			Optional: true,
			MarkdownDescription: "Version of `secret_flink_configuration_wo`, e.g. 1; changing it writes the current values and " +
				"redeploys the job with them.",
			Validators: []validator.Int64{int64validator.AlsoRequires(confWO)},
		},
		"secret_env_wo": schema.MapAttribute{
			Optional: true, Sensitive: true, WriteOnly: true, ElementType: types.StringType,
			MarkdownDescription: "Write-only `secret_env`: never stored in plan or state (Terraform and OpenTofu >= 1.11; older " +
				"CLIs reject it). The provider reads it only when `secret_env_wo_version` changes (and at create).",
			Validators: []validator.Map{envKeys, mapvalidator.NoNullValues(), mapvalidator.AlsoRequires(path.MatchRoot("secret_env_wo_version"))},
		},
		"secret_env_wo_version": schema.Int64Attribute{
			Optional:            true,
			MarkdownDescription: "Version of `secret_env_wo`; changing it writes the current values and redeploys the job with them.",
			Validators:          []validator.Int64{int64validator.AlsoRequires(envWO)},
		},
	}
}

// secretsOf reads the secret settings of plan (write-only ones from config) and says whether
// they changed since prior (nil at create): by comparing plan and state, which Terraform
// keeps sensitive, and the *_wo_version triggers. No hash of a value is kept anywhere.
// known is false while a value is not known yet (it counts as changed).
func secretsOf(ctx context.Context, config tfsdk.Config, plan applicationModel, prior *applicationModel) (values spec.SecretValues, changed, known bool, diags diag.Diagnostics) {
	var confWO, envWO types.Map
	diags.Append(config.GetAttribute(ctx, path.Root("secret_flink_configuration_wo"), &confWO)...)
	diags.Append(config.GetAttribute(ctx, path.Root("secret_env_wo"), &envWO)...)
	known = true
	merge := func(dst *map[string]string, maps ...types.Map) {
		for _, m := range maps {
			if m.IsUnknown() {
				known = false
				continue
			}
			var part map[string]types.String
			diags.Append(m.ElementsAs(ctx, &part, false)...)
			for k, v := range part {
				if v.IsUnknown() {
					known = false
					continue
				}
				if *dst == nil {
					*dst = map[string]string{}
				}
				(*dst)[k] = v.ValueString()
			}
		}
	}
	merge(&values.FlinkConfiguration, plan.SecretFlinkConfiguration, confWO)
	merge(&values.Env, plan.SecretEnv, envWO)
	if prior == nil {
		return values, !values.Empty() || !known, known, diags
	}
	changed = !known ||
		!sameMap(plan.SecretFlinkConfiguration, prior.SecretFlinkConfiguration) || !sameMap(plan.SecretEnv, prior.SecretEnv) ||
		!plan.SecretFlinkConfigurationWOVersion.Equal(prior.SecretFlinkConfigurationWOVersion) ||
		!plan.SecretEnvWOVersion.Equal(prior.SecretEnvWOVersion)
	return values, changed, known, diags
}

// sameMap compares two string maps, null and empty being the same.
func sameMap(a, b types.Map) bool {
	if len(a.Elements()) == 0 && len(b.Elements()) == 0 && !a.IsUnknown() && !b.IsUnknown() {
		return true
	}
	return a.Equal(b)
}

// keepPriorSecrets puts prior's secret settings (none at create) back into m: the apply did
// not get the application running with the planned ones, so the next plan must show the
// change again.
func keepPriorSecrets(m *applicationModel, prior *applicationModel) {
	if prior == nil {
		m.SecretFlinkConfiguration, m.SecretEnv = types.MapNull(types.StringType), types.MapNull(types.StringType)
		m.SecretFlinkConfigurationWOVersion, m.SecretEnvWOVersion = types.Int64Null(), types.Int64Null()
		return
	}
	m.SecretFlinkConfiguration, m.SecretEnv = prior.SecretFlinkConfiguration, prior.SecretEnv
	m.SecretFlinkConfigurationWOVersion, m.SecretEnvWOVersion = prior.SecretFlinkConfigurationWOVersion, prior.SecretEnvWOVersion
}

// priorOf reads the state before a change; nil when there is none (create).
func priorOf(ctx context.Context, state tfsdk.State) (*applicationModel, diag.Diagnostics) {
	if state.Raw.IsNull() {
		return nil, nil
	}
	var m applicationModel
	diags := state.Get(ctx, &m)
	return &m, diags
}
