// Package metadata reads what a Flink checkpoint or savepoint says about itself: the
// _metadata file Flink writes last into its directory. The provider reads it at plan time
// to tell, before any job is stopped, whether a new version can restore the state it is
// given (docs/design.md, "State compatibility").
package metadata

import (
	"errors"
	"io"
)

// Metadata is the part of a _metadata file the provider uses.
type Metadata struct {
	// FormatVersion is the version of Flink's metadata serializer that wrote the file.
	FormatVersion int
	CheckpointID  int64
	Operators     []Operator
}

// Operator is one operator's entry in a snapshot.
type Operator struct {
	// ID is Flink's OperatorID as Flink prints it (32 lower-case hex digits). For an operator
	// with a uid it is OperatorIDForUID(uid).
	ID string
	// Name and UID, where the file's format carries them ("" otherwise, or when unset).
	Name, UID      string
	Parallelism    int
	MaxParallelism int
	// StateSize is the size in bytes of the state the snapshot holds for the operator, as
	// Flink accounts it (the sum of its state handles' sizes).
	StateSize int64
	// HasState is what Flink's allowNonRestoredState check looks at: the operator has
	// coordinator state, or a subtask with any state. An operator without state can be
	// dropped by a new version without losing anything.
	HasState bool
}

// ErrUnsupported is returned (wrapped, with the reason) for a file that is not a Flink
// _metadata file or that a newer Flink wrote in a format this reader does not know: a
// caller says "unknown", it never guesses.
var ErrUnsupported = errors.New("unsupported snapshot metadata")

// Read parses a _metadata file.
func Read(r io.Reader) (*Metadata, error) {
	return nil, errors.New("metadata.Read: not implemented yet")
}

// OperatorIDForUID is the OperatorID Flink gives an operator whose uid is set.
func OperatorIDForUID(uid string) string {
	panic("metadata.OperatorIDForUID: not implemented yet")
}
