package snapshots

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocloud.dev/blob/memblob"
)

func TestKey(t *testing.T) {
	type kase struct {
		path   string
		want   string // "" = error
		errHas []string
	}
	tests := []struct {
		root  string
		cases []kase
	}{
		{"s3://bucket/prefix", []kase{
			{path: "s3://bucket/prefix/savepoint-3f2a91-0123456789ab", want: "savepoint-3f2a91-0123456789ab"},
			{path: "s3a://bucket/prefix/savepoint-1", want: "savepoint-1"},
			{path: "s3p://bucket/prefix/savepoint-1", want: "savepoint-1"},
			{path: "s3n://bucket/prefix/savepoint-1", want: "savepoint-1"},
			{path: "S3A://bucket/prefix/savepoint-1", want: "savepoint-1"},
			{path: "s3://bucket/prefix/savepoint-1/", want: "savepoint-1"},
			{path: "s3://bucket/prefix/savepoint-1//", want: "savepoint-1"},
			{path: "s3://bucket/prefix//savepoint-1", want: "savepoint-1"},
			{path: "s3://bucket/prefix/./app/savepoint-1", want: "app/savepoint-1"},
			{path: "s3://bucket/prefix/app/savepoint-1", want: "app/savepoint-1"},
			{path: "s3://other/prefix/savepoint-1", errHas: []string{"outside", "s3://other/prefix/savepoint-1", "s3://bucket/prefix"}},
			{path: "s3://bucket/prefixes/savepoint-1", errHas: []string{"outside", "s3://bucket/prefix"}},
			{path: "s3://bucket/savepoint-1", errHas: []string{"outside"}},
			{path: "s3://bucket/prefix/../savepoint-1", errHas: []string{"outside"}},
			{path: "gs://bucket/prefix/savepoint-1", errHas: []string{"outside"}},
			{path: "file:///bucket/prefix/savepoint-1", errHas: []string{"outside"}},
			{path: "s3://bucket/prefix", errHas: []string{"root of snapshot store"}},
			{path: "s3://bucket/prefix/", errHas: []string{"root of snapshot store"}},
			{path: "/prefix/savepoint-1", errHas: []string{"no scheme"}},
			{path: "bucket/prefix/savepoint-1", errHas: []string{"no scheme"}},
			{path: "hdfs://namenode/prefix/savepoint-1", errHas: []string{"not supported"}},
			{path: "s3://bucket/prefix/savepoint-1?x=1", errHas: []string{"query"}},
			{path: "s3:///prefix/savepoint-1", errHas: []string{"no bucket"}},
		}},
		{"s3a://bucket/prefix/", []kase{ // Flink-style root with a trailing slash
			{path: "s3://bucket/prefix/savepoint-1", want: "savepoint-1"},
			{path: "s3p://bucket/prefix/savepoint-1/", want: "savepoint-1"},
		}},
		{"s3://bucket?region=eu-west-1", []kase{
			{path: "s3://bucket/savepoint-1", want: "savepoint-1"},
			{path: "s3a://bucket/a/b/savepoint-1", want: "a/b/savepoint-1"},
			{path: "s3://bucket", errHas: []string{"root of snapshot store"}},
		}},
		{"s3://bucket/base?prefix=more/&region=eu-west-1", []kase{
			{path: "s3://bucket/base/more/savepoint-1", want: "savepoint-1"},
			{path: "s3://bucket/base/savepoint-1", errHas: []string{"outside", "s3://bucket/base/more"}},
		}},
		{"gs://bucket/sp", []kase{
			{path: "gs://bucket/sp/savepoint-1", want: "savepoint-1"},
			{path: "s3://bucket/sp/savepoint-1", errHas: []string{"outside"}},
		}},
		{"azblob://container/sp?storage_account=acct", []kase{
			{path: "azblob://container/sp/savepoint-1", want: "savepoint-1"},
			{path: "wasbs://container@acct.blob.core.windows.net/sp/savepoint-1", want: "savepoint-1"},
			{path: "abfss://container@acct.dfs.core.windows.net/sp/savepoint-1", want: "savepoint-1"},
			{path: "abfs://container@acct.dfs.core.windows.net/sp/savepoint-1", want: "savepoint-1"},
			{path: "abfss://container@other.dfs.core.windows.net/sp/savepoint-1", errHas: []string{"outside"}},
			{path: "abfss://other@acct.dfs.core.windows.net/sp/savepoint-1", errHas: []string{"outside"}},
			{path: "abfss://acct.dfs.core.windows.net/sp/savepoint-1", errHas: []string{"no container"}},
		}},
		{"file:///var/savepoints", []kase{
			{path: "file:/var/savepoints/savepoint-1", want: "savepoint-1"},
			{path: "file:///var/savepoints/savepoint-1", want: "savepoint-1"},
			{path: "file://localhost/var/savepoints/savepoint-1", want: "savepoint-1"},
			{path: "file:/var/savepoints/savepoint-1/", want: "savepoint-1"},
			{path: "file:///var/savepoints/app-a/savepoint-1/", want: "app-a/savepoint-1"},
			{path: "FILE:/var/savepoints/savepoint-1", want: "savepoint-1"},
			{path: "file:/var/savepoints-old/savepoint-1", errHas: []string{"outside", "file:///var/savepoints"}},
			{path: "file:/var/savepoint", errHas: []string{"outside"}},
			{path: "file:/var/other/savepoint-1", errHas: []string{"outside"}},
			{path: "file://otherhost/var/savepoints/savepoint-1", errHas: []string{"otherhost", "local"}},
			{path: "file:var/savepoints/savepoint-1", errHas: []string{"not an absolute path"}},
			{path: "file:/var/savepoints", errHas: []string{"root of snapshot store"}},
			{path: "file:///var/savepoints/", errHas: []string{"root of snapshot store"}},
			{path: "s3://var/savepoints/savepoint-1", errHas: []string{"outside"}},
		}},
		{"file:/var/savepoints/", []kase{ // Flink's local form as root
			{path: "file:///var/savepoints/savepoint-1", want: "savepoint-1"},
		}},
		{"file:///", []kase{
			{path: "file:/var/savepoints/savepoint-1", want: "var/savepoints/savepoint-1"},
		}},
		{"mem://", []kase{
			{path: "mem://savepoint-1", want: "savepoint-1"},
			{path: "mem://a/savepoint-1/", want: "a/savepoint-1"},
			{path: "mem://", errHas: []string{"root of snapshot store"}},
		}},
		{"mem://sp", []kase{
			{path: "mem://sp/savepoint-1", want: "savepoint-1"},
			{path: "mem://spx/savepoint-1", errHas: []string{"outside"}},
		}},
	}
	b := memblob.OpenBucket(nil)
	closeAtEnd(t, b)
	for _, tt := range tests {
		s := OpenBucket(b, tt.root)
		for _, c := range tt.cases {
			got, err := s.Key(c.path)
			if c.want != "" {
				if err != nil || got != c.want {
					t.Errorf("root %s: Key(%q) = %q, %v; want %q", tt.root, c.path, got, err, c.want)
				}
				continue
			}
			if err == nil {
				t.Errorf("root %s: Key(%q) = %q; want an error", tt.root, c.path, got)
				continue
			}
			for _, sub := range c.errHas {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("root %s: Key(%q) error %q does not mention %q", tt.root, c.path, err, sub)
				}
			}
		}
	}
}

func TestRootAndFlinkPath(t *testing.T) {
	b := memblob.OpenBucket(nil)
	closeAtEnd(t, b)
	for root, want := range map[string]string{
		"s3a://bucket/prefix/":          "s3://bucket/prefix",
		"s3://bucket?region=x":          "s3://bucket",
		"s3://bucket/a?prefix=b/":       "s3://bucket/a/b",
		"file:/var/savepoints/":         "file:///var/savepoints",
		"file://localhost/var/x":        "file:///var/x",
		"mem://":                        "mem://",
		"wasbs://c@acct.blob.core/x/y/": "azblob://c/x/y",
	} {
		s := OpenBucket(b, root)
		if got := s.Root(); got != want {
			t.Errorf("OpenBucket(%q).Root() = %q, want %q", root, got, want)
		}
		key := "savepoint-1"
		if got, err := s.Key(s.FlinkPath(key)); err != nil || got != key {
			t.Errorf("root %q: Key(FlinkPath(%q)) = %q, %v", root, key, got, err)
		}
	}
}

func TestOpenBucketBadRoot(t *testing.T) {
	b := memblob.OpenBucket(nil)
	closeAtEnd(t, b)
	for _, root := range []string{"", "relative/dir", "hdfs://nn/x", "s3:///x"} {
		s := OpenBucket(b, root)
		if _, err := s.Key("s3://bucket/x/savepoint-1"); err == nil || !strings.Contains(err.Error(), "snapshot store root") {
			t.Errorf("OpenBucket(%q): Key error = %v, want one about the root", root, err)
		}
		if err := s.Verify(context.Background(), "s3://bucket/x/savepoint-1"); err == nil {
			t.Errorf("OpenBucket(%q): Verify succeeded", root)
		}
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(ctx, "file://"+dir)
		if err != nil {
			t.Fatal(err)
		}
		closeAtEnd(t, s)
		if want := "file://" + filepath.ToSlash(dir); s.Root() != want {
			t.Errorf("Root() = %q, want %q", s.Root(), want)
		}
		if got, err := s.Key("file:" + dir + "/savepoint-1"); err != nil || got != "savepoint-1" {
			t.Errorf("Key = %q, %v", got, err)
		}
	})
	t.Run("file with prefix", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(ctx, "file://"+dir+"?prefix=app/")
		if err != nil {
			t.Fatal(err)
		}
		closeAtEnd(t, s)
		if want := "file://" + dir + "/app"; s.Root() != want {
			t.Errorf("Root() = %q, want %q", s.Root(), want)
		}
		if err := s.WriteSavepoint(ctx, "file:"+dir+"/app/savepoint-1", map[string][]byte{"f": []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "app", "savepoint-1", "_metadata")); err != nil {
			t.Errorf("savepoint not where Flink would find it: %v", err)
		}
	})
	t.Run("file writes no sidecars", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(ctx, "file://"+dir)
		if err != nil {
			t.Fatal(err)
		}
		closeAtEnd(t, s)
		if err := s.WriteSavepoint(ctx, "file:"+dir+"/savepoint-1", map[string][]byte{"state": []byte("x")}); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(filepath.Join(dir, "savepoint-1"))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if strings.Join(names, ",") != "_metadata,state" {
			t.Errorf("savepoint directory holds %v, want just _metadata and state", names)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		_, err := Open(ctx, "file://"+t.TempDir()+"/nope")
		if err == nil || !strings.Contains(err.Error(), "create_dir") {
			t.Errorf("Open of a missing directory: %v", err)
		}
	})
	t.Run("bad URLs", func(t *testing.T) {
		for _, u := range []string{"", "nope", "hdfs://nn/x", "s3://bucket/x?key=a"} {
			if s, err := Open(ctx, u); err == nil {
				closeAtEnd(t, s)
				t.Errorf("Open(%q) succeeded", u)
			}
		}
	})
	t.Run("mem", func(t *testing.T) {
		s, err := Open(ctx, "mem://")
		if err != nil {
			t.Fatal(err)
		}
		closeAtEnd(t, s)
		if s.Root() != "mem://" {
			t.Errorf("Root() = %q", s.Root())
		}
		if err := s.WriteSavepoint(ctx, "mem://savepoint-1", nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(ctx, "mem://savepoint-1"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("mem with path", func(t *testing.T) {
		s, err := Open(ctx, "mem://sp")
		if err != nil {
			t.Fatal(err)
		}
		closeAtEnd(t, s)
		if err := s.WriteSavepoint(ctx, "mem://sp/savepoint-1", nil); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Bucket().Exists(ctx, "savepoint-1/_metadata"); !ok {
			t.Errorf("Bucket() keys are not relative to the root")
		}
	})
	t.Run("s3 opens without contacting AWS", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "test")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		s, err := Open(ctx, "s3://bucket/prefix?region=eu-west-1")
		if err != nil {
			t.Fatal(err)
		}
		closeAtEnd(t, s)
		if s.Root() != "s3://bucket/prefix" {
			t.Errorf("Root() = %q", s.Root())
		}
		if got, err := s.Key("s3a://bucket/prefix/savepoint-1"); err != nil || got != "savepoint-1" {
			t.Errorf("Key = %q, %v", got, err)
		}
	})
}
