package snapshot

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
)

func TestAdoptingAManagedPathSaysWhichToImport(t *testing.T) {
	var diags diag.Diagnostics
	addLifecycleError(&diags, "Cannot create snapshot of ns/orders",
		&lifecycle.SnapshotManagedError{Path: "s3://b/savepoint-1", Namespace: "ns", Name: "orders-snap-1"})
	if len(diags) != 1 {
		t.Fatalf("diagnostics %v, want one", diags)
	}
	want := "s3://b/savepoint-1 is already managed by flink_snapshot ns/orders-snap-1; import that one instead of " +
		"adopting the path again (terraform import <address> ns/orders-snap-1)"
	withPath, ok := diags[0].(diag.DiagnosticWithPath)
	if !ok || !withPath.Path().Equal(path.Root("path")) || diags[0].Detail() != want {
		t.Errorf("diagnostic %v, want at path:\n%s", diags[0], want)
	}
}

func TestDeleteErrorKeepsTheRecordAndWordsTheSetting(t *testing.T) {
	var diags diag.Diagnostics
	cause := errors.New("bucket gone")
	addDeleteError(&diags, "ns/orders-snap-1", fmt.Errorf("disposing: %w",
		lifecycle.NewSettingError(lifecycle.SettingCopyDestination, "opening %s: %w", lifecycle.SettingCopyDestination, cause)))
	if len(diags) != 1 {
		t.Fatalf("diagnostics %v, want one", diags)
	}
	for _, want := range []string{"disposing: opening destination_url: bucket gone", "The snapshot record is kept"} {
		if !strings.Contains(diags[0].Detail(), want) {
			t.Errorf("detail does not say %q:\n%s", want, diags[0].Detail())
		}
	}
}
