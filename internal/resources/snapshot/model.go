package snapshot

import (
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

type snapshotModel struct {
	ID               types.String   `tfsdk:"id"`
	Application      types.String   `tfsdk:"application"`
	Namespace        types.String   `tfsdk:"namespace"`
	Path             types.String   `tfsdk:"path"`
	SourceSnapshotID types.String   `tfsdk:"source_snapshot_id"`
	DestinationURL   types.String   `tfsdk:"destination_url"`
	Format           types.String   `tfsdk:"format"`
	DeletionPolicy   types.String   `tfsdk:"deletion_policy"`
	Triggers         types.Map      `tfsdk:"triggers"`
	Name             types.String   `tfsdk:"name"`
	SizeBytes        types.Int64    `tfsdk:"size_bytes"`
	CreatedAt        types.String   `tfsdk:"created_at"`
	JobID            types.String   `tfsdk:"job_id"`
	VersionID        types.String   `tfsdk:"version_id"`
	FlinkVersion     types.String   `tfsdk:"flink_version"`
	Origin           types.String   `tfsdk:"origin"`
	ParentSnapshotID types.String   `tfsdk:"parent_snapshot_id"`
	Timeouts         timeouts.Value `tfsdk:"timeouts"`
}

// Deletion policies, and the format and policy a snapshot gets when its configuration
// leaves them out (the schema's Defaults and import).
const (
	policyRetain          = "retain"
	policyDelete          = "delete"
	defaultDeletionPolicy = policyRetain
	defaultFormat         = records.FormatCanonical
)

type snapshotsModel struct {
	Namespace   types.String `tfsdk:"namespace"`
	Application types.String `tfsdk:"application"`
	Version     types.String `tfsdk:"version"`
	Origin      types.String `tfsdk:"origin"`
	Snapshots   types.List   `tfsdk:"snapshots"`
	Latest      types.Object `tfsdk:"latest"`
}

var snapshotAttrTypes = map[string]attr.Type{
	"id": types.StringType, "name": types.StringType, "application": types.StringType, "path": types.StringType,
	"origin": types.StringType, "format": types.StringType, "size_bytes": types.Int64Type, "created_at": types.StringType,
	"job_id": types.StringType, "version_id": types.StringType, "flink_version": types.StringType,
	"managed": types.BoolType, "metadata_version": types.Int64Type,
	"parent_snapshot_id": types.StringType, "source_snapshot_id": types.StringType,
	"used_by": types.ListType{ElemType: types.StringType}, "children": types.ListType{ElemType: types.StringType},
	"operators": types.ListType{ElemType: types.ObjectType{AttrTypes: operatorAttrTypes}},
}

var operatorAttrTypes = map[string]attr.Type{
	"id": types.StringType, "uid": types.StringType, "name": types.StringType, "parallelism": types.Int64Type,
	"max_parallelism": types.Int64Type, "state_size_bytes": types.Int64Type, "has_state": types.BoolType,
}

// contentsOf are the attributes of what a snapshot holds: null when its _metadata was not read.
func contentsOf(s records.SnapshotRecord) (metadataVersion types.Int64, operators types.List) {
	operatorType := types.ObjectType{AttrTypes: operatorAttrTypes}
	if s.Contents == nil {
		return types.Int64Null(), types.ListNull(operatorType)
	}
	values := make([]attr.Value, len(s.Contents.Operators))
	for i, op := range s.Contents.Operators {
		values[i] = types.ObjectValueMust(operatorAttrTypes, map[string]attr.Value{
			"id": types.StringValue(op.ID), "uid": stringOrNull(op.UID), "name": stringOrNull(op.Name),
			"parallelism": types.Int64Value(int64(op.Parallelism)), "max_parallelism": types.Int64Value(int64(op.MaxParallelism)),
			"state_size_bytes": types.Int64Value(op.StateSize), "has_state": types.BoolValue(op.HasState),
		})
	}
	return types.Int64Value(int64(s.Contents.MetadataVersion)), types.ListValueMust(operatorType, values)
}

// fill copies a snapshot record into the model.
func fill(m *snapshotModel, s records.SnapshotRecord) {
	m.ID = types.StringValue(s.Namespace + "/" + s.Name)
	m.Name = types.StringValue(s.Name)
	m.Namespace = types.StringValue(s.Namespace)
	m.Application = types.StringValue(s.Application)
	m.Path = types.StringValue(s.Path)
	m.SizeBytes = types.Int64Value(s.SizeBytes)
	m.CreatedAt = types.StringValue(createdAt(s))
	m.JobID = types.StringValue(s.JobID)
	m.VersionID = types.StringValue(versionID(s))
	m.FlinkVersion = types.StringValue(s.FlinkVersion)
	m.Origin = types.StringValue(s.Origin)
	m.ParentSnapshotID = snapshotID(s.Namespace, s.Parent)
}

// importedModel is the state of an imported snapshot: the settings no record keeps get
// their defaults.
func importedModel(s records.SnapshotRecord) snapshotModel {
	m := snapshotModel{
		Format: types.StringValue(s.Format), DeletionPolicy: types.StringValue(defaultDeletionPolicy),
		Triggers: types.MapNull(types.StringType), SourceSnapshotID: types.StringNull(), DestinationURL: types.StringNull(),
		Timeouts: timeouts.Value{Object: types.ObjectNull(map[string]attr.Type{"create": types.StringType, "delete": types.StringType})},
	}
	fill(&m, s)
	return m
}

// objectOf is a snapshot record as an element of the data source's list.
func objectOf(s records.SnapshotRecord, usedBy, children []string) types.Object {
	metadataVersion, operators := contentsOf(s)
	ids := make([]string, len(children))
	for i, c := range children {
		ids[i] = s.Namespace + "/" + c
	}
	return types.ObjectValueMust(snapshotAttrTypes, map[string]attr.Value{
		"metadata_version": metadataVersion, "operators": operators,
		"parent_snapshot_id": snapshotID(s.Namespace, s.Parent), "source_snapshot_id": snapshotID(s.Namespace, s.SourceSnapshot),
		"used_by": types.ListValueMust(types.StringType, stringValues(usedBy)), "children": types.ListValueMust(types.StringType, stringValues(ids)),
		"id": types.StringValue(s.Namespace + "/" + s.Name), "name": types.StringValue(s.Name),
		"application": types.StringValue(s.Application), "path": types.StringValue(s.Path),
		"origin": types.StringValue(s.Origin), "format": types.StringValue(s.Format),
		"size_bytes": types.Int64Value(s.SizeBytes), "created_at": types.StringValue(createdAt(s)),
		"job_id": types.StringValue(s.JobID), "version_id": types.StringValue(versionID(s)),
		"flink_version": types.StringValue(s.FlinkVersion), "managed": types.BoolValue(s.ManagedBy != ""),
	})
}

func createdAt(s records.SnapshotRecord) string { return s.CreatedAt.UTC().Format(time.RFC3339) }

// versionID is the id of the version the snapshot's job ran, "" when it is not known.
func versionID(s records.SnapshotRecord) string {
	if s.VersionLabel == "" {
		return ""
	}
	return s.Namespace + "/" + s.Application + "/" + s.VersionLabel
}

// snapshotID is the id of snapshot record name in namespace, null when name is "".
func snapshotID(namespace, name string) types.String {
	if name == "" {
		return types.StringNull()
	}
	return types.StringValue(namespace + "/" + name)
}

func stringValues(ss []string) []attr.Value {
	out := make([]attr.Value, len(ss))
	for i, s := range ss {
		out[i] = types.StringValue(s)
	}
	return out
}

func stringOrNull(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}
