package kube

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// Sensitive settings reach Flink without passing through a ConfigMap or a pod spec:
// environment variables by secretKeyRef, and Flink configuration keys through an init
// container that copies the rendered configuration from the ConfigMap into a memory-backed
// emptyDir mounted at ConfDir and appends the keys of the Secrets mounted into it.
const (
	// ComponentSecret labels the Secrets the provider owns.
	ComponentSecret = "secret"
	// ConfigInitContainerName is the init container that merges Secrets into the configuration.
	ConfigInitContainerName = "flink-config-secrets"
	// ConfigTemplateVolumeName is the ConfigMap volume the init container reads, when the
	// configuration directory itself is an emptyDir.
	ConfigTemplateVolumeName = "flink-config-template"
	// ConfigTemplateDir is where the init container mounts the ConfigMap.
	ConfigTemplateDir = "/opt/flink/conf-template"
	// ConfigSecretsDir holds one directory per merged Secret, named after it.
	ConfigSecretsDir = "/opt/flink/conf-secrets"

	// Keys of the provider-owned Secret: "flink-conf.<Flink key>" and "env.<variable>".
	SecretKeyConfigPrefix = "flink-conf."
	SecretKeyEnvPrefix    = "env."

	suffixSecret = "-secrets-"
)

// OwnedSecretName is the name of the n-th Secret the provider wrote for app. Every change of
// the values gets a new, immutable Secret, so the pods of one deployment always read the
// values they started with and a rollback finds the previous ones.
func OwnedSecretName(app string, n int64) string {
	return app + suffixSecret + strconv.FormatInt(n, 10)
}

// OwnedSecretSelector matches the Secrets the provider owns for app.
func OwnedSecretSelector(app string) string {
	return AppSelector(app) + "," + LabelComponent + "=" + ComponentSecret
}

// DescribeOwnedSecret returns the name and keys (never the values) of the Secret holding values.
func DescribeOwnedSecret(name string, values spec.SecretValues) spec.OwnedSecret {
	return spec.OwnedSecret{Name: name, FlinkConfigurationKeys: namesOf(values.FlinkConfiguration), EnvNames: namesOf(values.Env)}
}

// CheckSecretConfigKey is the rule for a key of a Secret merged into the Flink
// configuration: a Flink key (flinkconf.CheckKey) that is also a valid Secret key, and not one
// the provider sets.
func CheckSecretConfigKey(k string) error {
	if err := flinkconf.CheckKey(k); err != nil {
		return err
	}
	if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
		return fmt.Errorf("secret Flink configuration key %q is invalid: a Secret key may only contain letters, digits, '-', '_' and '.'", k)
	}
	if flinkconf.IsOwnedKey(k) {
		return fmt.Errorf("secret Flink configuration key %q is managed by the provider and cannot be set", k)
	}
	return nil
}

// checkSecrets validates the secret references of d and the keys of its owned Secret
// against the rest of its configuration (cfg is the rendered Flink configuration).
func checkSecrets(d spec.Deployment, cfg map[string]string) error {
	v := d.Version
	envNames := map[string]string{}
	for n := range v.Env {
		envNames[n] = "env"
	}
	for _, n := range namesOf(v.EnvFromSecrets) {
		ref := v.EnvFromSecrets[n]
		if errs := validation.IsEnvVarName(n); len(errs) > 0 {
			return fmt.Errorf("env_from_secrets name %q is invalid: %s", n, strings.Join(errs, "; "))
		}
		if errs := validation.IsDNS1123Subdomain(ref.Secret); len(errs) > 0 {
			return fmt.Errorf("env_from_secrets %q: Secret name %q is invalid: %s", n, ref.Secret, strings.Join(errs, "; "))
		}
		if errs := validation.IsConfigMapKey(ref.Key); len(errs) > 0 {
			return fmt.Errorf("env_from_secrets %q: key %q is invalid: %s", n, ref.Key, strings.Join(errs, "; "))
		}
		if other, dup := envNames[n]; dup {
			return fmt.Errorf("environment variable %q is set both in %s and in env_from_secrets", n, other)
		}
		envNames[n] = "env_from_secrets"
	}
	seen := map[string]bool{}
	for _, s := range v.FlinkConfigurationSecrets {
		if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
			return fmt.Errorf("flink_configuration_secrets: Secret name %q is invalid: %s", s, strings.Join(errs, "; "))
		}
		if seen[s] {
			return fmt.Errorf("flink_configuration_secrets names Secret %q twice", s)
		}
		seen[s] = true
	}
	o := d.Secret
	if o == nil {
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(o.Name); len(errs) > 0 {
		return fmt.Errorf("secret name %q is invalid: %s", o.Name, strings.Join(errs, "; "))
	}
	if seen[o.Name] {
		return fmt.Errorf("flink_configuration_secrets names %q, the Secret the provider owns for the application", o.Name)
	}
	for _, k := range o.FlinkConfigurationKeys {
		if err := CheckSecretConfigKey(k); err != nil {
			return err
		}
		if _, set := cfg[k]; set {
			return fmt.Errorf("Flink configuration key %q is set both in the version's flink_configuration (or by the provider) and in "+
				"the application's secret Flink configuration; set it in one place", k)
		}
	}
	for _, n := range o.EnvNames {
		if errs := validation.IsEnvVarName(n); len(errs) > 0 {
			return fmt.Errorf("secret environment variable name %q is invalid: %s", n, strings.Join(errs, "; "))
		}
		if other, dup := envNames[n]; dup {
			return fmt.Errorf("environment variable %q is set both in the version's %s and in the application's secret environment", n, other)
		}
	}
	return nil
}

// secretEnvVars are the environment variables read from Secrets: the version's
// env_from_secrets, then the owned Secret's, each sorted by name.
func secretEnvVars(d spec.Deployment) []*corev1ac.EnvVarApplyConfiguration {
	var out []*corev1ac.EnvVarApplyConfiguration
	ref := func(name, secret, key string) *corev1ac.EnvVarApplyConfiguration {
		return corev1ac.EnvVar().WithName(name).WithValueFrom(corev1ac.EnvVarSource().
			WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(secret).WithKey(key)))
	}
	for _, n := range namesOf(d.Version.EnvFromSecrets) {
		r := d.Version.EnvFromSecrets[n]
		out = append(out, ref(n, r.Secret, r.Key))
	}
	if d.Secret != nil {
		for _, n := range d.Secret.EnvNames {
			out = append(out, ref(n, d.Secret.Name, SecretKeyEnvPrefix+n))
		}
	}
	return out
}

// configSecrets are the Secrets merged into the Flink configuration, in merge order, as
// volumes: the version's flink_configuration_secrets, then the owned Secret's Flink keys.
func configSecrets(d spec.Deployment) []*corev1ac.VolumeApplyConfiguration {
	var vols []*corev1ac.VolumeApplyConfiguration
	for _, s := range d.Version.FlinkConfigurationSecrets {
		vols = append(vols, corev1ac.Volume().WithName(fmt.Sprintf("flink-config-secret-%d", len(vols))).
			WithSecret(corev1ac.SecretVolumeSource().WithSecretName(s)))
	}
	if o := d.Secret; o != nil && len(o.FlinkConfigurationKeys) > 0 {
		src := corev1ac.SecretVolumeSource().WithSecretName(o.Name)
		for _, k := range o.FlinkConfigurationKeys {
			src = src.WithItems(corev1ac.KeyToPath().WithKey(SecretKeyConfigPrefix + k).WithPath(k))
		}
		vols = append(vols, corev1ac.Volume().WithName(fmt.Sprintf("flink-config-secret-%d", len(vols))).WithSecret(src))
	}
	return vols
}

// mergeConfigSecrets changes a rendered Deployment so that Flink reads a configuration with
// the Secrets merged in: the configuration volume becomes a memory-backed emptyDir (never
// on the node's disk) that the init container fills from the ConfigMap and the Secrets. The
// Flink container itself is unchanged.
func mergeConfigSecrets(dep *appsv1ac.DeploymentApplyConfiguration, d spec.Deployment, fv flinkconf.Version, res corev1.ResourceList) {
	secrets := configSecrets(d)
	if len(secrets) == 0 {
		return
	}
	pod := dep.Spec.Template.Spec
	for i := range pod.Volumes {
		if pod.Volumes[i].Name != nil && *pod.Volumes[i].Name == ConfigVolumeName {
			pod.Volumes[i] = *corev1ac.Volume().WithName(ConfigVolumeName).
				WithEmptyDir(corev1ac.EmptyDirVolumeSource().WithMedium(corev1.StorageMediumMemory))
		}
	}
	pod.WithVolumes(corev1ac.Volume().WithName(ConfigTemplateVolumeName).
		WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(ConfigMapName(d.Application))))
	pod.WithVolumes(secrets...)

	format := "yaml"
	if !fv.AtLeast(1, 19) {
		format = "legacy"
	}
	args := []string{ConfigTemplateDir, ConfDir, fv.ConfigFileName(), format}
	mounts := []*corev1ac.VolumeMountApplyConfiguration{
		corev1ac.VolumeMount().WithName(ConfigTemplateVolumeName).WithMountPath(ConfigTemplateDir).WithReadOnly(true),
		corev1ac.VolumeMount().WithName(ConfigVolumeName).WithMountPath(ConfDir),
	}
	for _, vol := range secrets {
		dir := ConfigSecretsDir + "/" + *vol.Secret.SecretName
		args = append(args, dir)
		mounts = append(mounts, corev1ac.VolumeMount().WithName(*vol.Name).WithMountPath(dir).WithReadOnly(true))
	}
	v := d.Version
	init := corev1ac.Container().
		WithName(ConfigInitContainerName).
		WithImage(v.Image).
		// The image's own shell and coreutils; $0 names the script in its messages.
		WithCommand("/bin/sh", "-c", MergeConfigScript(), "merge-flink-config").
		WithArgs(args...).
		WithResources(corev1ac.ResourceRequirements().WithRequests(res).WithLimits(res)).
		WithVolumeMounts(mounts...)
	if v.ImagePullPolicy != "" {
		init = init.WithImagePullPolicy(corev1.PullPolicy(v.ImagePullPolicy))
	}
	pod.WithInitContainers(init)
}

// MergeConfigScript is the POSIX shell script of the init container. Arguments: the
// ConfigMap directory, the configuration directory, the configuration file name, "yaml"
// (config.yaml, Flink >= 1.19) or "legacy" (flink-conf.yaml), then one directory per Secret
// (named after it), each file a configuration key. It copies the ConfigMap's files and
// appends every key to the configuration file, refusing keys the provider owns, keys the
// file already has (flink_configuration, the provider's, an earlier Secret's) and values the
// file format cannot hold. Its messages name keys and Secrets, never a value.
func MergeConfigScript() string {
	// case patterns: "." is literal, a trailing "*" a prefix match
	return strings.ReplaceAll(mergeConfigScript, "@OWNED@", strings.Join(flinkconf.OwnedKeys, "|"))
}

const mergeConfigScript = `set -eu
template=$1 conf=$2 file=$3 format=$4
shift 4
fail() { echo "$0: $*" >&2; exit 1; }
cp "$template"/* "$conf"/
chmod u+w "$conf"/*
[ -f "$conf/$file" ] || fail "the configuration has no $file"
nl='
'
cr=$(printf '\r')
for dir in "$@"; do
  secret=${dir##*/}
  for path in "$dir"/*; do
    [ -f "$path" ] || continue
    key=${path##*/}
    case $key in
      *[!A-Za-z0-9._-]*) fail "Secret $secret: key $key is not a Flink configuration key";;
      @OWNED@) fail "Secret $secret: key $key is set by the provider and cannot come from a Secret";;
    esac
    while IFS= read -r line; do
      case $line in
        "$key: "*|"$key:") fail "Secret $secret: key $key is set twice (in flink_configuration, by the provider, or in another Secret)";;
      esac
    done < "$conf/$file"
    value=$(cat "$path")
    case $value in
      *"$nl"*|*"$cr"*) fail "Secret $secret: the value of $key has a line break, which a Flink configuration value cannot hold";;
    esac
    if [ "$format" = yaml ]; then
      printf "%s: '%s'\n" "$key" "$(printf '%s' "$value" | sed "s/'/''/g")" >> "$conf/$file"
    else
      case $value in
        *"#"*) fail "Secret $secret: the value of $key has a '#', which $file (Flink < 1.19) reads as a comment";;
      esac
      printf '%s: %s\n' "$key" "$value" >> "$conf/$file"
    fi
  done
done
echo "$0: merged $# Secret(s) into $file"
`

// OwnedSecretObject is the immutable Secret holding values, described by s, owned like the
// cluster's objects by owner (the application record).
func OwnedSecretObject(ns, app string, s spec.OwnedSecret, values spec.SecretValues, labels, annotations map[string]string,
	owner *metav1.OwnerReference,
) *corev1.Secret {
	data := map[string][]byte{}
	for k, v := range values.FlinkConfiguration {
		data[SecretKeyConfigPrefix+k] = []byte(v)
	}
	for k, v := range values.Env {
		data[SecretKeyEnvPrefix+k] = []byte(v)
	}
	immutable := true
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name, Namespace: ns,
			Labels:      MergeLabels(labels, ComponentSelectorLabels(app, ComponentSecret)),
			Annotations: annotations,
		},
		Type:      corev1.SecretTypeOpaque,
		Immutable: &immutable,
		Data:      data,
	}
	if owner != nil {
		sec.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return sec
}

// CreateOwnedSecret creates sec. A Secret of that name left by an apply that died before
// recording it is replaced; one the application record names is never touched (the caller
// picks a new name for new values).
func (c *Client) CreateOwnedSecret(ctx context.Context, sec *corev1.Secret) error {
	secrets := c.Kube.CoreV1().Secrets(sec.Namespace)
	app := sec.Labels[LabelName]
	err := c.RetryTransient(ctx, func() error {
		_, err := secrets.Create(ctx, sec, metav1.CreateOptions{FieldManager: c.FieldManagerName()})
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		cur, err := secrets.Get(ctx, sec.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Labels[LabelManagedBy] != ManagedByValue || cur.Labels[LabelName] != app || cur.Labels[LabelComponent] != ComponentSecret {
			return fmt.Errorf("Secret %s/%s exists and is not managed by %s for application %s", sec.Namespace, sec.Name, ManagedByValue, app)
		}
		if reflect.DeepEqual(cur.Data, sec.Data) {
			return nil // our own create, whose answer was lost
		}
		uid := cur.UID
		if err := secrets.Delete(ctx, sec.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		_, err = secrets.Create(ctx, sec, metav1.CreateOptions{FieldManager: c.FieldManagerName()})
		return err
	})
	if err != nil {
		return fmt.Errorf("create Secret %s/%s: %w", sec.Namespace, sec.Name, err)
	}
	return nil
}

// DeleteOwnedSecrets deletes the Secrets the provider owns for app, except keep.
func (c *Client) DeleteOwnedSecrets(ctx context.Context, ns, app, keep string) error {
	list, err := c.Kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: OwnedSecretSelector(app)})
	if err != nil {
		return fmt.Errorf("list the Secrets of %s/%s: %w", ns, app, err)
	}
	for _, s := range list.Items {
		if s.Name == keep {
			continue
		}
		if err := c.Kube.CoreV1().Secrets(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete Secret %s/%s: %w", ns, s.Name, err)
		}
	}
	return nil
}

func namesOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SecretData reads the data of Secret ns/name (one the user keeps, such as storage
// credentials).
func (c *Client) SecretData(ctx context.Context, ns, name string) (_ map[string][]byte, err error) {
	defer withPermissionHint(&err, ns)
	s, err := c.Kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return s.Data, nil
}
