package metadata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadRealFixtures reads every _metadata file real Flink wrote (fixtures_test.go) and
// compares what it finds with what the generator's job declared.
func TestReadRealFixtures(t *testing.T) {
	for _, fv := range fixtureVersions(t) {
		t.Run(fv.flink, func(t *testing.T) {
			want := formatVersionOf(t, fv.flink)
			for _, snap := range fv.expected.Snapshots {
				t.Run(snap.Dir, func(t *testing.T) {
					md, d, err := read(bytes.NewReader(readFixture(t, filepath.Join(fv.dir, snap.Dir, "_metadata"))))
					if err != nil {
						t.Fatal(err)
					}
					if md.FormatVersion != want {
						t.Errorf("FormatVersion = %d, Flink %s writes %d", md.FormatVersion, fv.flink, want)
					}
					checkProperties(t, md.Properties, snap.Kind, snap.Format)
					checkOperators(t, md, fv.expected, snap.Variant, snap.Operators)
					checkHandleKinds(t, d.kinds, snap.Dir, md.FormatVersion)
				})
			}
		})
	}
}

func checkProperties(t *testing.T, props *Properties, kind, format string) {
	t.Helper()
	want := Properties{Type: "Checkpoint"}
	if kind == "savepoint" {
		want = Properties{Type: "Savepoint", Savepoint: true, SavepointFormat: strings.ToUpper(format)}
	}
	if props == nil || *props != want {
		t.Errorf("Properties = %+v, want %+v", props, want)
	}
}

// checkOperators finds each operator the job declared by OperatorIDForUID(uid) and checks what
// the file says of it.
func checkOperators(t *testing.T, md *Metadata, expected expectedFile, variant string, uids []string) {
	t.Helper()
	if len(md.Operators) != len(uids) {
		t.Errorf("%d operators, the job has %d (%v): %+v", len(md.Operators), len(uids), uids, md.Operators)
	}
	byID := map[string]Operator{}
	for _, op := range md.Operators {
		byID[op.ID] = op
	}
	for _, spec := range expected.Operators {
		if !contains(uids, spec.UID) {
			continue
		}
		op, ok := byID[OperatorIDForUID(spec.UID)]
		if !ok {
			t.Errorf("no operator with id %s = OperatorIDForUID(%q) in %+v", OperatorIDForUID(spec.UID), spec.UID, md.Operators)
			continue
		}
		if op.Parallelism != spec.Parallelism || op.MaxParallelism != spec.MaxParallelism {
			t.Errorf("%s: parallelism %d, max %d; the job set %d, %d", spec.UID, op.Parallelism, op.MaxParallelism, spec.Parallelism, spec.MaxParallelism)
		}
		// Format 5 carries name and uid; Flink names a source "Source: name", a sink "Sink: name".
		wantName, wantUID := "", ""
		if md.FormatVersion >= 5 {
			wantName, wantUID = map[string]string{"source": "Source: ", "sink": "Sink: "}[spec.Role]+spec.Name, spec.UID
		}
		if op.Name != wantName || op.UID != wantUID {
			t.Errorf("%s: Name %q, UID %q; want %q, %q", spec.UID, op.Name, op.UID, wantName, wantUID)
		}
		checkState(t, op, spec.UID, spec.State, variant)
	}
}

// checkState checks HasState and StateSize against the kind of state the operator keeps.
func checkState(t *testing.T, op Operator, uid, state, variant string) {
	t.Helper()
	if op.FullyFinished != (state == "finished") {
		t.Errorf("%s: FullyFinished = %v (state %q)", uid, op.FullyFinished, state)
	}
	switch state {
	case "source", "keyed", "operator":
		if !op.HasState || op.StateSize <= 0 {
			t.Errorf("%s (%s state): HasState %v, StateSize %d", uid, state, op.HasState, op.StateSize)
		}
	case "finished":
		if op.HasState || op.StateSize != 0 {
			t.Errorf("%s (finished): HasState %v, StateSize %d", uid, op.HasState, op.StateSize)
		}
	case "none":
		switch variant {
		case "unaligned":
			// In-flight data belongs to the operators on either side of a channel, stateless
			// ones too: Flink counts it as their state.
		case "file-merging":
			// File merging gives every operator an (empty) operator state handle, which Flink's
			// check counts as state: dropping it needs allowNonRestoredState.
			if !op.HasState || op.StateSize != 0 {
				t.Errorf("%s (stateless, file merging): HasState %v, StateSize %d; want true, 0", uid, op.HasState, op.StateSize)
			}
		default:
			if op.HasState || op.StateSize != 0 {
				t.Errorf("%s (stateless): HasState %v, StateSize %d", uid, op.HasState, op.StateSize)
			}
		}
	}
}

// handleKindsOf are the state handles each snapshot is made to hold, beside coordinator state
// and operator state: that they are there proves the variant did what it says, and that the
// reader walked real handles of each kind.
var handleKindsOf = map[string][]string{
	"hashmap-canonical-savepoint":             {"savepoint key groups", "byte stream"},
	"hashmap-native-savepoint":                {"key groups v2", "byte stream"},
	"hashmap-checkpoint":                      {"key groups v2", "byte stream"},
	"rocksdb-canonical-savepoint":             {"savepoint key groups", "relative file"},
	"rocksdb-native-savepoint":                {"incremental", "relative file"},
	"rocksdb-checkpoint":                      {"incremental", "relative file"},
	"rocksdb-incremental-canonical-savepoint": {"savepoint key groups", "relative file"},
	"rocksdb-incremental-native-savepoint":    {"incremental", "relative file"},
	"rocksdb-incremental-checkpoint":          {"incremental", "file", "relative file"},
	"unaligned-checkpoint":                    {"key groups v2"},
	"changelog-checkpoint":                    {"changelog"},
	"file-merging-checkpoint":                 {"segment file", "empty segment"},
	"finished-checkpoint":                     {"key groups v2", "byte stream"},
}

func checkHandleKinds(t *testing.T, kinds map[string]int, dir string, formatVersion int) {
	t.Helper()
	want, ok := handleKindsOf[dir]
	if !ok {
		t.Fatalf("a new fixture %s: add the state handles it holds to handleKindsOf", dir)
	}
	want = append([]string{"coordinator", "operator"}, want...)
	switch dir {
	case "unaligned-checkpoint":
		// Format 6 (Flink 2.1+) merges the channels of a subtask into one handle.
		want = append(want, map[bool]string{true: "merged channels", false: "channel"}[formatVersion >= 6])
	case "changelog-checkpoint":
		// Flink 1.18 and 1.19 keep the changes inline here, later versions in files.
		want = append(want, map[bool]string{true: "changelog bytes", false: "changelog file"}[kinds["changelog bytes"] > 0])
	case "file-merging-checkpoint":
		want[1] = "operator in segments"
	}
	for _, k := range want {
		if kinds[k] == 0 {
			t.Errorf("no %q state handle in %s (handles read: %v)", k, dir, kinds)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestOperatorIDForUIDMatchesFlink checks the hash against the ids real Flink wrote: in format
// 5 and later each operator carries its uid beside its id.
func TestOperatorIDForUIDMatchesFlink(t *testing.T) {
	checked := 0
	for _, fv := range fixtureVersions(t) {
		for _, snap := range fv.expected.Snapshots {
			md, err := Read(bytes.NewReader(readFixture(t, filepath.Join(fv.dir, snap.Dir, "_metadata"))))
			if err != nil {
				t.Fatalf("%s %s: %v", fv.flink, snap.Dir, err)
			}
			for _, op := range md.Operators {
				if op.UID == "" {
					continue
				}
				if got := OperatorIDForUID(op.UID); got != op.ID {
					t.Errorf("Flink %s wrote id %s for uid %q; OperatorIDForUID says %s", fv.flink, op.ID, op.UID, got)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Error("no fixture carries uids (format 5, Flink 2.0 and later): fetch one with tools/flink.sh, run tools/metadata-fixtures.sh")
	}
}

// anyFixture is a real file of each fetched version, for the tests that change it.
func anyFixture(t testing.TB, name string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, fv := range fixtureVersions(t) {
		out[fv.flink] = readFixture(t, filepath.Join(fv.dir, name, "_metadata"))
	}
	return out
}

func TestReadRefusesUnknownVersionsAndFiles(t *testing.T) {
	for flink, data := range anyFixture(t, "hashmap-checkpoint") {
		for _, version := range []uint32{7, 100, 2, 1, 0, 0xFFFFFFFF} {
			changed := bytes.Clone(data)
			binary.BigEndian.PutUint32(changed[4:8], version)
			_, err := Read(bytes.NewReader(changed))
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("Flink %s file as version %d: %v, want ErrUnsupported", flink, int32(version), err)
			}
			if version == 7 && (err == nil || !strings.Contains(err.Error(), "written by a newer Flink: metadata version 7; this provider reads 3..6")) {
				t.Errorf("version 7: %v", err)
			}
		}
		changed := bytes.Clone(data)
		changed[0] ^= 0xFF
		if _, err := Read(bytes.NewReader(changed)); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Flink %s file with another magic number: %v, want ErrUnsupported", flink, err)
		}
		if _, err := Read(strings.NewReader("PK\x03\x04 a zip, not metadata")); !errors.Is(err, ErrUnsupported) {
			t.Errorf("a zip file: %v, want ErrUnsupported", err)
		}
	}
}

// TestReadFailsOnEveryTruncation reads every prefix of real files: each is an error (not
// ErrUnsupported: the file is Flink's, only cut short), and none panics.
func TestReadFailsOnEveryTruncation(t *testing.T) {
	for _, fv := range fixtureVersions(t) {
		t.Run(fv.flink, func(t *testing.T) {
			t.Parallel()
			for _, snap := range fv.expected.Snapshots {
				data := readFixture(t, filepath.Join(fv.dir, snap.Dir, "_metadata"))
				for n := range len(data) {
					_, err := Read(bytes.NewReader(data[:n]))
					if err == nil || n >= 4 && errors.Is(err, ErrUnsupported) {
						t.Fatalf("%s cut to %d of %d bytes: %v", snap.Dir, n, len(data), err)
					}
				}
				if _, err := Read(bytes.NewReader(append(bytes.Clone(data), 0))); err == nil {
					t.Errorf("%s with a byte appended: no error", snap.Dir)
				}
			}
		})
	}
}

// TestReadSurvivesCorruption changes bytes of real files at random: Read may succeed or fail,
// but must not panic, hang or allocate without bound.
func TestReadSurvivesCorruption(t *testing.T) {
	random := rand.New(rand.NewSource(1))
	for flink, data := range anyFixture(t, "unaligned-checkpoint") {
		for range 2000 {
			changed := bytes.Clone(data)
			for range 1 + random.Intn(3) {
				changed[random.Intn(len(changed))] = byte(random.Intn(256))
			}
			if _, err := Read(bytes.NewReader(changed)); err != nil && errors.Is(err, ErrUnsupported) && binary.BigEndian.Uint32(changed) == headerMagic {
				if v := int32(binary.BigEndian.Uint32(changed[4:])); v >= oldestFormat && v <= newestFormat {
					t.Errorf("Flink %s: a corrupt body is not an unsupported format: %v", flink, err)
				}
			}
		}
	}
}

// TestReadVersion3 reads a real file turned into format 3: version 4 without the properties.
func TestReadVersion3(t *testing.T) {
	for flink, data := range anyFixture(t, "rocksdb-incremental-checkpoint") {
		want, err := Read(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if want.FormatVersion != 4 {
			continue // format 5 and 6 are not format 3 with more at the end
		}
		// The properties are the Java object stream that starts at the file's last 0xACED0005.
		cut := bytes.LastIndex(data, []byte{0xAC, 0xED, 0x00, 0x05})
		v3 := bytes.Clone(data[:cut])
		binary.BigEndian.PutUint32(v3[4:8], 3)
		got, err := Read(bytes.NewReader(v3))
		if err != nil {
			t.Fatalf("Flink %s as format 3: %v", flink, err)
		}
		if got.FormatVersion != 3 || got.Properties != nil || len(got.Operators) != len(want.Operators) || got.Operators[0] != want.Operators[0] {
			t.Errorf("Flink %s as format 3: %+v, want the operators of %+v", flink, got, want)
		}
	}
}

// TestReadMasterStates splices a master state (as MetadataV2V3SerializerBase writes one) into
// real files, which Flink writes with none unless a master hook is registered.
func TestReadMasterStates(t *testing.T) {
	for flink, data := range anyFixture(t, "hashmap-canonical-savepoint") {
		be := binary.BigEndian
		block := be.AppendUint32(nil, 1) // the master state's version
		block = append(be.AppendUint16(block, 4), "hook"...)
		block = append(be.AppendUint32(block, 3), "abc"...)
		states := be.AppendUint32(nil, 1) // one master state
		states = be.AppendUint32(states, 0xc96b1696)
		states = append(be.AppendUint32(states, uint32(len(block))), block...)
		// header (8), checkpoint id (8), number of master states (4: zero)
		spliced := append(append(bytes.Clone(data[:16]), states...), data[20:]...)
		if _, err := Read(bytes.NewReader(spliced)); err != nil {
			t.Errorf("Flink %s with a master state: %v", flink, err)
		}
		be.PutUint32(spliced[24:28], uint32(len(block)+1)) // a length that lies
		if _, err := Read(bytes.NewReader(spliced)); err == nil {
			t.Errorf("Flink %s with a master state of the wrong length: no error", flink)
		}
	}
}

func TestDecodeModifiedUTF8(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want string
		ok   bool
	}{
		{[]byte("counter"), "counter", true},
		{[]byte{0xC0, 0x80}, "\x00", true},                               // U+0000 in two bytes
		{[]byte{0xC3, 0xA9}, "é", true},                                  // two bytes
		{[]byte{0xE2, 0x82, 0xAC}, "€", true},                            // three bytes
		{[]byte{0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}, "\U0001F600", true}, // a surrogate pair
		{[]byte{0xC3}, "", false},                                        // cut short
		{[]byte{0xF0, 0x9F, 0x98, 0x80}, "", false},                      // four-byte UTF-8 is not Java's
		{[]byte{0x80}, "", false},
	} {
		got, ok := decodeModifiedUTF8(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("decodeModifiedUTF8(% x) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// FuzzRead: Read of any input returns (an error or metadata) without panicking. The real
// fixtures are the seed corpus; go test -fuzz=FuzzRead explores from them.
func FuzzRead(f *testing.F) {
	for _, data := range anyFixture(f, "unaligned-checkpoint") {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Read(bytes.NewReader(data))
	})
}
