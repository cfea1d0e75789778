package streamingapplication

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/defaults"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
)

// The defaults are what state written by earlier releases holds and what the docs say: a
// change to them is a change for every user.
func TestSettingDefaultsKeepTheirValues(t *testing.T) {
	d := settingDefaults
	strings := map[string]types.String{"state": d.State, "upgrade_mode": d.UpgradeMode, "on_destroy": d.OnDestroy,
		"savepoint_timeout": d.SavepointTimeout, "savepoint_format": d.SavepointFormat}
	want := map[string]string{"state": "running", "upgrade_mode": "savepoint", "on_destroy": "savepoint",
		"savepoint_timeout": "10m", "savepoint_format": "canonical"}
	for name, v := range strings {
		if v.ValueString() != want[name] {
			t.Errorf("%s defaults to %s, want %s", name, v, want[name])
		}
	}
	if d.Drain.ValueBool() || !d.HighAvailability.ValueBool() {
		t.Errorf("drain defaults to %s and high_availability to %s, want false and true", d.Drain, d.HighAvailability)
	}
	objects := []struct {
		got  types.Object
		want map[string]attr.Value
	}{
		{d.Restore, map[string]attr.Value{"strategy": types.StringValue("latest_state"), "snapshot_id": types.StringNull(),
			"allow_non_restored_state": types.BoolValue(false)}},
		{d.Rollback, map[string]attr.Value{"enabled": types.BoolValue(true), "readiness_timeout": types.StringValue("5m"),
			"require_checkpoint": types.BoolValue(false)}},
		{d.Retention, map[string]attr.Value{"max_count": types.Int64Value(5), "max_age": types.StringNull()}},
	}
	for _, o := range objects {
		if !reflect.DeepEqual(o.got.Attributes(), o.want) {
			t.Errorf("default %s, want %v", o.got, o.want)
		}
	}
}

// The schema's Defaults (a new resource) and fillDefaults (an imported one) agree.
func TestSchemaDefaultsAreTheImportDefaults(t *testing.T) {
	ctx := context.Background()
	s := resourceSchema(ctx)
	var imported applicationModel
	imported.fillDefaults()
	for name, want := range map[string]attr.Value{"upgrade_mode": imported.UpgradeMode, "on_destroy": imported.OnDestroy,
		"savepoint_timeout": imported.SavepointTimeout, "savepoint_format": imported.SavepointFormat, "drain": imported.Drain,
		"restore": imported.Restore, "rollback": imported.Rollback, "snapshot_retention": imported.Retention} {
		var got attr.Value
		switch a := s.Attributes[name].(type) {
		case schema.StringAttribute:
			var resp defaults.StringResponse
			a.Default.DefaultString(ctx, defaults.StringRequest{}, &resp)
			got = resp.PlanValue
		case schema.BoolAttribute:
			var resp defaults.BoolResponse
			a.Default.DefaultBool(ctx, defaults.BoolRequest{}, &resp)
			got = resp.PlanValue
		case schema.SingleNestedAttribute:
			var resp defaults.ObjectResponse
			a.Default.DefaultObject(ctx, defaults.ObjectRequest{}, &resp)
			got = resp.PlanValue
		}
		if got == nil || !got.Equal(want) {
			t.Errorf("%s: schema default %v, import default %v", name, got, want)
		}
	}
}

func TestFillDefaultsKeepsWhatIsSet(t *testing.T) {
	m := applicationModel{UpgradeMode: types.StringValue(lifecycle.UpgradeStateless), Drain: types.BoolValue(true)}
	m.fillDefaults()
	if m.UpgradeMode.ValueString() != lifecycle.UpgradeStateless || !m.Drain.ValueBool() {
		t.Errorf("fillDefaults replaced set values: upgrade_mode %s, drain %s", m.UpgradeMode, m.Drain)
	}
	if !m.Rollback.Equal(settingDefaults.Rollback) {
		t.Errorf("rollback %s, want the default %s", m.Rollback, settingDefaults.Rollback)
	}
}

// Settings left out, and settings set to their defaults, both reach the lifecycle as its defaults.
func TestLifecycleOptionsOfDefaultsAreTheLifecycleDefaults(t *testing.T) {
	for name, m := range map[string]applicationModel{"left out": {}, "defaults": settingDefaults} {
		got, diags := m.lifecycleOptions(context.Background())
		if diags.HasError() {
			t.Fatal(diags)
		}
		if want := lifecycle.Defaults(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: lifecycle options\n%+v\nwant\n%+v", name, got, want)
		}
	}
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{5 * time.Minute: "5m", 10 * time.Minute: "10m", 90 * time.Second: "1m30s",
		2 * time.Hour: "2h", 30 * time.Second: "30s"} {
		if got := durationText(d); got != want {
			t.Errorf("durationText(%s) = %s, want %s", d, got, want)
		}
	}
}
