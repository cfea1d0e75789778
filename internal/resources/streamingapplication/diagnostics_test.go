package streamingapplication

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/framework"
)

// onlyDiagnostic returns the one diagnostic and the attribute it points at (nil for none).
func onlyDiagnostic(t *testing.T, diags diag.Diagnostics) (diag.Diagnostic, *path.Path) {
	t.Helper()
	if len(diags) != 1 {
		t.Fatalf("got %d diagnostics, want 1: %v", len(diags), diags)
	}
	if withPath, ok := diags[0].(diag.DiagnosticWithPath); ok {
		p := withPath.Path()
		return diags[0], &p
	}
	return diags[0], nil
}

func TestSettingErrorsPointAtTheirAttributeInTerraformWords(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		wantPath   *path.Path
		wantDetail string
	}{
		{
			name: "an attribute of the application, in an error wrapping it",
			err: fmt.Errorf("apply: %w", lifecycle.NewSettingError(lifecycle.SettingUpgradeMode,
				"fraud: %s has no checkpoint storage: set it in its %s, or use %s",
				lifecycle.SettingValue{Setting: lifecycle.SettingUpgradeMode, Value: lifecycle.UpgradeLastState},
				lifecycle.SettingFlinkConfiguration,
				lifecycle.SettingValue{Setting: lifecycle.SettingUpgradeMode, Value: lifecycle.UpgradeSavepoint})),
			wantPath: pathOf(path.Root("upgrade_mode")),
			wantDetail: `apply: fraud: upgrade_mode = "last_state" has no checkpoint storage: set it in its flink_configuration, ` +
				`or use upgrade_mode = "savepoint"`,
		},
		{
			name: "an attribute inside restore",
			err: lifecycle.NewSettingError(lifecycle.SettingRestoreSnapshot, "fraud: %s needs %s",
				lifecycle.SettingValue{Setting: lifecycle.SettingRestoreStrategy, Value: lifecycle.RestoreSnapshot},
				lifecycle.SettingRestoreSnapshot),
			wantPath:   pathOf(path.Root("restore").AtName("snapshot_id")),
			wantDetail: `fraud: restore.strategy = "snapshot" needs restore.snapshot_id`,
		},
		{
			name: "a setting of the provider is named, not pointed at",
			err: lifecycle.NewSettingError(lifecycle.SettingSnapshotStorage, "no %s is configured",
				lifecycle.SettingSnapshotStorage),
			wantDetail: "no snapshot_storage_url is configured",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var diags diag.Diagnostics
			addLifecycleError(&diags, "Cannot plan application ns/fraud", tc.err)
			d, at := onlyDiagnostic(t, diags)
			if d.Severity() != diag.SeverityError || d.Summary() != "Cannot plan application ns/fraud" || d.Detail() != tc.wantDetail {
				t.Errorf("diagnostic %s %q:\n%s\nwant an error with detail\n%s", d.Severity(), d.Summary(), d.Detail(), tc.wantDetail)
			}
			if (at == nil) != (tc.wantPath == nil) || (at != nil && !at.Equal(*tc.wantPath)) {
				t.Errorf("points at %v, want %v", at, tc.wantPath)
			}
		})
	}
}

func pathOf(p path.Path) *path.Path { return &p }

func TestStalePlanSaysToRunTerraformPlanAgain(t *testing.T) {
	cases := []struct {
		stale *lifecycle.StalePlanError
		want  string
	}{
		{&lifecycle.StalePlanError{Namespace: "payments", Name: "fraud", Planned: lifecycle.OpNone, Needed: lifecycle.OpStatelessRedeploy},
			"payments/fraud changed since the plan: the plan said none, but it now needs stateless_redeploy. Run terraform plan again"},
		{&lifecycle.StalePlanError{Namespace: "payments", Name: "fraud", Needed: lifecycle.OpSavepointRedeploy},
			"payments/fraud: the plan could not say what apply would do (its version or name was not known yet), and it now " +
				"needs savepoint_redeploy, which stops or replaces the running job. Run terraform plan again to see it before it happens"},
	}
	for _, tc := range cases {
		var diags diag.Diagnostics
		addLifecycleError(&diags, "Cannot apply application payments/fraud", fmt.Errorf("%w", tc.stale))
		if d, _ := onlyDiagnostic(t, diags); d.Detail() != tc.want {
			t.Errorf("detail\n%s\nwant\n%s", d.Detail(), tc.want)
		}
	}
}

func TestNoHAWarningSaysWhatARestartDoes(t *testing.T) {
	var diags diag.Diagnostics
	addNoHAWarning(&diags, "orders")
	d, at := onlyDiagnostic(t, diags)
	if d.Severity() != diag.SeverityWarning || at == nil || !at.Equal(path.Root("high_availability")) {
		t.Fatalf("got %s at %v, want a warning at high_availability", d.Severity(), at)
	}
	for _, want := range []string{"orders runs without high availability (high_availability = false)", "JobManager restarts",
		"snapshot it was deployed from", "next plan shows no change"} {
		if !strings.Contains(d.Detail(), want) {
			t.Errorf("warning does not say %q:\n%s", want, d.Detail())
		}
	}
}

// The attributes this resource points at are named as other resources name them, so that a
// message about a setting reads the same whichever resource shows it.
func TestSettingsAreNamedAsElsewhere(t *testing.T) {
	for setting, attribute := range settings {
		if elsewhere := (framework.Settings{}).Name(setting); elsewhere != attribute.String() {
			t.Errorf("%s is %s here, %s elsewhere", setting, attribute, elsewhere)
		}
	}
}
