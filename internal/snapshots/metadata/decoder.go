package metadata

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf16"
)

// maxNesting bounds how deep handles may nest in one another (a key-group handle in a
// changelog handle, objects in the Java-serialized properties): Flink nests two or three deep,
// and a corrupt file must not recurse until the stack runs out.
const maxNesting = 16

// decoder reads what Java's DataOutputStream wrote: big-endian integers and modified UTF-8
// strings. It streams: nothing it allocates is sized by a length read from the file, except
// strings (at most 64 KiB each), so a corrupt length ends in an error at the end of the input,
// never in a huge allocation.
type decoder struct {
	r       *bufio.Reader
	offset  int64 // bytes read so far, for error messages
	version int   // the metadata format version, once read
	depth   int   // current nesting of handles and Java objects
	// kinds counts the state handles read by kind; the tests check that the real fixtures
	// exercise every kind the reader knows.
	kinds map[string]int
}

func newDecoder(r io.Reader) *decoder {
	return &decoder{r: bufio.NewReader(r), kinds: map[string]int{}}
}

// errorf is a corrupt-file error that says where the reader was.
func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("byte %d: %s", d.offset, fmt.Sprintf(format, args...))
}

func (d *decoder) read(buf []byte) error {
	n, err := io.ReadFull(d.r, buf)
	d.offset += int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return d.errorf("the file ends early (truncated?)")
	}
	return err
}

// skip reads past n bytes (the data of inline state, offsets) without keeping them.
func (d *decoder) skip(n int64) error {
	for n > 0 {
		chunk := int(min(n, 1<<20))
		done, err := d.r.Discard(chunk)
		d.offset += int64(done)
		n -= int64(done)
		if errors.Is(err, io.EOF) {
			return d.errorf("the file ends early (truncated?)")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) u8() (byte, error) {
	var b [1]byte
	err := d.read(b[:])
	return b[0], err
}

func (d *decoder) i16() (int16, error) {
	var b [2]byte
	err := d.read(b[:])
	return int16(binary.BigEndian.Uint16(b[:])), err
}

func (d *decoder) i32() (int32, error) {
	var b [4]byte
	err := d.read(b[:])
	return int32(binary.BigEndian.Uint32(b[:])), err
}

func (d *decoder) i64() (int64, error) {
	var b [8]byte
	err := d.read(b[:])
	return int64(binary.BigEndian.Uint64(b[:])), err
}

// count reads an int that counts something (list entries, bytes) and must not be negative.
func (d *decoder) count(what string) (int64, error) {
	n, err := d.i32()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, d.errorf("negative %s: %d", what, n)
	}
	return int64(n), nil
}

// skipLongs reads past a count and that many longs (offsets Flink keeps per key group or
// partition, which the provider does not need).
func (d *decoder) skipLongs(what string) error {
	n, err := d.count(what)
	if err != nil {
		return err
	}
	return d.skip(8 * n)
}

// utf reads what DataOutputStream.writeUTF wrote: a 2-byte length, then modified UTF-8.
func (d *decoder) utf() (string, error) {
	n, err := d.i16()
	if err != nil {
		return "", err
	}
	buf := make([]byte, uint16(n))
	if err := d.read(buf); err != nil {
		return "", err
	}
	s, ok := decodeModifiedUTF8(buf)
	if !ok {
		return "", d.errorf("malformed modified UTF-8 string")
	}
	return s, nil
}

// decodeModifiedUTF8 decodes Java's modified UTF-8: UTF-16 code units in one to three bytes
// each (U+0000 as two bytes, a character outside the BMP as its two surrogates).
func decodeModifiedUTF8(b []byte) (string, bool) {
	units := make([]uint16, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80:
			units = append(units, uint16(c))
			i++
		case c&0xE0 == 0xC0 && i+1 < len(b) && b[i+1]&0xC0 == 0x80:
			units = append(units, uint16(c&0x1F)<<6|uint16(b[i+1]&0x3F))
			i += 2
		case c&0xF0 == 0xE0 && i+2 < len(b) && b[i+1]&0xC0 == 0x80 && b[i+2]&0xC0 == 0x80:
			units = append(units, uint16(c&0x0F)<<12|uint16(b[i+1]&0x3F)<<6|uint16(b[i+2]&0x3F))
			i += 3
		default:
			return "", false
		}
	}
	return string(utf16.Decode(units)), true
}

// size reads a state size as Flink writes it for files: -1 means unknown and counts as 0.
func (d *decoder) size() (int64, error) {
	n, err := d.i64()
	if err != nil {
		return 0, err
	}
	switch {
	case n == -1:
		return 0, nil
	case n < 0:
		return 0, d.errorf("negative state size: %d", n)
	}
	return n, nil
}

// nest counts one level of nesting and fails past maxNesting; the caller calls d.unnest().
func (d *decoder) nest() error {
	d.depth++
	if d.depth > maxNesting {
		return d.errorf("state handles nest deeper than %d levels", maxNesting)
	}
	return nil
}

func (d *decoder) unnest() { d.depth-- }

// atEnd says whether the input has been read to its end.
func (d *decoder) atEnd() (bool, error) {
	_, err := d.r.Peek(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// addSize adds state sizes; a corrupt file cannot make the sum wrap around.
func addSize(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}
