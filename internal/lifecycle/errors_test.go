package lifecycle

import (
	"errors"
	"strings"
	"testing"
)

func TestSettingErrorWordsSettingsAsTheCallerNamesThem(t *testing.T) {
	cause := errors.New("s3: AccessDenied")
	inner := settingErrorf(SettingRestoreStrategy, "fraud: snapshot s1 is no longer whole: %w. Choose one with %s",
		cause, SettingValue{SettingRestoreStrategy, RestoreSnapshot})
	err := settingErrorf(SettingRestoreStrategy, "%w; %s would start older, and %s is off", inner,
		SettingValue{SettingRestoreStrategy, RestoreLatestSnapshot}, SettingValue{SettingHighAvailability, false})

	hcl := func(s Setting) string { return strings.ReplaceAll(string(s), " ", "_") }
	want := `fraud: snapshot s1 is no longer whole: s3: AccessDenied. Choose one with restore_strategy = "snapshot"; ` +
		`restore_strategy = "latest_snapshot" would start older, and high_availability = false is off`
	if got := err.Render(hcl); got != want {
		t.Errorf("Render =\n%s\nwant\n%s", got, want)
	}
	if got, want := err.Error(), `Choose one with restore strategy = "snapshot"; restore strategy = "latest_snapshot"`; !strings.Contains(got, want) {
		t.Errorf("Error() = %s, want it to name the settings by the lifecycle's words: %s", got, want)
	}
	if !errors.Is(err, cause) {
		t.Error("the cause is not in the error's chain")
	}
}
