package snapshots

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	gcaws "gocloud.dev/aws"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

// S3Credentials are static keys for s3:// stores, used instead of the AWS SDK's default
// credential chain (environment, shared files, instance or pod role).
type S3Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	// Source says where the keys come from (e.g. "Secret streaming/flink-s3"), for the
	// hints of access errors.
	Source string
}

// The key names S3CredentialsFromSecret accepts: the AWS SDK's environment variables (a
// Secret made for envFrom), then Flink's own settings (the Secret a version's
// flink_configuration_secrets hands to Flink's S3 filesystem), so one Secret serves both.
var (
	accessKeyNames    = []string{"AWS_ACCESS_KEY_ID", "s3.access-key", "s3.access.key"}
	secretKeyNames    = []string{"AWS_SECRET_ACCESS_KEY", "s3.secret-key", "s3.secret.key"}
	sessionTokenNames = []string{"AWS_SESSION_TOKEN"}
)

// S3CredentialsFromSecret reads the keys out of a Kubernetes Secret's data. It fails, naming
// the keys it looked for, when the access key or the secret key is missing.
func S3CredentialsFromSecret(data map[string][]byte) (S3Credentials, error) {
	first := func(names []string) string {
		for _, n := range names {
			if v := strings.TrimSpace(string(data[n])); v != "" {
				return v
			}
		}
		return ""
	}
	c := S3Credentials{AccessKeyID: first(accessKeyNames), SecretAccessKey: first(secretKeyNames), SessionToken: first(sessionTokenNames)}
	var missing []string
	if c.AccessKeyID == "" {
		missing = append(missing, "access key ("+strings.Join(accessKeyNames, ", ")+")")
	}
	if c.SecretAccessKey == "" {
		missing = append(missing, "secret key ("+strings.Join(secretKeyNames, ", ")+")")
	}
	if len(missing) > 0 {
		return S3Credentials{}, fmt.Errorf("it has no %s; its keys are %q", strings.Join(missing, " and no "), slices.Sorted(maps.Keys(data)))
	}
	return c, nil
}

// OpenWithCredentials is Open with static credentials for an s3:// storageURL; other schemes
// open as Open does (and ignore them).
func OpenWithCredentials(ctx context.Context, storageURL string, creds S3Credentials) (*Store, error) {
	return openStore(ctx, storageURL, &creds)
}

// openS3 opens bucket URL u (the bucket in the host, no path) as gocloud.dev's s3blob URL
// opener does, but signing with creds. The opener has no way to take credentials, so the
// S3 options of its URL are read here and the rest go to gocloud.dev/aws, which builds the
// SDK configuration (region, endpoint, profile, ...) exactly as for Open.
func openS3(ctx context.Context, u *url.URL, creds S3Credentials) (*blob.Bucket, error) {
	q := u.Query()
	take := func(key string) string {
		v := q.Get(key)
		q.Del(key)
		return v
	}
	var opts s3blob.Options
	var clientOpts []func(*s3.Options)
	if v := take("ssetype"); v != "" {
		i := slices.IndexFunc(types.ServerSideEncryptionAes256.Values(), func(t types.ServerSideEncryption) bool { return strings.EqualFold(string(t), v) })
		if i < 0 {
			return nil, fmt.Errorf("%q is not a valid value for ssetype", v)
		}
		opts.EncryptionType = types.ServerSideEncryptionAes256.Values()[i]
	}
	opts.KMSEncryptionID = take("kmskeyid")
	for _, key := range []string{"accelerate", "disable_https", "use_path_style", "s3ForcePathStyle"} {
		raw := take(key)
		if raw == "" {
			continue
		}
		on, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, fmt.Errorf("invalid value for %q: %w", key, err)
		}
		clientOpts = append(clientOpts, func(o *s3.Options) {
			switch key {
			case "accelerate":
				o.UseAccelerate = on
			case "disable_https":
				o.EndpointOptions.DisableHTTPS = on
			default:
				o.UsePathStyle = on
			}
		})
	}
	cfg, err := gcaws.V2ConfigFromURLParams(ctx, q)
	if err != nil {
		return nil, err
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	opts.RequestChecksumCalculation = cfg.RequestChecksumCalculation
	return s3blob.OpenBucket(ctx, s3.NewFromConfig(cfg, clientOpts...), u.Host, &opts)
}
