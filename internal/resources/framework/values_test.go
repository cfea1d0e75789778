package framework

import (
	"context"
	"math/big"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// TestSetStateIfChanged_WritesOnlyWhatRefreshChanged: a refresh that read back the prior
// values leaves the response's state as the framework gave it; one that read anything else
// writes the new values.
func TestSetStateIfChanged_WritesOnlyWhatRefreshChanged(t *testing.T) {
	ctx := context.Background()
	type model struct {
		Status types.String  `tfsdk:"status"`
		Labels types.Map     `tfsdk:"labels"`
		CPU    types.Float64 `tfsdk:"cpu"`
	}
	s := schema.Schema{Attributes: map[string]schema.Attribute{
		"status": schema.StringAttribute{Computed: true},
		"labels": schema.MapAttribute{ElementType: types.StringType, Optional: true},
		"cpu":    schema.Float64Attribute{Optional: true},
	}}
	objectType := tftypes.Object{AttributeTypes: map[string]tftypes.Type{
		"status": tftypes.String, "labels": tftypes.Map{ElementType: tftypes.String}, "cpu": tftypes.Number,
	}}
	state := func(status string) tfsdk.State {
		return tfsdk.State{Schema: s, Raw: tftypes.NewValue(objectType, map[string]tftypes.Value{
			"status": tftypes.NewValue(tftypes.String, status),
			"labels": tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, map[string]tftypes.Value{"team": tftypes.NewValue(tftypes.String, "orders")}),
			"cpu":    tftypes.NewValue(tftypes.Number, new(big.Float).SetPrec(512).SetFloat64(0.5)), // as Terraform's msgpack decodes it
		})}
	}
	// The response's state as the framework starts it; "marker" tells whether it was written.
	response := func() *resource.ReadResponse { return &resource.ReadResponse{State: state("marker")} }
	// The prior model as Read gets it from state: its number has the precision state gives it.
	var prior model
	if diags := state("RUNNING").Get(ctx, &prior); diags.HasError() {
		t.Fatal(diags)
	}
	labels := types.MapValueMust(types.StringType, map[string]attr.Value{"team": types.StringValue("orders")})

	same := response()
	SetStateIfChanged(ctx, same, prior, model{Status: types.StringValue("RUNNING"), Labels: labels, CPU: types.Float64Value(0.5)})
	var got model
	same.State.Get(ctx, &got)
	if got.Status.ValueString() != "marker" || same.Diagnostics.HasError() {
		t.Errorf("the prior values were written back: status %q, %v", got.Status.ValueString(), same.Diagnostics)
	}

	changed := response()
	SetStateIfChanged(ctx, changed, prior, model{Status: types.StringValue("FAILED"), Labels: labels, CPU: types.Float64Value(0.5)})
	changed.State.Get(ctx, &got)
	if got.Status.ValueString() != "FAILED" || !got.Labels.Equal(labels) || changed.Diagnostics.HasError() {
		t.Errorf("the read values were not written: %+v, %v", got, changed.Diagnostics)
	}
}
