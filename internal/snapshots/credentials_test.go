package snapshots

import (
	"context"
	"strings"
	"testing"
)

// TestS3CredentialsFromSecret: a Secret made for the AWS SDK (envFrom) and one made for Flink's
// S3 filesystem (flink_configuration_secrets) both give the keys; a Secret without them is
// refused with the key names to use and the keys it has, never their values.
func TestS3CredentialsFromSecret(t *testing.T) {
	cases := []struct {
		name    string
		data    map[string]string
		want    S3Credentials
		wantErr []string
	}{
		{"AWS names", map[string]string{"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "tok"},
			S3Credentials{AccessKeyID: "AKIA1", SecretAccessKey: "s3cr3t", SessionToken: "tok"}, nil},
		{"Flink names", map[string]string{"s3.access-key": "AKIA2", "s3.secret-key": "s3cr3t\n", "s3.endpoint": "http://x"},
			S3Credentials{AccessKeyID: "AKIA2", SecretAccessKey: "s3cr3t"}, nil},
		{"Flink's older names", map[string]string{"s3.access.key": "AKIA3", "s3.secret.key": "s3cr3t"},
			S3Credentials{AccessKeyID: "AKIA3", SecretAccessKey: "s3cr3t"}, nil},
		{"AWS names win", map[string]string{"AWS_ACCESS_KEY_ID": "AKIA4", "s3.access-key": "other", "AWS_SECRET_ACCESS_KEY": "a", "s3.secret-key": "b"},
			S3Credentials{AccessKeyID: "AKIA4", SecretAccessKey: "a"}, nil},
		{"no secret key", map[string]string{"AWS_ACCESS_KEY_ID": "AKIA5", "password": "hunter2"}, S3Credentials{},
			[]string{"it has no secret key (AWS_SECRET_ACCESS_KEY, s3.secret-key", `["AWS_ACCESS_KEY_ID" "password"]`}},
		{"empty values", map[string]string{"AWS_ACCESS_KEY_ID": " ", "AWS_SECRET_ACCESS_KEY": ""}, S3Credentials{},
			[]string{"it has no access key (AWS_ACCESS_KEY_ID, s3.access-key, s3.access.key) and no secret key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := map[string][]byte{}
			for k, v := range c.data {
				data[k] = []byte(v)
			}
			got, err := S3CredentialsFromSecret(data)
			if c.wantErr == nil {
				if err != nil || got != c.want {
					t.Fatalf("= %+v, %v; want %+v", got, err, c.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("= %+v; want an error", got)
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, v := range c.data {
				if strings.TrimSpace(v) != "" && strings.Contains(err.Error(), v) {
					t.Errorf("error %q shows the value %q", err, v)
				}
			}
		})
	}
}

// TestOpenWithCredentials_KeepsTheURLsS3Options: the URL's S3 options are still read when
// the provider signs with its own keys (a bad one is refused as s3blob refuses it), and
// other schemes open as Open opens them.
func TestOpenWithCredentials_KeepsTheURLsS3Options(t *testing.T) {
	ctx := context.Background()
	creds := S3Credentials{AccessKeyID: "a", SecretAccessKey: "b"}
	for _, bad := range []string{"s3://b/p?ssetype=rot13&region=x", "s3://b/p?use_path_style=maybe&region=x", "s3://b/p?region=x&nonsense=1"} {
		if st, err := OpenWithCredentials(ctx, bad, creds); err == nil {
			_ = st.Close()
			t.Errorf("OpenWithCredentials(%q) opened; want an error", bad)
		}
	}
	st, err := OpenWithCredentials(ctx, "s3://b/p?ssetype=aes256&use_path_style=true&endpoint=http%3A%2F%2F127.0.0.1%3A1&region=x", creds)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Root(), "s3://b/p"; got != want {
		t.Errorf("root %q, want %q", got, want)
	}
	_ = st.Close()
	dir := t.TempDir()
	st, err = OpenWithCredentials(ctx, "file://"+dir, creds)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Root(), "file://"+dir; got != want {
		t.Errorf("root %q, want %q", got, want)
	}
	_ = st.Close()
}
