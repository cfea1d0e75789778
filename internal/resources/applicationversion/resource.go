// Package applicationversion implements flink_application_version and its data source.
package applicationversion

import (
	"context"
	"errors"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/framework"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
)

var (
	_ resource.ResourceWithConfigure        = &versionResource{}
	_ resource.ResourceWithImportState      = &versionResource{}
	_ resource.ResourceWithModifyPlan       = &versionResource{}
	_ resource.ResourceWithValidateConfig   = &versionResource{}
	_ resource.ResourceWithConfigValidators = &versionResource{}
)

// NewResource is the constructor the provider registers.
func NewResource() resource.Resource {
	return &versionResource{Resource: framework.NewResource("application_version")}
}

type versionResource struct {
	framework.Resource
}

func (r *versionResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = resourceSchema()
}

// ConfigValidators check rules that need more than one attribute.
func (r *versionResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		validate.FlinkConfigurationFitsVersion(path.Root("flink_version"), path.Root("flink_configuration")),
		validate.JarURIFitsVersion(path.Root("flink_version"), path.Root("jar_uri")),
	}
}

// ValidateConfig catches a parallelism the TaskManagers cannot host, and settings that
// contradict each other, before anything runs.
func (r *versionResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m versionModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// A variable set twice would leave which value wins to Kubernetes' ordering.
	for name := range m.EnvFromSecrets.Elements() {
		if _, dup := m.Env.Elements()[name]; dup {
			addEnvSetTwice(&resp.Diagnostics, name)
		}
	}
	if !m.Metrics.IsNull() {
		for key := range m.FlinkConfiguration.Elements() {
			if strings.HasPrefix(key, flinkconf.PrometheusReporterPrefix) {
				addReporterConfiguredTwice(&resp.Diagnostics, key)
			}
		}
	}
	if m.Parallelism.IsUnknown() || m.Parallelism.IsNull() || m.TaskManager.IsUnknown() {
		return
	}
	// A task_manager left out gets the defaults.
	tm := taskManagerModel{Replicas: types.Int64Null(), TaskSlots: types.Int64Null()}
	if !m.TaskManager.IsNull() {
		resp.Diagnostics.Append(m.TaskManager.As(ctx, &tm, basetypes.ObjectAsOptions{})...)
	}
	if resp.Diagnostics.HasError() || tm.Replicas.IsUnknown() || tm.TaskSlots.IsUnknown() {
		return
	}
	replicas, slots := valueOr(tm.Replicas, defaultReplicas), valueOr(tm.TaskSlots, defaultTaskSlots)
	if p := m.Parallelism.ValueInt64(); p > replicas*slots {
		addNotEnoughSlots(&resp.Diagnostics, p, replicas, slots)
	}
}

func valueOr(v types.Int64, def int64) int64 {
	if v.IsNull() {
		return def
	}
	return v.ValueInt64()
}

// ModifyPlan fills the namespace from the provider default and computes the id at plan time,
// so an application referring to this version can be checked in the same plan.
func (r *versionResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.Platform == nil {
		return
	}
	if !req.State.Raw.IsNull() && req.State.Raw.Equal(req.Plan.Raw) {
		return // nothing changed: namespace and id are known (make bench-scale: 2 % of a plan's provider CPU)
	}
	var plan versionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if plan.Namespace.IsUnknown() {
		plan.Namespace = types.StringValue(r.Platform.DefaultNamespace)
	}
	if !plan.Namespace.IsUnknown() && !plan.Application.IsUnknown() && !plan.Version.IsUnknown() {
		plan.ID = types.StringValue(plan.Namespace.ValueString() + "/" + plan.Application.ValueString() + "/" + plan.Version.ValueString())
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (r *versionResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan versionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	v, diags := plan.toSpec(ctx)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.Platform.Records().PutVersionRecord(ctx, v); err != nil {
		resp.Diagnostics.AddError("Cannot record application version "+v.ID(), err.Error())
		return
	}
	tflog.Info(ctx, "recorded application version", map[string]any{"id": v.ID()})
	plan.ID = types.StringValue(v.ID())
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *versionResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state versionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	v, err := r.Platform.Records().GetVersionRecord(ctx, state.Namespace.ValueString(), state.Application.ValueString(), state.Version.ValueString())
	if errors.Is(err, records.ErrNotFound) {
		tflog.Warn(ctx, "version record is gone; removing from state", map[string]any{"id": state.ID.ValueString()})
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read application version "+state.ID.ValueString(), err.Error())
		return
	}
	m, diags := fromSpec(v)
	resp.Diagnostics.Append(diags...)
	// Keep an explicitly empty list/map as configured rather than flip it to null.
	m.Args = framework.KeepEmpty(state.Args, m.Args)
	m.FlinkConfiguration = framework.KeepEmptyMap(state.FlinkConfiguration, m.FlinkConfiguration)
	m.Env = framework.KeepEmptyMap(state.Env, m.Env)
	m.EnvFromSecrets = framework.KeepEmptyMap(state.EnvFromSecrets, m.EnvFromSecrets)
	m.FlinkConfSecrets = framework.KeepEmpty(state.FlinkConfSecrets, m.FlinkConfSecrets)
	framework.SetStateIfChanged(ctx, resp, state, m)
}

// Update is never called with a change: every attribute requires replacement.
func (r *versionResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan versionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *versionResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state versionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	namespace, application, label := state.Namespace.ValueString(), state.Application.ValueString(), state.Version.ValueString()
	// The deployed version's record is what a restart or rollback runs; never delete it
	// from under its application. When the application itself is being destroyed in the
	// same run, wait for that to finish.
	if err := r.Platform.WaitVersionNotDeployed(ctx, namespace, application, label); err != nil {
		addDeleteRefused(&resp.Diagnostics, err)
		return
	}
	err := r.Platform.Records().DeleteVersionRecord(ctx, namespace, application, label)
	if err != nil && !errors.Is(err, records.ErrNotFound) {
		resp.Diagnostics.AddError("Cannot delete application version "+state.ID.ValueString(), err.Error())
	}
}

func (r *versionResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	namespace, application, version, err := ParseID(req.ID)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import id", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("namespace"), namespace)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("application"), application)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("version"), version)...)
}
