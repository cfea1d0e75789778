package metadata

// State handles, as MetadataV2V3SerializerBase writes them: a type byte, then the handle's
// fields. A handle is inline and variable-length, so every field is walked even where only the
// size is kept. The size of a handle is what Flink's getStateSize says of it.

// Type bytes of the state handles (MetadataV2V3SerializerBase). The V2 variants add a field
// each; Flink reads every one of them in every format version from 3 on.
const (
	nullHandle                   = 0
	byteStreamHandle             = 1  // name, bytes: state written inline into _metadata
	fileHandle                   = 2  // size, absolute path
	keyGroupsHandle              = 3  // key-group range, offsets, stream handle
	partitionableOperatorHandle  = 4  // operator state: names, modes, offsets, stream handle
	incrementalKeyedHandle       = 5  // RocksDB native/incremental: metadata, shared and private files
	relativeFileHandle           = 6  // relative path, size: a file in the snapshot's own directory
	savepointKeyGroupsHandle     = 7  // a canonical savepoint's keyed state
	changelogHandle              = 8  // changelog backend: materialized and non-materialized parts
	changelogBytesHandle         = 9  // changelog increments kept inline (in-memory changelog)
	changelogFileHandle          = 10 // changelog increments in files
	incrementalKeyedHandleV2     = 11 // + checkpointed size, handle id
	keyGroupsHandleV2            = 12 // + handle id
	changelogFileHandleV2        = 13 // + storage identifier
	changelogHandleV2            = 14 // + checkpoint id
	segmentFileHandle            = 15 // file merging (Flink 1.20+): a segment of a shared file
	emptySegmentFileHandle       = 16 // file merging: no data
	segmentPartitionableOpHandle = 17 // file merging: operator state in segments
)

// streamHandle reads a StreamStateHandle: the bytes or the file that holds state.
func (d *decoder) streamHandle() (size int64, present bool, err error) {
	t, err := d.u8()
	if err != nil {
		return 0, false, err
	}
	switch t {
	case nullHandle:
		return 0, false, nil
	case byteStreamHandle:
		d.kinds["byte stream"]++
		if _, err := d.utf(); err != nil { // handle name
			return 0, false, err
		}
		n, err := d.count("byte stream length")
		if err != nil {
			return 0, false, err
		}
		return n, true, d.skip(n)
	case fileHandle:
		d.kinds["file"]++
		size, err := d.size()
		if err != nil {
			return 0, false, err
		}
		_, err = d.utf() // path
		return size, true, err
	case relativeFileHandle:
		d.kinds["relative file"]++
		if _, err := d.utf(); err != nil { // path relative to the snapshot's directory
			return 0, false, err
		}
		size, err := d.size()
		return size, true, err
	case keyGroupsHandle:
		d.kinds["key groups in stream"]++
		return d.keyGroups(t)
	case segmentFileHandle:
		return d.segmentFile()
	case emptySegmentFileHandle:
		d.kinds["empty segment"]++
		return 0, true, nil
	}
	return 0, false, d.errorf("unknown stream state handle type %d", t)
}

// segmentFile reads a SegmentFileStateHandle: start, size, scope, file path, logical file id.
func (d *decoder) segmentFile() (int64, bool, error) {
	d.kinds["segment file"]++
	if _, err := d.i64(); err != nil { // start position
		return 0, false, err
	}
	size, err := d.size()
	if err != nil {
		return 0, false, err
	}
	if _, err := d.i32(); err != nil { // scope: exclusive or shared
		return 0, false, err
	}
	for range 2 { // physical file path, logical file id
		if _, err := d.utf(); err != nil {
			return 0, false, err
		}
	}
	return size, true, nil
}

// keyGroupRange reads a range as Flink writes it: start and number of key groups.
func (d *decoder) keyGroupRange() (int64, error) {
	if _, err := d.i32(); err != nil { // start key group
		return 0, err
	}
	return d.count("number of key groups")
}

// keyGroups reads a key-groups handle (the type byte read): the range, an offset per key group,
// the stream that holds them, and in KEY_GROUPS_HANDLE_V2 a handle id. Its size is the stream's.
func (d *decoder) keyGroups(t byte) (int64, bool, error) {
	if err := d.nest(); err != nil {
		return 0, false, err
	}
	defer d.unnest()
	n, err := d.keyGroupRange()
	if err != nil {
		return 0, false, err
	}
	if err := d.skip(8 * n); err != nil { // an offset per key group
		return 0, false, err
	}
	size, _, err := d.streamHandle()
	if err != nil {
		return 0, false, err
	}
	if t == keyGroupsHandleV2 {
		_, err = d.utf() // state handle id
	}
	return size, true, err
}

var keyGroupsKinds = map[byte]string{
	keyGroupsHandle:          "key groups",
	keyGroupsHandleV2:        "key groups v2",
	savepointKeyGroupsHandle: "savepoint key groups",
}

// keyedHandle reads a KeyedStateHandle: keyed state of one subtask.
func (d *decoder) keyedHandle() (size int64, present bool, err error) {
	t, err := d.u8()
	if err != nil {
		return 0, false, err
	}
	switch t {
	case nullHandle:
		return 0, false, nil
	case keyGroupsHandle, keyGroupsHandleV2, savepointKeyGroupsHandle:
		d.kinds[keyGroupsKinds[t]]++
		return d.keyGroups(t)
	case incrementalKeyedHandle, incrementalKeyedHandleV2:
		return d.incremental(t)
	case changelogHandle, changelogHandleV2:
		return d.changelog(t)
	case changelogBytesHandle:
		return d.changelogBytes()
	case changelogFileHandle, changelogFileHandleV2:
		return d.changelogFile(t)
	}
	return 0, false, d.errorf("unknown keyed state handle type %d", t)
}

// incremental reads an IncrementalRemoteKeyedStateHandle (RocksDB's native format): its size
// is the sum of its metadata, shared and private files, as Flink's getStateSize counts it.
func (d *decoder) incremental(t byte) (int64, bool, error) {
	d.kinds["incremental"]++
	if _, err := d.i64(); err != nil { // checkpoint id
		return 0, false, err
	}
	if _, err := d.utf(); err != nil { // backend identifier
		return 0, false, err
	}
	if _, err := d.keyGroupRange(); err != nil {
		return 0, false, err
	}
	if t == incrementalKeyedHandleV2 {
		if _, err := d.i64(); err != nil { // checkpointed size: this checkpoint's increment
			return 0, false, err
		}
	}
	size, _, err := d.streamHandle() // RocksDB's metadata
	if err != nil {
		return 0, false, err
	}
	for range 2 { // shared files, private files
		files, err := d.namedStreamHandles()
		if err != nil {
			return 0, false, err
		}
		size = addSize(size, files)
	}
	if t == incrementalKeyedHandleV2 {
		_, err = d.utf() // state handle id
	}
	return size, true, err
}

// namedStreamHandles reads a list of (name, stream handle) pairs: RocksDB's files by local path.
func (d *decoder) namedStreamHandles() (int64, error) {
	n, err := d.count("number of files")
	if err != nil {
		return 0, err
	}
	var total int64
	for range n {
		if _, err := d.utf(); err != nil {
			return 0, err
		}
		size, _, err := d.streamHandle()
		if err != nil {
			return 0, err
		}
		total = addSize(total, size)
	}
	return total, nil
}

// changelog reads a ChangelogStateBackendHandle: keyed handles of the materialized state and
// of the changes since. Its size is the sum of theirs.
func (d *decoder) changelog(t byte) (int64, bool, error) {
	d.kinds["changelog"]++
	if err := d.nest(); err != nil {
		return 0, false, err
	}
	defer d.unnest()
	if _, err := d.keyGroupRange(); err != nil {
		return 0, false, err
	}
	if _, err := d.i64(); err != nil { // checkpointed size
		return 0, false, err
	}
	var size int64
	for _, part := range []string{"materialized handles", "non-materialized handles"} {
		n, err := d.count("number of " + part)
		if err != nil {
			return 0, false, err
		}
		for range n {
			s, _, err := d.keyedHandle()
			if err != nil {
				return 0, false, err
			}
			size = addSize(size, s)
		}
	}
	if _, err := d.i64(); err != nil { // materialization id
		return 0, false, err
	}
	if t == changelogHandleV2 {
		if _, err := d.i64(); err != nil { // checkpoint id
			return 0, false, err
		}
	}
	_, err := d.utf() // state handle id
	return size, true, err
}

// changelogBytes reads an InMemoryChangelogStateHandle: changes kept inline. Its size is the
// sum of the changes' lengths.
func (d *decoder) changelogBytes() (int64, bool, error) {
	d.kinds["changelog bytes"]++
	if _, err := d.keyGroupRange(); err != nil {
		return 0, false, err
	}
	for range 2 { // sequence numbers: from, to
		if _, err := d.i64(); err != nil {
			return 0, false, err
		}
	}
	n, err := d.count("number of changes")
	if err != nil {
		return 0, false, err
	}
	var size int64
	for range n {
		if _, err := d.i32(); err != nil { // key group
			return 0, false, err
		}
		length, err := d.count("change length")
		if err != nil {
			return 0, false, err
		}
		if err := d.skip(length); err != nil {
			return 0, false, err
		}
		size = addSize(size, length)
	}
	_, err = d.utf() // state handle id
	return size, true, err
}

// changelogFile reads a ChangelogStateHandleStreamImpl: changes in files, at offsets. Flink
// keeps its size as a field.
func (d *decoder) changelogFile(t byte) (int64, bool, error) {
	d.kinds["changelog file"]++
	if _, err := d.keyGroupRange(); err != nil {
		return 0, false, err
	}
	n, err := d.count("number of changelog files")
	if err != nil {
		return 0, false, err
	}
	for range n {
		if _, err := d.i64(); err != nil { // offset
			return 0, false, err
		}
		if _, _, err := d.streamHandle(); err != nil {
			return 0, false, err
		}
	}
	size, err := d.size()
	if err != nil {
		return 0, false, err
	}
	if _, err := d.i64(); err != nil { // checkpointed size
		return 0, false, err
	}
	if _, err := d.utf(); err != nil { // state handle id
		return 0, false, err
	}
	if t == changelogFileHandleV2 {
		_, err = d.utf() // storage identifier
	}
	return size, true, err
}

// operatorHandle reads an OperatorStateHandle: named states with their distribution mode and
// offsets, in one stream. Its size is the stream's.
func (d *decoder) operatorHandle() (size int64, present bool, err error) {
	t, err := d.u8()
	if err != nil {
		return 0, false, err
	}
	switch t {
	case nullHandle:
		return 0, false, nil
	case partitionableOperatorHandle:
		d.kinds["operator"]++
	case segmentPartitionableOpHandle:
		d.kinds["operator in segments"]++
	default:
		return 0, false, d.errorf("unknown operator state handle type %d", t)
	}
	n, err := d.count("number of operator states")
	if err != nil {
		return 0, false, err
	}
	for range n {
		if _, err := d.utf(); err != nil { // state name
			return 0, false, err
		}
		if _, err := d.u8(); err != nil { // distribution mode
			return 0, false, err
		}
		if err := d.skipLongs("number of offsets"); err != nil {
			return 0, false, err
		}
	}
	if t == segmentPartitionableOpHandle {
		if err := d.fileMergingDirectories(); err != nil {
			return 0, false, err
		}
	}
	size, _, err = d.streamHandle()
	return size, true, err
}

// fileMergingDirectories reads what file merging adds to an operator state handle: the task's
// and the shared directory, and whether the handle is empty.
func (d *decoder) fileMergingDirectories() error {
	for range 2 {
		if _, err := d.utf(); err != nil {
			return err
		}
	}
	_, err := d.u8()
	return err
}

// Channel state (unaligned checkpoints): the in-flight data of input channels and result
// subpartitions. Format 6 (Flink 2.1+, ChannelStateHandleSerializerV2) prefixes each handle with
// a type byte and adds merged handles: one handle for all channels of a subtask.
const (
	inputChannelHandle             = 1
	resultSubpartitionHandle       = 2
	mergedInputChannelHandle       = 3
	mergedResultSubpartitionHandle = 4
)

// channelHandles reads a list of channel state handles of one subtask; output says whether they
// are result subpartitions (else input channels).
func (d *decoder) channelHandles(output bool) (size int64, present bool, err error) {
	n, err := d.count("number of channel state handles")
	if err != nil {
		return 0, false, err
	}
	for range n {
		s, err := d.channelHandle(output)
		if err != nil {
			return 0, false, err
		}
		size = addSize(size, s)
	}
	return size, n > 0, nil
}

func (d *decoder) channelHandle(output bool) (int64, error) {
	if d.version < 6 {
		return d.plainChannelHandle()
	}
	t, err := d.u8()
	if err != nil {
		return 0, err
	}
	plain, merged := byte(inputChannelHandle), byte(mergedInputChannelHandle)
	if output {
		plain, merged = resultSubpartitionHandle, mergedResultSubpartitionHandle
	}
	switch t {
	case plain:
		return d.plainChannelHandle()
	case merged:
		return d.mergedChannelHandle()
	}
	return 0, d.errorf("unknown channel state handle type %d", t)
}

// plainChannelHandle reads one channel's state: subtask, channel (two ints), offsets, size, and
// the stream that holds it (shared with other channels: the handle's own size is what counts).
func (d *decoder) plainChannelHandle() (int64, error) {
	d.kinds["channel"]++
	for range 3 { // subtask index; gate and channel, or partition and subpartition
		if _, err := d.i32(); err != nil {
			return 0, err
		}
	}
	if err := d.skipLongs("number of channel state offsets"); err != nil {
		return 0, err
	}
	size, err := d.size()
	if err != nil {
		return 0, err
	}
	_, _, err = d.streamHandle()
	return size, err
}

// mergedChannelHandle reads the state of all channels of a subtask: subtask, size, stream, and
// the channels' offsets serialized into bytes.
func (d *decoder) mergedChannelHandle() (int64, error) {
	d.kinds["merged channels"]++
	if _, err := d.i32(); err != nil { // subtask index
		return 0, err
	}
	size, err := d.size()
	if err != nil {
		return 0, err
	}
	if _, _, err := d.streamHandle(); err != nil {
		return 0, err
	}
	n, err := d.count("length of the channel offsets")
	if err != nil {
		return 0, err
	}
	return size, d.skip(n)
}
