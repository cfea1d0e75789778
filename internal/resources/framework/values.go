package framework

import (
	"context"
	"reflect"

	"github.com/hashicorp/terraform-plugin-framework/attr"
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

// SetStateIfChanged writes read as Read's new state unless it holds the same values as prior,
// the model the prior state was read into. The framework starts Read's response with the prior
// state, and writing the same values back walks the whole schema: half of a refresh's own CPU
// time when nothing changed (make bench-scale).
func SetStateIfChanged[M any](ctx context.Context, resp *resource.ReadResponse, prior, read M) {
	if sameValues(prior, read) {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &read)...)
}

// sameValues tells whether two models (structs of framework values) hold equal values, as the
// values' own Equal compares them: a number read from state and the same number built by the
// provider are equal though their big.Float precisions differ, which reflect.DeepEqual would
// call a change. A field that is not a framework value counts as changed.
func sameValues(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() != reflect.Struct || va.Type() != vb.Type() {
		return false
	}
	for i := range va.NumField() {
		x, okX := va.Field(i).Interface().(attr.Value)
		y, okY := vb.Field(i).Interface().(attr.Value)
		if !okX || !okY || !x.Equal(y) {
			return false
		}
	}
	return true
}
