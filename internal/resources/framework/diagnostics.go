package framework

import (
	"errors"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
)

// Settings says where lifecycle settings are in one resource's configuration: the attribute
// a diagnostic about the setting points at, whose path is also its name in the message.
type Settings map[lifecycle.Setting]path.Path

// settingNames name the settings a resource does not hold itself: the provider's, the
// version's, and the application's in errors shown by another resource (a flink_snapshot's
// savepoint goes to the application's savepoint_directory).
var settingNames = map[lifecycle.Setting]string{
	lifecycle.SettingSnapshotStorage:            "snapshot_storage_url",
	lifecycle.SettingSnapshotStorageCredentials: "snapshot_storage_credentials_secret",
	lifecycle.SettingFlinkConfiguration:         "flink_configuration",
	lifecycle.SettingVersion:                    "version_id",
	lifecycle.SettingUpgradeMode:                "upgrade_mode",
	lifecycle.SettingRestoreStrategy:            "restore.strategy",
	lifecycle.SettingRestoreSnapshot:            "restore.snapshot_id",
	lifecycle.SettingAllowNonRestoredState:      "restore.allow_non_restored_state",
	lifecycle.SettingSavepointDirectory:         "savepoint_directory",
	lifecycle.SettingSavepointTimeout:           "savepoint_timeout",
	lifecycle.SettingHighAvailability:           "high_availability",
	lifecycle.SettingOnDestroy:                  "on_destroy",
	lifecycle.SettingCopyDestination:            "destination_url",
}

// Name is how the configuration calls setting.
func (s Settings) Name(setting lifecycle.Setting) string {
	if p, ok := s[setting]; ok {
		return p.String()
	}
	if name, ok := settingNames[setting]; ok {
		return name
	}
	return string(setting)
}

// AddError adds err as an error diagnostic. A lifecycle.SettingError in it is worded with
// the configuration's names and points at its setting's attribute, when this resource has one.
func (s Settings) AddError(diags *diag.Diagnostics, summary string, err error) {
	var settingErr *lifecycle.SettingError
	if !errors.As(err, &settingErr) {
		diags.AddError(summary, err.Error())
		return
	}
	detail := strings.Replace(err.Error(), settingErr.Error(), settingErr.Render(s.Name), 1)
	if attribute, ok := s[settingErr.Setting]; ok {
		diags.AddAttributeError(attribute, summary, detail)
		return
	}
	diags.AddError(summary, detail)
}
