// Package metadata reads what a Flink checkpoint or savepoint says about itself: the
// _metadata file Flink writes last into its directory. The provider reads it at plan time
// to tell, before any job is stopped, whether a new version can restore the state it is
// given (docs/design.md, "State compatibility").
//
// The format is Flink's own (org.apache.flink.runtime.checkpoint.Checkpoints and the
// MetadataV*Serializer classes): a magic number, a format version, the checkpoint id, the
// master states, then per operator its id, parallelism, coordinator state and every subtask's
// state handles inline, and from version 4 the checkpoint properties as a Java-serialized
// object. Flink 1.16 to 1.20 write version 4 (version 3 and the properties), Flink 2.0 version 5
// (which adds each operator's name and uid), Flink 2.1 to 2.3 version 6 (which changes how
// channel state is written).
package metadata

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/spaolacci/murmur3"
)

// Metadata is the part of a _metadata file the provider uses.
type Metadata struct {
	// FormatVersion is the version of Flink's metadata serializer that wrote the file.
	FormatVersion int
	CheckpointID  int64
	Operators     []Operator
	// Properties are the checkpoint properties, which format version 4 and later carry (nil in
	// version 3).
	Properties *Properties
}

// Operator is one operator's entry in a snapshot.
type Operator struct {
	// ID is Flink's OperatorID as Flink prints it (32 lower-case hex digits). For an operator
	// with a uid it is OperatorIDForUID(uid).
	ID string
	// Name and UID, where the file's format carries them (version 5 and later: Flink 2.0 and
	// later); "" otherwise, or when unset. Name is the operator's name in Flink's job graph,
	// which for a source is "Source: <name>" and for a sink "Sink: <name>".
	Name, UID      string
	Parallelism    int
	MaxParallelism int
	// StateSize is the size in bytes of the state the snapshot holds for the operator, as
	// Flink's getStateSize accounts it: the sum over its coordinator state and its subtasks'
	// state handles of each handle's size (inline bytes by their length, a file or file segment
	// by the size recorded for it, RocksDB's native format by its metadata, shared and private
	// files, channel state and changelog handles by the sizes they record). A size Flink
	// records as unknown (-1) counts as 0.
	StateSize int64
	// HasState is what Flink's allowNonRestoredState check looks at: the operator has
	// coordinator state, or a subtask with any state handle, however empty. An operator without
	// state can be dropped by a new version without losing anything. Two cases Flink counts as
	// state too: in-flight data of an unaligned checkpoint (channel state), which stateless
	// operators on either side of a channel hold, and with file merging (Flink 1.20 and later)
	// the empty operator state handle every operator gets.
	HasState bool
	// FullyFinished says that every subtask of the operator had finished when the snapshot
	// was taken (a bounded source that ran out): Flink restores it as finished.
	FullyFinished bool
}

// Properties are what kind of snapshot the file is, from its checkpoint properties.
type Properties struct {
	// Type is Flink's name for the snapshot type: "Checkpoint", "Full Checkpoint",
	// "Savepoint", "Suspend Savepoint" or "Terminate Savepoint".
	Type string
	// Savepoint says that a savepoint wrote the file (else a checkpoint).
	Savepoint bool
	// SavepointFormat is "CANONICAL" or "NATIVE" for a savepoint, "" for a checkpoint.
	SavepointFormat string
}

// ErrUnsupported is returned (wrapped, with the reason) for a file that is not a Flink
// _metadata file or that a newer Flink wrote in a format this reader does not know: a
// caller says "unknown", it never guesses.
var ErrUnsupported = errors.New("unsupported snapshot metadata")

const (
	// headerMagic starts every _metadata file (Checkpoints.HEADER_MAGIC_NUMBER).
	headerMagic = 0x4960672d
	// masterStateMagic starts every master state (MetadataV2V3SerializerBase).
	masterStateMagic = 0xc96b1696
	// The format versions this reader knows: 3 (written up to Flink 1.15) to 6. 1 and 2 are
	// older formats, which it refuses.
	oldestFormat = 3
	newestFormat = 6
)

// Read parses a _metadata file. It reads r to its end, walking every field: a file that is
// truncated, corrupt or longer than its content is an error, one it does not know (another
// magic number, another format version) an error wrapping ErrUnsupported.
func Read(r io.Reader) (*Metadata, error) {
	md, _, err := read(r)
	return md, err
}

// read is Read that also returns the decoder (its handle-kind counts are for the tests).
func read(r io.Reader) (*Metadata, *decoder, error) {
	d := newDecoder(r)
	md, err := d.metadata()
	if err != nil {
		return nil, d, fmt.Errorf("reading Flink snapshot metadata: %w", err)
	}
	return md, d, nil
}

func (d *decoder) metadata() (*Metadata, error) {
	if err := d.header(); err != nil {
		return nil, err
	}
	md := &Metadata{FormatVersion: d.version}
	var err error
	if md.CheckpointID, err = d.i64(); err != nil {
		return nil, err
	}
	if md.CheckpointID < 0 {
		return nil, d.errorf("negative checkpoint id %d", md.CheckpointID)
	}
	if err := d.masterStates(); err != nil {
		return nil, err
	}
	n, err := d.count("number of operators")
	if err != nil {
		return nil, err
	}
	for i := range n {
		op, err := d.operator()
		if err != nil && op.ID != "" {
			return nil, fmt.Errorf("operator %d of %d (id %s): %w", i+1, n, op.ID, err)
		}
		if err != nil {
			return nil, fmt.Errorf("operator %d of %d: %w", i+1, n, err)
		}
		md.Operators = append(md.Operators, op)
	}
	if d.version >= 4 {
		if md.Properties, err = d.properties(); err != nil {
			return nil, fmt.Errorf("checkpoint properties: %w", err)
		}
	}
	end, err := d.atEnd()
	if err != nil {
		return nil, err
	}
	if !end {
		return nil, d.errorf("more bytes follow the metadata")
	}
	return md, nil
}

func (d *decoder) header() error {
	magic, err := d.i32()
	if err != nil {
		return err
	}
	if magic != headerMagic {
		return fmt.Errorf("%w: not a Flink checkpoint or savepoint _metadata file (it starts with 0x%08x, not 0x%08x)",
			ErrUnsupported, uint32(magic), headerMagic)
	}
	version, err := d.i32()
	if err != nil {
		return err
	}
	switch {
	case version > newestFormat:
		return fmt.Errorf("%w: written by a newer Flink: metadata version %d; this provider reads %d..%d",
			ErrUnsupported, version, oldestFormat, newestFormat)
	case version < oldestFormat:
		return fmt.Errorf("%w: metadata version %d, older than this provider reads (%d..%d)",
			ErrUnsupported, version, oldestFormat, newestFormat)
	}
	d.version = int(version)
	return nil
}

// masterStates reads past the master states (state of master hooks, e.g. a Pravega reader
// group): each a magic number and a length-prefixed block of version, name and payload.
func (d *decoder) masterStates() error {
	n, err := d.count("number of master states")
	if err != nil {
		return err
	}
	for i := range n {
		magic, err := d.i32()
		if err != nil {
			return err
		}
		if uint32(magic) != masterStateMagic {
			return d.errorf("master state %d: wrong magic number 0x%08x", i+1, uint32(magic))
		}
		length, err := d.count("master state length")
		if err != nil {
			return err
		}
		start := d.offset
		if _, err := d.i32(); err != nil { // the master state's version
			return err
		}
		if _, err := d.utf(); err != nil { // its name
			return err
		}
		payload, err := d.count("master state payload length")
		if err != nil {
			return err
		}
		if err := d.skip(payload); err != nil {
			return err
		}
		if d.offset-start != length {
			return d.errorf("master state %d: %d bytes, not the %d its length says", i+1, d.offset-start, length)
		}
	}
	return nil
}

// operator reads one operator's state: [name, uid (version 5+)], id, parallelism, max
// parallelism, coordinator state, then its subtasks' states (-1: all finished).
func (d *decoder) operator() (Operator, error) {
	var op Operator
	if d.version >= 5 {
		var err error
		if op.Name, err = d.utf(); err != nil {
			return op, err
		}
		if op.UID, err = d.utf(); err != nil {
			return op, err
		}
	}
	var id [16]byte
	if err := d.read(id[:]); err != nil {
		return op, err
	}
	// OperatorID is written lower part first, each part big-endian; Flink prints it in the
	// same order, so the hex of the bytes as written is the id as Flink shows it.
	op.ID = hex.EncodeToString(id[:])
	parallelism, err := d.i32()
	if err != nil {
		return op, err
	}
	maxParallelism, err := d.i32()
	if err != nil {
		return op, err
	}
	op.Parallelism, op.MaxParallelism = int(parallelism), int(maxParallelism)
	if op.Parallelism <= 0 {
		return op, d.errorf("parallelism %d", op.Parallelism)
	}
	if err := d.coordinatorState(&op); err != nil {
		return op, fmt.Errorf("coordinator state: %w", err)
	}
	return op, d.subtasks(&op)
}

// coordinatorState reads the operator coordinator's state (a source's split enumerator, say):
// always inline bytes, or none.
func (d *decoder) coordinatorState(op *Operator) error {
	t, err := d.u8()
	if err != nil {
		return err
	}
	switch t {
	case nullHandle:
		return nil
	case byteStreamHandle:
		d.kinds["coordinator"]++
		if _, err := d.utf(); err != nil { // handle name
			return err
		}
		n, err := d.count("coordinator state length")
		if err != nil {
			return err
		}
		op.StateSize, op.HasState = n, true
		return d.skip(n)
	}
	return d.errorf("coordinator state is not inline bytes (handle type %d)", t)
}

// subtasks reads the subtask states: a count (-1 when the whole operator has finished), then
// per subtask its index (negative, -(index+1), for a subtask that had finished: no state
// follows) and its state.
func (d *decoder) subtasks(op *Operator) error {
	n, err := d.i32()
	if err != nil {
		return err
	}
	if n < 0 {
		if op.HasState {
			return d.errorf("a fully finished operator with coordinator state")
		}
		op.FullyFinished = true
		return nil
	}
	for range n {
		stored, err := d.i32()
		if err != nil {
			return err
		}
		index, finished := int64(stored), stored < 0
		if finished {
			index = -index - 1
		}
		if index >= int64(op.Parallelism) {
			return d.errorf("subtask %d of an operator with parallelism %d", index, op.Parallelism)
		}
		if finished {
			d.kinds["finished subtask"]++
			continue
		}
		size, present, err := d.subtaskState()
		if err != nil {
			return fmt.Errorf("subtask %d: %w", index, err)
		}
		op.StateSize = addSize(op.StateSize, size)
		op.HasState = op.HasState || present
	}
	return nil
}

// subtaskState reads one subtask's state: managed and raw operator state, managed and raw
// keyed state, input channel and result subpartition state (format 3 and later). It has state
// when any of them holds a handle (Flink's OperatorSubtaskState.hasState).
func (d *decoder) subtaskState() (size int64, present bool, err error) {
	parts := []struct {
		name string
		read func() (int64, bool, error)
	}{
		{"managed operator state", d.optionalOperatorHandle},
		{"raw operator state", d.optionalOperatorHandle},
		{"managed keyed state", d.keyedHandle},
		{"raw keyed state", d.keyedHandle},
		{"input channel state", func() (int64, bool, error) { return d.channelHandles(false) }},
		{"result subpartition state", func() (int64, bool, error) { return d.channelHandles(true) }},
	}
	for _, part := range parts {
		s, p, err := part.read()
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", part.name, err)
		}
		size, present = addSize(size, s), present || p
	}
	return size, present, nil
}

// optionalOperatorHandle reads an int that says whether an operator state handle follows, and
// the handle.
func (d *decoder) optionalOperatorHandle() (int64, bool, error) {
	follows, err := d.i32()
	if err != nil || follows == 0 {
		return 0, false, err
	}
	return d.operatorHandle()
}

// OperatorIDForUID is the OperatorID Flink gives an operator whose uid is set: its
// StreamGraphHasherV2 hashes the uid's UTF-8 bytes with Guava's murmur3_128 (seed 0), and the
// hash's bytes (h1 then h2, each little-endian: Guava's asBytes) are the id's 16 bytes.
func OperatorIDForUID(uid string) string {
	h1, h2 := murmur3.Sum128([]byte(uid))
	var id [16]byte
	binary.LittleEndian.PutUint64(id[:8], h1)
	binary.LittleEndian.PutUint64(id[8:], h2)
	return hex.EncodeToString(id[:])
}
