package metadata

import "fmt"

// The checkpoint properties (format 4 and later) are a CheckpointProperties object written
// with Java's ObjectOutputStream. This reads the part of Java's serialization grammar such an
// object uses (java.io.ObjectStreamConstants; the "Object Serialization Stream Protocol"):
// objects of Serializable classes with default serialization, strings, enums, null and
// back-references; anything else is an error.

const (
	javaStreamMagic   = 0xACED
	javaStreamVersion = 5
	javaFirstHandle   = 0x7E0000

	tcNull          = 0x70
	tcReference     = 0x71
	tcClassDesc     = 0x72
	tcObject        = 0x73
	tcString        = 0x74
	tcBlockData     = 0x77
	tcEndBlockData  = 0x78
	tcBlockDataLong = 0x7A
	tcLongString    = 0x7C
	tcEnum          = 0x7E

	scWriteMethod    = 0x01 // the class has a writeObject method: its data ends in an annotation
	scSerializable   = 0x02
	scExternalizable = 0x04

	// maxJavaString bounds a long string (a 64-bit length): nothing in the properties is long.
	maxJavaString = 1 << 16
)

type javaClass struct {
	name   string
	flags  byte
	fields []javaField
	super  *javaClass
}

type javaField struct {
	typeCode byte // B C D F I J S Z for primitives, L or [ for objects
	name     string
}

type javaObject struct {
	class  *javaClass
	fields map[string]any // by field name: int64, bool, string, *javaObject, javaEnum or nil
}

type javaEnum struct {
	class, constant string
}

// javaReader reads one object stream; handles are the objects it has numbered so far.
type javaReader struct {
	d       *decoder
	handles []any
}

// properties reads the CheckpointProperties object: what kind of snapshot this is.
func (d *decoder) properties() (*Properties, error) {
	magic, err := d.i16()
	if err != nil {
		return nil, err
	}
	version, err := d.i16()
	if err != nil {
		return nil, err
	}
	if uint16(magic) != javaStreamMagic || version != javaStreamVersion {
		return nil, d.errorf("not a Java object stream (header 0x%04x 0x%04x)", uint16(magic), version)
	}
	value, err := (&javaReader{d: d}).content()
	if err != nil {
		return nil, err
	}
	return checkpointProperties(value)
}

// checkpointProperties takes what the provider needs from a CheckpointProperties object: its
// checkpointType, a CheckpointType or a SavepointType with a name and (savepoints) a format.
func checkpointProperties(value any) (*Properties, error) {
	root, ok := value.(*javaObject)
	if !ok || root.class.name != "org.apache.flink.runtime.checkpoint.CheckpointProperties" {
		return nil, fmt.Errorf("not a CheckpointProperties object: %v", describe(value))
	}
	snapshotType, ok := root.fields["checkpointType"].(*javaObject)
	if !ok {
		return nil, fmt.Errorf("CheckpointProperties without a checkpointType: %v", describe(root.fields["checkpointType"]))
	}
	name, ok := snapshotType.fields["name"].(string)
	if !ok {
		return nil, fmt.Errorf("%s without a name", snapshotType.class.name)
	}
	props := &Properties{Type: name}
	switch snapshotType.class.name {
	case "org.apache.flink.runtime.checkpoint.CheckpointType":
	case "org.apache.flink.runtime.checkpoint.SavepointType":
		format, ok := snapshotType.fields["formatType"].(javaEnum)
		if !ok {
			return nil, fmt.Errorf("SavepointType without a formatType: %v", describe(snapshotType.fields["formatType"]))
		}
		props.Savepoint, props.SavepointFormat = true, format.constant
	default:
		return nil, fmt.Errorf("unknown snapshot type class %s", snapshotType.class.name)
	}
	return props, nil
}

func describe(value any) string {
	if o, ok := value.(*javaObject); ok {
		return "an object of class " + o.class.name
	}
	return fmt.Sprintf("%T", value)
}

func (j *javaReader) newHandle(value any) int {
	j.handles = append(j.handles, value)
	return len(j.handles) - 1
}

// content reads one element of the stream: null, a back-reference, an object, a string or an
// enum constant.
func (j *javaReader) content() (any, error) {
	if err := j.d.nest(); err != nil {
		return nil, err
	}
	defer j.d.unnest()
	tc, err := j.d.u8()
	if err != nil {
		return nil, err
	}
	return j.contentOf(tc)
}

// contentOf reads the element that the type code tc, already read, starts.
func (j *javaReader) contentOf(tc byte) (any, error) {
	switch tc {
	case tcNull:
		return nil, nil
	case tcReference:
		return j.reference()
	case tcObject:
		return j.object()
	case tcString, tcLongString:
		return j.string(tc)
	case tcEnum:
		return j.enum()
	}
	return nil, j.d.errorf("Java serialization element 0x%02x is not one the checkpoint properties use", tc)
}

func (j *javaReader) reference() (any, error) {
	handle, err := j.d.i32()
	if err != nil {
		return nil, err
	}
	index := int64(handle) - javaFirstHandle
	if index < 0 || index >= int64(len(j.handles)) {
		return nil, j.d.errorf("Java serialization back-reference 0x%x to nothing", handle)
	}
	return j.handles[index], nil
}

func (j *javaReader) string(tc byte) (string, error) {
	var s string
	var err error
	if tc == tcString {
		s, err = j.d.utf()
	} else {
		s, err = j.longString()
	}
	if err != nil {
		return "", err
	}
	j.newHandle(s)
	return s, nil
}

func (j *javaReader) longString() (string, error) {
	n, err := j.d.i64()
	if err != nil {
		return "", err
	}
	if n < 0 || n > maxJavaString {
		return "", j.d.errorf("Java long string of %d bytes", n)
	}
	buf := make([]byte, n)
	if err := j.d.read(buf); err != nil {
		return "", err
	}
	s, ok := decodeModifiedUTF8(buf)
	if !ok {
		return "", j.d.errorf("malformed modified UTF-8 string")
	}
	return s, nil
}

func (j *javaReader) enum() (javaEnum, error) {
	class, err := j.classDesc()
	if err != nil {
		return javaEnum{}, err
	}
	if class == nil {
		return javaEnum{}, j.d.errorf("Java enum constant without a class")
	}
	handle := j.newHandle(nil)
	name, err := j.content()
	if err != nil {
		return javaEnum{}, err
	}
	constant, ok := name.(string)
	if !ok {
		return javaEnum{}, j.d.errorf("Java enum constant of %s without a name", class.name)
	}
	value := javaEnum{class: class.name, constant: constant}
	j.handles[handle] = value
	return value, nil
}

// object reads an object: its class, then each class's field values, superclass first.
func (j *javaReader) object() (*javaObject, error) {
	class, err := j.classDesc()
	if err != nil {
		return nil, err
	}
	if class == nil {
		return nil, j.d.errorf("Java object without a class")
	}
	obj := &javaObject{class: class, fields: map[string]any{}}
	j.newHandle(obj)
	var hierarchy []*javaClass
	for c := class; c != nil; c = c.super {
		hierarchy = append([]*javaClass{c}, hierarchy...)
	}
	for _, c := range hierarchy {
		if c.flags&scExternalizable != 0 || c.flags&scSerializable == 0 {
			return nil, j.d.errorf("Java class %s is not plainly Serializable (flags 0x%02x)", c.name, c.flags)
		}
		for _, f := range c.fields {
			if obj.fields[f.name], err = j.fieldValue(f); err != nil {
				return nil, err
			}
		}
		if c.flags&scWriteMethod != 0 {
			if err := j.skipAnnotation(); err != nil {
				return nil, err
			}
		}
	}
	return obj, nil
}

// primitiveSizes are the sizes of Java's primitive field types by type code.
var primitiveSizes = map[byte]int{'B': 1, 'Z': 1, 'C': 2, 'S': 2, 'I': 4, 'F': 4, 'J': 8, 'D': 8}

func (j *javaReader) fieldValue(f javaField) (any, error) {
	n, primitive := primitiveSizes[f.typeCode]
	if !primitive {
		return j.content() // an object ('L') or an array ('[', which content refuses)
	}
	var b [8]byte
	if err := j.d.read(b[:n]); err != nil {
		return nil, err
	}
	if f.typeCode == 'Z' {
		return b[0] != 0, nil
	}
	var v int64 // the raw bits: the properties need none of the numbers
	for _, x := range b[:n] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

// classDesc reads a class description: a new one, a back-reference to one, or null (the end of
// a superclass chain).
func (j *javaReader) classDesc() (*javaClass, error) {
	tc, err := j.d.u8()
	if err != nil {
		return nil, err
	}
	switch tc {
	case tcNull:
		return nil, nil
	case tcReference:
		value, err := j.reference()
		if err != nil {
			return nil, err
		}
		class, ok := value.(*javaClass)
		if !ok {
			return nil, j.d.errorf("Java back-reference to %T where a class was expected", value)
		}
		return class, nil
	case tcClassDesc:
		return j.newClassDesc()
	}
	return nil, j.d.errorf("Java serialization element 0x%02x where a class was expected", tc)
}

// newClassDesc reads a class: name, serialVersionUID, flags, fields, annotation, superclass.
func (j *javaReader) newClassDesc() (*javaClass, error) {
	if err := j.d.nest(); err != nil {
		return nil, err
	}
	defer j.d.unnest()
	class := &javaClass{}
	var err error
	if class.name, err = j.d.utf(); err != nil {
		return nil, err
	}
	if _, err := j.d.i64(); err != nil { // serialVersionUID
		return nil, err
	}
	j.newHandle(class)
	if class.flags, err = j.d.u8(); err != nil {
		return nil, err
	}
	n, err := j.d.i16()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, j.d.errorf("Java class %s with %d fields", class.name, n)
	}
	for range n {
		f, err := j.fieldDesc(class.name)
		if err != nil {
			return nil, err
		}
		class.fields = append(class.fields, f)
	}
	if err := j.skipAnnotation(); err != nil {
		return nil, err
	}
	if class.super, err = j.classDesc(); err != nil {
		return nil, err
	}
	return class, nil
}

// fieldDesc reads a field of a class: type code and name, and for an object field the
// field's class name (a string, or a back-reference to one).
func (j *javaReader) fieldDesc(className string) (javaField, error) {
	var f javaField
	var err error
	if f.typeCode, err = j.d.u8(); err != nil {
		return f, err
	}
	if f.name, err = j.d.utf(); err != nil {
		return f, err
	}
	if _, primitive := primitiveSizes[f.typeCode]; primitive {
		return f, nil
	}
	if f.typeCode != 'L' && f.typeCode != '[' {
		return f, j.d.errorf("field %s.%s: unknown type code 0x%02x", className, f.name, f.typeCode)
	}
	typeName, err := j.content() // the field's class, as a JVM type signature
	if _, ok := typeName.(string); err == nil && !ok {
		err = j.d.errorf("field %s.%s: its type is not a string", className, f.name)
	}
	return f, err
}

// skipAnnotation reads past what a class's annotateClass or an object's writeObject wrote:
// block data and objects, up to the end-of-block marker.
func (j *javaReader) skipAnnotation() error {
	for {
		tc, err := j.d.u8()
		if err != nil {
			return err
		}
		switch tc {
		case tcEndBlockData:
			return nil
		case tcBlockData:
			n, err := j.d.u8()
			if err != nil {
				return err
			}
			if err := j.d.skip(int64(n)); err != nil {
				return err
			}
		case tcBlockDataLong:
			n, err := j.d.count("Java block data length")
			if err != nil {
				return err
			}
			if err := j.d.skip(n); err != nil {
				return err
			}
		default:
			if _, err := j.contentOf(tc); err != nil {
				return err
			}
		}
	}
}
