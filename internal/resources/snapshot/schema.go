package snapshot

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
)

func resourceSchema(ctx context.Context) schema.Schema {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	computed := func(description string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: description, PlanModifiers: keep}
	}
	return schema.Schema{
		MarkdownDescription: "A savepoint as a managed object. Without `path` or `source_snapshot_id`, creating it triggers a " +
			"savepoint of the running application (the job keeps running). With `path` it adopts an existing savepoint or " +
			"retained checkpoint (its `_metadata` must exist). With `source_snapshot_id` and `destination_url` it copies a " +
			"snapshot to another bucket (disaster recovery, promotion to another cluster). Destroying it keeps or disposes the " +
			"files per `deletion_policy`. Change `triggers` to take a new one.\n\n" +
			"One path is one set of files: adopting a path the provider already records (for example the savepoint a suspend " +
			"took) takes that record over instead of writing a second one, and so does `terraform import` of an automatic " +
			"snapshot; from then on retention never disposes it. A savepoint is written to the application's " +
			"`savepoint_directory` when it has one. If the apply ends while Flink still writes the savepoint, the next " +
			"create (or the application's next apply) records that same savepoint instead of leaving its files unrecorded.",
		Attributes: map[string]schema.Attribute{
			"id": computed("`namespace/name` of the snapshot record; use it as `restore.snapshot_id` of an application."),
			"application": schema.StringAttribute{Required: true, PlanModifiers: replace,
				MarkdownDescription: "Name of the application the snapshot belongs to.",
				Validators:          []validator.String{validate.ApplicationName()}},
			"namespace": schema.StringAttribute{Optional: true, Computed: true,
				MarkdownDescription: "Namespace; defaults to the provider's `default_namespace`.",
				Validators:          []validator.String{validate.DNSLabel(63)},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplaceIfConfigured(), stringplanmodifier.UseStateForUnknown()}},
			"path": schema.StringAttribute{Optional: true, Computed: true,
				MarkdownDescription: "Set to adopt an existing savepoint or retained checkpoint: its directory as an absolute URI " +
					"inside the provider's `snapshot_storage_url`, e.g. `s3://bucket/savepoints/orders/savepoint-1a2b3c-0123456789ab` " +
					"(a path without a scheme is rejected). Otherwise the path of the savepoint taken or copied.",
				Validators:    []validator.String{validate.SavepointDirectory()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplaceIfConfigured(), stringplanmodifier.UseStateForUnknown()}},
			"source_snapshot_id": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				MarkdownDescription: "Copy this snapshot (`namespace/name`) to `destination_url`."},
			"destination_url": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				MarkdownDescription: "Bucket URL to copy into (gocloud.dev/blob: `s3://`, `gs://`, `azblob://`, `file://`).",
				Validators:          []validator.String{validate.BlobURL()}},
			"format": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultFormat),
				PlanModifiers:       replace,
				MarkdownDescription: "`canonical` (default), `native`, or `checkpoint` for an adopted retained checkpoint.",
				Validators:          []validator.String{stringvalidator.OneOf(records.FormatCanonical, records.FormatNative, records.FormatCheckpoint)}},
			"deletion_policy": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultDeletionPolicy),
				MarkdownDescription: "On destroy: `retain` (default) keeps the files and the record; `delete` disposes the files, then the " +
					"record. With `delete`, files an application still needs are kept anyway, with a warning naming it: the ones it " +
					"runs from (a JobManager restart restores them again), or the ones a suspended or cancelled application would " +
					"resume from. The record then stays, managed by nobody. Files another record also names are kept too.",
				Validators: []validator.String{stringvalidator.OneOf(policyRetain, policyDelete)}},
			"triggers": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				PlanModifiers:       []planmodifier.Map{mapplanmodifier.RequiresReplace()},
				MarkdownDescription: "Arbitrary values; changing any takes a new snapshot (e.g. a release tag or a date)."},
			"name": computed("Name of the snapshot record (a ConfigMap in the namespace)."),
			"size_bytes": schema.Int64Attribute{Computed: true, MarkdownDescription: "Total size of the snapshot's files.",
				PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}},
			"created_at":    computed("When the snapshot was recorded (RFC 3339)."),
			"job_id":        computed("Flink job the snapshot was taken of."),
			"version_id":    computed("Application version that job ran."),
			"flink_version": computed("Flink release of that version."),
			"origin":        computed("`user` (taken), `imported` (adopted) or `copied`."),
			"parent_snapshot_id": computed("The snapshot (`namespace/name`) the job this one was taken of had started from " +
				"(null for an adopted or copied snapshot, or a job that started with empty state). The `flink_snapshots` data " +
				"source shows the whole trail: parents, children, and what uses each snapshot."),
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Delete: true}),
		},
	}
}
