// Command image writes a container image archive (docker save format, which containerd's
// `ctr images import` reads) from directories on disk, without a container engine: the test
// node's images (the pause sandbox and the Flink image, tools/node-images.sh) are built
// from Debian's packages, the fetched Flink distribution and programs of our own.
//
//	image -o out.tar -tag flink:1.20-java17 [-entrypoint /docker-entrypoint.sh] [-cmd help]
//	      [-env K=V]... [-workdir /opt/flink] [-user 9999] [-gzip]
//	      -layer DIR[:DEST[:UID:GID|:keep]] [-layer ...]
//
// Each -layer becomes one layer holding DIR's tree under DEST (default /), in order.
// Ownership is recorded as root unless the layer names another (-layer DIR:DEST:UID:GID), or
// keeps each file's own owner (-layer DIR:DEST:keep, for a root filesystem built as root);
// file modes, symbolic links and hard links (within a layer) are kept, sockets are skipped.
//
// Layers are written uncompressed by default: the archive is only imported into a local
// containerd, where gzip would cost more time (compressing here, decompressing there) than it
// saves. Each layer's tree is read twice (once for its digest, once into the archive) instead
// of being buffered; a tree that changes in between fails the write. -gzip writes gzip layers.
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var layers, env, tags list
	out := flag.String("o", "", "output archive")
	entrypoint := flag.String("entrypoint", "", "entrypoint (space-separated)")
	cmd := flag.String("cmd", "", "default arguments (space-separated)")
	workdir := flag.String("workdir", "", "working directory")
	user := flag.String("user", "", "user")
	gz := flag.Bool("gzip", false, "gzip the layers (default: uncompressed)")
	flag.Var(&layers, "layer", "DIR[:DEST[:UID:GID|:keep]] (repeatable)")
	flag.Var(&env, "env", "K=V (repeatable)")
	flag.Var(&tags, "tag", "image reference (repeatable)")
	flag.Parse()
	if *out == "" || len(layers) == 0 || len(tags) == 0 {
		log.Fatal("image: -o, -tag and at least one -layer are required")
	}
	img := empty.Image
	for _, s := range layers {
		spec, err := parseLayer(s)
		if err != nil {
			log.Fatalf("image: layer %s: %v", s, err)
		}
		var l v1.Layer
		if *gz {
			l, err = tarball.LayerFromOpener(func() (io.ReadCloser, error) { return spec.open(), nil }, tarball.WithCompressedCaching)
		} else {
			l, err = newDirLayer(spec)
		}
		if err != nil {
			log.Fatalf("image: layer %s: %v", s, err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			log.Fatalf("image: layer %s: %v", s, err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		log.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config = v1.Config{Env: env, WorkingDir: *workdir, User: *user, Entrypoint: fields(*entrypoint), Cmd: fields(*cmd)}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		log.Fatal(err)
	}
	refs := map[name.Reference]v1.Image{}
	for _, t := range tags {
		ref, err := name.NewTag(t)
		if err != nil {
			log.Fatalf("image: tag %q: %v", t, err)
		}
		refs[ref] = img
	}
	if err := tarball.MultiRefWriteToFile(*out, refs); err != nil {
		_ = os.Remove(*out) // a partial archive is of no use
		log.Fatalf("image: write %s: %v", *out, err)
	}
}

func fields(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

// layerSpec is one -layer: DIR's tree under DEST, owned by uid:gid or (keep) by its own owners.
type layerSpec struct {
	dir, dest string
	uid, gid  int
	keep      bool
}

func parseLayer(s string) (layerSpec, error) {
	parts := strings.Split(s, ":")
	spec := layerSpec{dir: parts[0], dest: "/"}
	if len(parts) > 1 && parts[1] != "" {
		spec.dest = parts[1]
	}
	switch {
	case len(parts) <= 2:
	case len(parts) == 3 && parts[2] == "keep":
		spec.keep = true
	case len(parts) == 4:
		var err error
		if spec.uid, err = strconv.Atoi(parts[2]); err != nil {
			return spec, fmt.Errorf("uid %q: %w", parts[2], err)
		}
		if spec.gid, err = strconv.Atoi(parts[3]); err != nil {
			return spec, fmt.Errorf("gid %q: %w", parts[3], err)
		}
	default:
		return spec, errors.New("want DIR[:DEST[:UID:GID|:keep]]")
	}
	if _, err := os.Stat(spec.dir); err != nil {
		return spec, err
	}
	return spec, nil
}

// open streams the layer's tar.
func (s layerSpec) open() io.ReadCloser {
	r, w := io.Pipe()
	go func() { w.CloseWithError(writeTree(w, s)) }()
	return r
}

// dirLayer is an uncompressed layer streamed from a directory tree: its digest and size come
// from a first pass over the tree.
type dirLayer struct {
	spec   layerSpec
	digest v1.Hash
	size   int64
}

func newDirLayer(spec layerSpec) (*dirLayer, error) {
	h := sha256.New()
	cw := &countingWriter{w: h}
	if err := writeTree(cw, spec); err != nil {
		return nil, err
	}
	return &dirLayer{spec: spec, digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}, size: cw.n}, nil
}

func (l *dirLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *dirLayer) DiffID() (v1.Hash, error)            { return l.digest, nil }
func (l *dirLayer) Size() (int64, error)                { return l.size, nil }
func (l *dirLayer) MediaType() (types.MediaType, error) { return types.DockerUncompressedLayer, nil }
func (l *dirLayer) Compressed() (io.ReadCloser, error)  { return l.Uncompressed() }

// Uncompressed streams the tree again, failing at its end when it differs from the first pass.
func (l *dirLayer) Uncompressed() (io.ReadCloser, error) {
	return &verifyingReader{rc: l.spec.open(), h: sha256.New(), want: l.digest.Hex, dir: l.spec.dir}, nil
}

type verifyingReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want string
	dir  string
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("%s changed while the image was written (layer digest %s, then %s)", v.dir, v.want, got)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.rc.Close() }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeTree writes the layer's tree as a tar, in lexical order (deterministic for an
// unchanged tree).
func writeTree(w io.Writer, s layerSpec) error {
	tw := tar.NewWriter(w)
	type inode struct{ dev, ino uint64 }
	links := map[inode]string{} // first path of each multiply linked file
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return err
		}
		target := strings.TrimPrefix(path.Join(s.dest, filepath.ToSlash(rel)), "/")
		if target == "" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name, h.Uid, h.Gid, h.Uname, h.Gname = target, s.uid, s.gid, "", ""
		st, _ := info.Sys().(*syscall.Stat_t)
		if s.keep && st != nil {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		}
		if info.IsDir() {
			h.Name += "/"
		}
		if info.Mode().IsRegular() && st != nil && st.Nlink > 1 {
			key := inode{uint64(st.Dev), st.Ino} //nolint:unconvert // Dev's type differs between platforms
			if first, ok := links[key]; ok {
				h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
				return tw.WriteHeader(h)
			}
			links[key] = target
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.CopyN(tw, f, h.Size); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
