package applicationversion

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// Defaults of what a version leaves out, those of the Flink Kubernetes Operator's examples:
// enough memory for Flink's own overheads, one slot, one replica. The schema's Defaults and
// ValidateConfig use them.
const (
	defaultImagePullPolicy   = "IfNotPresent"
	defaultParallelism       = 1
	defaultCPU               = 1.0
	defaultJobManagerMemory  = "1600m"
	defaultTaskManagerMemory = "1728m"
	defaultReplicas          = 1
	defaultTaskSlots         = 1
)

var jobManagerAttrTypes = map[string]attr.Type{
	"cpu": types.Float64Type, "memory": types.StringType, "replicas": types.Int64Type,
}

var taskManagerAttrTypes = map[string]attr.Type{
	"cpu": types.Float64Type, "memory": types.StringType, "replicas": types.Int64Type, "task_slots": types.Int64Type,
}

var secretKeyRefAttrTypes = map[string]attr.Type{"secret": types.StringType, "key": types.StringType}

func defaultJobManager() types.Object {
	return types.ObjectValueMust(jobManagerAttrTypes, map[string]attr.Value{
		"cpu": types.Float64Value(defaultCPU), "memory": types.StringValue(defaultJobManagerMemory),
		"replicas": types.Int64Value(defaultReplicas),
	})
}

func defaultTaskManager() types.Object {
	return types.ObjectValueMust(taskManagerAttrTypes, map[string]attr.Value{
		"cpu": types.Float64Value(defaultCPU), "memory": types.StringValue(defaultTaskManagerMemory),
		"replicas": types.Int64Value(defaultReplicas), "task_slots": types.Int64Value(defaultTaskSlots),
	})
}

type versionModel struct {
	ID                 types.String `tfsdk:"id"`
	Application        types.String `tfsdk:"application"`
	Namespace          types.String `tfsdk:"namespace"`
	Version            types.String `tfsdk:"version"`
	Description        types.String `tfsdk:"description"`
	ParentVersionID    types.String `tfsdk:"parent_version_id"`
	Image              types.String `tfsdk:"image"`
	ImagePullPolicy    types.String `tfsdk:"image_pull_policy"`
	JarURI             types.String `tfsdk:"jar_uri"`
	EntryClass         types.String `tfsdk:"entry_class"`
	Args               types.List   `tfsdk:"args"`
	FlinkVersion       types.String `tfsdk:"flink_version"`
	Parallelism        types.Int64  `tfsdk:"parallelism"`
	FlinkConfiguration types.Map    `tfsdk:"flink_configuration"`
	JobManager         types.Object `tfsdk:"job_manager"`
	TaskManager        types.Object `tfsdk:"task_manager"`
	Env                types.Map    `tfsdk:"env"`
	LogConfiguration   types.String `tfsdk:"log_configuration"`
	EnvFromSecrets     types.Map    `tfsdk:"env_from_secrets"`
	FlinkConfSecrets   types.List   `tfsdk:"flink_configuration_secrets"`
	StatefulOperators  types.Set    `tfsdk:"stateful_operator_uids"`
	Bounded            types.Bool   `tfsdk:"bounded"`
	Metrics            types.Object `tfsdk:"metrics"`
}

var metricsAttrTypes = map[string]attr.Type{"port": types.Int64Type, "scrape_annotations": types.BoolType}

type metricsModel struct {
	Port              types.Int64 `tfsdk:"port"`
	ScrapeAnnotations types.Bool  `tfsdk:"scrape_annotations"`
}

type secretKeyRefModel struct {
	Secret types.String `tfsdk:"secret"`
	Key    types.String `tfsdk:"key"`
}

type jobManagerModel struct {
	CPU      types.Float64 `tfsdk:"cpu"`
	Memory   types.String  `tfsdk:"memory"`
	Replicas types.Int64   `tfsdk:"replicas"`
}

type taskManagerModel struct {
	CPU       types.Float64 `tfsdk:"cpu"`
	Memory    types.String  `tfsdk:"memory"`
	Replicas  types.Int64   `tfsdk:"replicas"`
	TaskSlots types.Int64   `tfsdk:"task_slots"`
}

// toSpec converts a fully known plan into the version spec stored in the record.
func (m versionModel) toSpec(ctx context.Context) (spec.Version, diag.Diagnostics) {
	var diags diag.Diagnostics
	v := spec.Version{
		Namespace:        m.Namespace.ValueString(),
		Application:      m.Application.ValueString(),
		Label:            m.Version.ValueString(),
		Description:      m.Description.ValueString(),
		ParentVersionID:  m.ParentVersionID.ValueString(),
		Image:            m.Image.ValueString(),
		ImagePullPolicy:  m.ImagePullPolicy.ValueString(),
		JarURI:           m.JarURI.ValueString(),
		EntryClass:       m.EntryClass.ValueString(),
		FlinkVersion:     m.FlinkVersion.ValueString(),
		Parallelism:      m.Parallelism.ValueInt64(),
		LogConfiguration: m.LogConfiguration.ValueString(),
		Bounded:          m.Bounded.ValueBool(),
	}
	diags.Append(m.Args.ElementsAs(ctx, &v.Args, false)...)
	diags.Append(m.FlinkConfiguration.ElementsAs(ctx, &v.FlinkConfiguration, false)...)
	diags.Append(m.Env.ElementsAs(ctx, &v.Env, false)...)
	diags.Append(m.FlinkConfSecrets.ElementsAs(ctx, &v.FlinkConfigurationSecrets, false)...)
	diags.Append(m.StatefulOperators.ElementsAs(ctx, &v.StatefulOperatorUIDs, false)...)
	sort.Strings(v.StatefulOperatorUIDs)
	if !m.EnvFromSecrets.IsNull() && !m.EnvFromSecrets.IsUnknown() {
		var refs map[string]secretKeyRefModel
		diags.Append(m.EnvFromSecrets.ElementsAs(ctx, &refs, false)...)
		v.EnvFromSecrets = make(map[string]spec.SecretKeyRef, len(refs))
		for name, r := range refs {
			v.EnvFromSecrets[name] = spec.SecretKeyRef{Secret: r.Secret.ValueString(), Key: r.Key.ValueString()}
		}
	}
	var jm jobManagerModel
	var tm taskManagerModel
	diags.Append(m.JobManager.As(ctx, &jm, basetypes.ObjectAsOptions{})...)
	diags.Append(m.TaskManager.As(ctx, &tm, basetypes.ObjectAsOptions{})...)
	v.JobManager = spec.JobManager{CPU: jm.CPU.ValueFloat64(), Memory: jm.Memory.ValueString(), Replicas: jm.Replicas.ValueInt64()}
	v.TaskManager = spec.TaskManager{CPU: tm.CPU.ValueFloat64(), Memory: tm.Memory.ValueString(),
		Replicas: tm.Replicas.ValueInt64(), TaskSlots: tm.TaskSlots.ValueInt64()}
	if !m.Metrics.IsNull() && !m.Metrics.IsUnknown() {
		var mm metricsModel
		diags.Append(m.Metrics.As(ctx, &mm, basetypes.ObjectAsOptions{})...)
		v.Metrics = &spec.Metrics{Port: int32(mm.Port.ValueInt64()), ScrapeAnnotations: mm.ScrapeAnnotations.ValueBool()}
	}
	return v, diags
}

// fromSpec fills the model from a stored record (Read and import).
func fromSpec(v spec.Version) (versionModel, diag.Diagnostics) {
	var diags diag.Diagnostics
	m := versionModel{
		ID:               types.StringValue(v.ID()),
		Application:      types.StringValue(v.Application),
		Namespace:        types.StringValue(v.Namespace),
		Version:          types.StringValue(v.Label),
		Description:      optionalString(v.Description),
		ParentVersionID:  optionalString(v.ParentVersionID),
		Image:            types.StringValue(v.Image),
		ImagePullPolicy:  types.StringValue(v.ImagePullPolicy),
		JarURI:           types.StringValue(v.JarURI),
		EntryClass:       types.StringValue(v.EntryClass),
		FlinkVersion:     types.StringValue(v.FlinkVersion),
		Parallelism:      types.Int64Value(v.Parallelism),
		LogConfiguration: optionalString(v.LogConfiguration),
		Bounded:          types.BoolValue(v.Bounded),
	}
	m.Args = types.ListNull(types.StringType)
	if len(v.Args) > 0 {
		m.Args = listOf(v.Args, &diags)
	}
	m.FlinkConfiguration = mapOf(v.FlinkConfiguration, &diags)
	m.Env = mapOf(v.Env, &diags)
	m.FlinkConfSecrets = types.ListNull(types.StringType)
	if len(v.FlinkConfigurationSecrets) > 0 {
		m.FlinkConfSecrets = listOf(v.FlinkConfigurationSecrets, &diags)
	}
	m.StatefulOperators = types.SetNull(types.StringType)
	if len(v.StatefulOperatorUIDs) > 0 {
		var d diag.Diagnostics
		m.StatefulOperators, d = types.SetValueFrom(context.Background(), types.StringType, v.StatefulOperatorUIDs)
		diags.Append(d...)
	}
	var d diag.Diagnostics
	m.EnvFromSecrets = types.MapNull(types.ObjectType{AttrTypes: secretKeyRefAttrTypes})
	if len(v.EnvFromSecrets) > 0 {
		refs := make(map[string]secretKeyRefModel, len(v.EnvFromSecrets))
		for name, r := range v.EnvFromSecrets {
			refs[name] = secretKeyRefModel{Secret: types.StringValue(r.Secret), Key: types.StringValue(r.Key)}
		}
		m.EnvFromSecrets, d = types.MapValueFrom(context.Background(), types.ObjectType{AttrTypes: secretKeyRefAttrTypes}, refs)
		diags.Append(d...)
	}
	m.JobManager, d = types.ObjectValueFrom(context.Background(), jobManagerAttrTypes, jobManagerModel{
		CPU: types.Float64Value(v.JobManager.CPU), Memory: types.StringValue(v.JobManager.Memory),
		Replicas: types.Int64Value(v.JobManager.Replicas),
	})
	diags.Append(d...)
	m.TaskManager, d = types.ObjectValueFrom(context.Background(), taskManagerAttrTypes, taskManagerModel{
		CPU: types.Float64Value(v.TaskManager.CPU), Memory: types.StringValue(v.TaskManager.Memory),
		Replicas: types.Int64Value(v.TaskManager.Replicas), TaskSlots: types.Int64Value(v.TaskManager.TaskSlots),
	})
	diags.Append(d...)
	m.Metrics = types.ObjectNull(metricsAttrTypes)
	if v.Metrics != nil {
		m.Metrics, d = types.ObjectValueFrom(context.Background(), metricsAttrTypes, metricsModel{
			Port: types.Int64Value(int64(v.Metrics.Port)), ScrapeAnnotations: types.BoolValue(v.Metrics.ScrapeAnnotations),
		})
		diags.Append(d...)
	}
	return m, diags
}

func optionalString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func listOf(values []string, diags *diag.Diagnostics) types.List {
	l, d := types.ListValueFrom(context.Background(), types.StringType, values)
	diags.Append(d...)
	return l
}

func mapOf(values map[string]string, diags *diag.Diagnostics) types.Map {
	if len(values) == 0 {
		return types.MapNull(types.StringType)
	}
	m, d := types.MapValueFrom(context.Background(), types.StringType, values)
	diags.Append(d...)
	return m
}

// ParseID splits "namespace/application/version".
func ParseID(id string) (namespace, application, version string, err error) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", fmt.Errorf("%q is not a version id; expected namespace/application/version", id)
	}
	return parts[0], parts[1], parts[2], nil
}

func checkVersionID(id string) error {
	_, _, _, err := ParseID(id)
	return err
}
