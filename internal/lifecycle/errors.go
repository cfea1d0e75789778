package lifecycle

import (
	"errors"
	"fmt"
)

// Setting names a setting of an application, of its version or of the platform, by what it
// is to the lifecycle. Errors about a setting carry it, so that a caller can point at it in
// its own terms (the Terraform resources: an attribute path and its HCL name).
type Setting string

const (
	SettingVersion         Setting = "version"
	SettingUpgradeMode     Setting = "upgrade mode"
	SettingRestoreStrategy Setting = "restore strategy"
	SettingRestoreSnapshot Setting = "snapshot to restore"
	// SettingAllowNonRestoredState lets a new version drop state it has no operator for.
	SettingAllowNonRestoredState Setting = "allow non-restored state"
	SettingSavepointDirectory    Setting = "savepoint directory"
	SettingSavepointTimeout      Setting = "savepoint timeout"
	SettingHighAvailability      Setting = "high availability"
	SettingOnDestroy             Setting = "on-destroy behaviour"
	// SettingFlinkConfiguration is the version's Flink configuration.
	SettingFlinkConfiguration Setting = "Flink configuration"
	// SettingSnapshotStorage is the platform's snapshot storage URL.
	SettingSnapshotStorage Setting = "snapshot storage URL"
	// SettingSnapshotStorageCredentials names the Secret with the storage credentials.
	SettingSnapshotStorageCredentials Setting = "snapshot storage credentials Secret"
	// SettingCopyDestination is where a snapshot is copied to.
	SettingCopyDestination Setting = "copy destination"
)

// SettingValue is a setting with a value, worded as an assignment: upgrade mode = "last_state".
type SettingValue struct {
	Setting Setting
	Value   any // a string or a bool
}

// SettingError is a problem with one setting. Its message names settings through Setting and
// SettingValue arguments, so Render can word them as the caller calls them.
type SettingError struct {
	Setting Setting // the setting at fault
	format  string
	args    []any
}

// settingErrorf makes a SettingError; format is fmt.Errorf's, and Setting or SettingValue
// arguments are named by the caller's words (%s).
func settingErrorf(setting Setting, format string, args ...any) *SettingError {
	return &SettingError{Setting: setting, format: format, args: args}
}

// NewSettingError is settingErrorf for callers outside the lifecycle (tests of a caller's
// wording).
func NewSettingError(setting Setting, format string, args ...any) *SettingError {
	return settingErrorf(setting, format, args...)
}

func (e *SettingError) Error() string {
	return e.Render(func(s Setting) string { return string(s) })
}

// Render words the error naming each setting with name.
func (e *SettingError) Render(name func(Setting) string) string {
	args := make([]any, len(e.args))
	for i, a := range e.args {
		switch a := a.(type) {
		case Setting:
			args[i] = name(a)
		case *SettingError: // a wrapped one
			args[i] = errors.New(a.Render(name))
		case SettingValue:
			args[i] = fmt.Sprintf("%s = %#v", name(a.Setting), a.Value)
		default:
			args[i] = a
		}
	}
	return fmt.Errorf(e.format, args...).Error()
}

// Unwrap returns the error the message wraps, if any.
func (e *SettingError) Unwrap() error {
	for _, a := range e.args {
		if err, ok := a.(error); ok {
			return err
		}
	}
	return nil
}

// StalePlanError is an apply that found the application needs another operation than the
// plan showed: nothing was done, and the change has to be planned again.
type StalePlanError struct {
	Namespace, Name string
	Planned, Needed Operation
}

func (e *StalePlanError) Error() string {
	if e.Planned == "" {
		return fmt.Sprintf("%s/%s: the plan could not say what apply would do (its version or name was not known yet), and it "+
			"now needs %s, which stops or replaces the running job", e.Namespace, e.Name, e.Needed)
	}
	return fmt.Sprintf("%s/%s changed since the plan: the plan said %s, but it now needs %s", e.Namespace, e.Name, e.Planned, e.Needed)
}

// SnapshotManagedError is a path to adopt that a managed snapshot record already holds: that
// record is the one to take over.
type SnapshotManagedError struct {
	Path, Namespace, Name string
}

func (e *SnapshotManagedError) Error() string {
	return fmt.Sprintf("%s is already managed by snapshot %s/%s; take that one over instead of adopting the path again",
		e.Path, e.Namespace, e.Name)
}

// VersionDeployedError refuses to delete the record of the version an application runs: a
// restart or a rollback needs it.
type VersionDeployedError struct{ Namespace, Application, Label string }

func (e *VersionDeployedError) Error() string {
	return fmt.Sprintf("version %s/%s/%s is what application %s/%s runs, so its record cannot be deleted; point the "+
		"application at another version first", e.Namespace, e.Application, e.Label, e.Namespace, e.Application)
}
