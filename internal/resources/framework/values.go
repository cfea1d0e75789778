package framework

import (
	"context"
	"reflect"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

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

// SetStateIfChanged writes read as Read's new state unless it equals prior, the model the prior
// state was read into. The framework starts Read's response with the prior state, and writing
// the same values back walks the whole schema: half of a refresh's own CPU time when nothing
// changed (make bench-scale). Models hold framework values, which are never changed in place,
// so a copy taken before Read changes fields compares as the prior state.
func SetStateIfChanged[M any](ctx context.Context, resp *resource.ReadResponse, prior, read M) {
	if reflect.DeepEqual(prior, read) {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &read)...)
}
