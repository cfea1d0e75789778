// Package common holds the small pieces every resource package shares.
package common

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
)

// PlatformFrom checks the provider data handed to Configure. It is nil before the provider
// is configured (validation-only calls), which is not an error.
func PlatformFrom(providerData any, diags *diag.Diagnostics) *lifecycle.Platform {
	if providerData == nil {
		return nil
	}
	platform, ok := providerData.(*lifecycle.Platform)
	if !ok {
		diags.AddError("Unexpected provider data",
			fmt.Sprintf("expected *lifecycle.Platform, got %T. This is a bug in the provider; please report it.", providerData))
		return nil
	}
	return platform
}

// KeepEmpty returns prior when it is an empty (not null) list and read is null: the record
// does not distinguish "no args" from "args = []", and flipping between them is a false diff.
func KeepEmpty(prior, read types.List) types.List {
	if read.IsNull() && !prior.IsNull() && !prior.IsUnknown() && len(prior.Elements()) == 0 {
		return prior
	}
	return read
}

// KeepEmptyMap is KeepEmpty for maps.
func KeepEmptyMap(prior, read types.Map) types.Map {
	if read.IsNull() && !prior.IsNull() && !prior.IsUnknown() && len(prior.Elements()) == 0 {
		return prior
	}
	return read
}
