package framework

import "github.com/hashicorp/terraform-plugin-framework/types"

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
