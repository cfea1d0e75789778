package acctest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
)

// The pod shape the agent understands is the one Flink's own Kubernetes documentation (and
// internal/kube) renders for a standalone application cluster.
const (
	// FlinkContainerName is the name of the container that runs Flink in JobManager and
	// TaskManager pods.
	FlinkContainerName = "flink-main-container"
	// FlinkConfDir is where the Flink configuration ConfigMap is mounted.
	FlinkConfDir = "/opt/flink/conf"

	LabelAppName   = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component"

	ComponentJobManager  = "jobmanager"
	ComponentTaskManager = "taskmanager"

	// DefaultFlinkVersion is assumed when neither FLINK_VERSION nor the image tag says.
	DefaultFlinkVersion = "1.20.0"
)

// Role is what a pod runs, as decided by Flink's docker entrypoint from the container args.
type Role string

const (
	RoleNone        Role = ""               // not a Flink pod: the agent just runs it
	RoleJobManager  Role = "standalone-job" // application-mode JobManager
	RoleTaskManager Role = "taskmanager"    // TaskManager
	roleSession     Role = "jobmanager"     // session JobManager: not supported
)

// JobManagerLaunch is what a standalone application JobManager pod asks the runtime to run.
type JobManagerLaunch struct {
	App          string // pod label app.kubernetes.io/name
	Namespace    string
	RestHost     string // <app>-rest.<namespace>.svc
	FlinkVersion string // e.g. "1.20.0"

	JobID      string // --job-id, else $internal.pipeline.job-id, else random (as Flink without HA)
	JobName    string // pipeline.name, else the application name
	EntryClass string // --job-classname
	JarURI     string // --jars
	Args       []string

	// Config is the effective Flink configuration: the mounted config file, then FLINK_PROPERTIES,
	// then -D dynamic properties and restore flags from the args.
	Config map[string]string

	RestorePath           string // execution.savepoint.path (1.x) / execution.state-recovery.path (≥1.20)
	AllowNonRestoredState bool
	Parallelism           int    // parallelism.default, default 1
	SavepointDir          string // state.savepoints.dir (1.x) / execution.checkpointing.savepoint-dir (≥1.20)

	// ServiceAccountDir holds the pod's token, ca.crt and namespace (a container has them at
	// /var/run/secrets/kubernetes.io/serviceaccount); "" when the pod mounts none.
	ServiceAccountDir string
}

// TaskManagerLaunch is what a TaskManager pod asks the runtime to run.
type TaskManagerLaunch struct {
	App          string
	Namespace    string
	RestHost     string
	FlinkVersion string
	Slots        int // taskmanager.numberOfTaskSlots, default 1
	Config       map[string]string
	// ServiceAccountDir: as JobManagerLaunch's.
	ServiceAccountDir string
}

// RestHost is the in-cluster host name of an application's REST service.
func RestHost(app, namespace string) string { return app + "-rest." + namespace + ".svc" }

// FlinkContainer returns the container that runs Flink: the one named flink-main-container,
// else the only container.
func FlinkContainer(pod *corev1.Pod) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == FlinkContainerName {
			return &pod.Spec.Containers[i]
		}
	}
	if len(pod.Spec.Containers) == 1 {
		return &pod.Spec.Containers[0]
	}
	return nil
}

// entrypointArgs returns the arguments Flink's docker entrypoint receives: command + args,
// without the entrypoint script itself when the command names it.
func entrypointArgs(c *corev1.Container) []string {
	all := append(append([]string{}, c.Command...), c.Args...)
	for len(all) > 0 && (strings.HasSuffix(all[0], "docker-entrypoint.sh") || all[0] == "/bin/bash" || all[0] == "bash" || all[0] == "/bin/sh" || all[0] == "sh") {
		all = all[1:]
	}
	return all
}

// PodRole tells what Flink's entrypoint would run in this pod.
func PodRole(pod *corev1.Pod) Role {
	c := FlinkContainer(pod)
	if c == nil {
		return RoleNone
	}
	args := entrypointArgs(c)
	if len(args) == 0 {
		return RoleNone
	}
	switch Role(args[0]) {
	case RoleJobManager, RoleTaskManager, roleSession:
		return Role(args[0])
	}
	return RoleNone
}

// ConfigSource says where the pod's Flink configuration comes from: the ConfigMap mounted at
// /opt/flink/conf in the Flink container, and which ConfigMap key provides which file name.
type ConfigSource struct {
	ConfigMap string
	Optional  bool
	// Files maps a file name under /opt/flink/conf to the ConfigMap key holding it.
	Files map[string]string
	// AllKeys is true when every key of the ConfigMap appears as a file (no items, no subPath).
	AllKeys bool
}

// PodConfigSource finds the ConfigMap mounted at /opt/flink/conf (as a directory, or file by
// file with subPath). ok is false when nothing is mounted there.
func PodConfigSource(pod *corev1.Pod, c *corev1.Container) (src ConfigSource, ok bool) {
	vols := map[string]*corev1.ConfigMapVolumeSource{}
	for i := range pod.Spec.Volumes {
		if cm := pod.Spec.Volumes[i].ConfigMap; cm != nil {
			vols[pod.Spec.Volumes[i].Name] = cm
		}
	}
	src.Files = map[string]string{}
	for _, m := range c.VolumeMounts {
		cm := vols[m.Name]
		if cm == nil {
			continue
		}
		mp := strings.TrimSuffix(m.MountPath, "/")
		// keyToPath maps the paths inside the volume to ConfigMap keys.
		keyOf := func(path string) (string, bool) {
			if len(cm.Items) == 0 {
				return path, true
			}
			for _, it := range cm.Items {
				if it.Path == path {
					return it.Key, true
				}
			}
			return "", false
		}
		switch {
		case mp == FlinkConfDir && m.SubPath == "":
			if src.ConfigMap != "" && src.ConfigMap != cm.Name {
				continue
			}
			src.ConfigMap, src.Optional = cm.Name, cm.Optional != nil && *cm.Optional
			if len(cm.Items) == 0 {
				src.AllKeys = true
			}
			for _, it := range cm.Items {
				if !strings.Contains(it.Path, "/") {
					src.Files[it.Path] = it.Key
				}
			}
		case strings.HasPrefix(mp, FlinkConfDir+"/") && m.SubPath != "":
			file := strings.TrimPrefix(mp, FlinkConfDir+"/")
			if strings.Contains(file, "/") {
				continue
			}
			if src.ConfigMap != "" && src.ConfigMap != cm.Name {
				continue
			}
			key, found := keyOf(m.SubPath)
			if !found {
				continue
			}
			src.ConfigMap, src.Optional = cm.Name, cm.Optional != nil && *cm.Optional
			src.Files[file] = key
		}
	}
	return src, src.ConfigMap != ""
}

// ConfigFiles resolves the files of the configuration directory from the ConfigMap's data.
func (s ConfigSource) ConfigFiles(data map[string]string) map[string]string {
	files := map[string]string{}
	if s.AllKeys {
		for k, v := range data {
			files[k] = v
		}
	}
	for file, key := range s.Files {
		if v, ok := data[key]; ok {
			files[file] = v
		}
	}
	return files
}

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?`)

// FlinkVersionOf returns the Flink version a container runs: the FLINK_VERSION environment
// variable (the official images set it), else the tag of an image whose name contains "flink"
// (flink:1.20.1-scala_2.12-java17 → 1.20.1), else DefaultFlinkVersion. The pod label
// flink.flinkplatform.io/version is the application version, not Flink's, and is ignored.
func FlinkVersionOf(c *corev1.Container) string {
	for _, e := range c.Env {
		if e.Name == "FLINK_VERSION" && e.Value != "" {
			if m := versionRE.FindStringSubmatch(e.Value); m != nil {
				return normalizeVersion(m)
			}
		}
	}
	image := c.Image
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	repo, tag := image, ""
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		repo, tag = image[:i], image[i+1:]
	}
	if strings.Contains(strings.ToLower(repo[strings.LastIndex(repo, "/")+1:]), "flink") {
		if m := versionRE.FindStringSubmatch(tag); m != nil {
			return normalizeVersion(m)
		}
	}
	return DefaultFlinkVersion
}

func normalizeVersion(m []string) string {
	patch := m[3]
	if patch == "" {
		patch = "0"
	}
	return m[1] + "." + m[2] + "." + patch
}

// versionAtLeast reports whether version (major.minor[.patch]) is ≥ major.minor.
func versionAtLeast(version string, major, minor int) bool {
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return false
	}
	ma, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	return ma > major || ma == major && mi >= minor
}

// SelectConfigFile picks the configuration file Flink of that version reads from the
// configuration directory: config.yaml from 1.19 on (falling back to flink-conf.yaml until 2.0),
// flink-conf.yaml before. It returns the parsed configuration and the file name used ("" when
// Flink would find no configuration file and start with defaults).
func SelectConfigFile(flinkVersion string, files map[string]string) (map[string]string, string, error) {
	if versionAtLeast(flinkVersion, 1, 19) {
		if content, ok := files[flinkconf.ConfigFileYAML]; ok {
			conf, err := ParseConfigYAML(content)
			if err != nil {
				return nil, flinkconf.ConfigFileYAML, fmt.Errorf("%s: %w", flinkconf.ConfigFileYAML, err)
			}
			return conf, flinkconf.ConfigFileYAML, nil
		}
		if versionAtLeast(flinkVersion, 2, 0) {
			return map[string]string{}, "", nil
		}
	}
	if content, ok := files[flinkconf.ConfigFileLegacy]; ok {
		return ParseLegacyConfig(content), flinkconf.ConfigFileLegacy, nil
	}
	return map[string]string{}, "", nil
}

// ParseLegacyConfig parses flink-conf.yaml the way Flink < 2.0 does: one "key: value" per line,
// '#' comments, no nesting.
func ParseLegacyConfig(content string) map[string]string {
	conf := map[string]string{}
	for _, line := range strings.Split(content, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			k, v, ok = strings.Cut(strings.TrimRight(line, " \t\r"), ":")
			if !ok || v != "" {
				continue
			}
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k != "" && v != "" {
			conf[k] = v
		}
	}
	return conf
}

// ParseConfigYAML parses Flink's config.yaml (standard YAML, Flink ≥ 1.19): nested maps are
// flattened with dots, lists become Flink's ";"-separated form, scalars keep their text
// ("1.20" stays "1.20"). Content that is not valid YAML is read as flat "key: value" lines.
func ParseConfigYAML(content string) (map[string]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(content), &doc); err != nil {
		return ParseLegacyConfig(content), nil
	}
	conf := map[string]string{}
	if len(doc.Content) == 0 {
		return conf, nil
	}
	root := resolveAlias(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a YAML map of configuration keys")
	}
	flattenInto(conf, "", root)
	return conf, nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func flattenInto(conf map[string]string, prefix string, n *yaml.Node) {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			flattenInto(conf, key, n.Content[i+1])
		}
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, e := range n.Content {
			parts = append(parts, inlineValue(e))
		}
		conf[prefix] = strings.Join(parts, ";")
	case yaml.ScalarNode:
		if n.Tag != "!!null" {
			conf[prefix] = n.Value
		}
	}
}

// inlineValue renders a list element: a scalar as is, a map as Flink's "k:v,k:v".
func inlineValue(n *yaml.Node) string {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		parts := []string{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			parts = append(parts, n.Content[i].Value+":"+inlineValue(n.Content[i+1]))
		}
		return strings.Join(parts, ",")
	case yaml.SequenceNode:
		parts := []string{}
		for _, e := range n.Content {
			parts = append(parts, inlineValue(e))
		}
		return strings.Join(parts, ";")
	default:
		return n.Value
	}
}

// flinkPropertiesEnv applies FLINK_PROPERTIES, which the docker entrypoint appends to the
// configuration file.
func flinkPropertiesEnv(c *corev1.Container, conf map[string]string) {
	for _, e := range c.Env {
		if e.Name == "FLINK_PROPERTIES" {
			for k, v := range ParseLegacyConfig(e.Value) {
				conf[k] = v
			}
		}
	}
}

// standaloneJobArgs is the parse of `standalone-job` arguments, the options of Flink's
// StandaloneApplicationClusterConfigurationParserFactory: parsing stops at the first argument
// that is not one of its options, and everything from there on is the program's. Flink 1.18
// has no --jars: there it is the first program argument.
type standaloneJobArgs struct {
	jobClass, jobID, jars, fromSavepoint, claimMode string
	allowNonRestored                                bool
	dynamic                                         map[string]string
	program                                         []string
}

func parseStandaloneJobArgs(args []string, flinkVersion string) (standaloneJobArgs, error) {
	jarsOption := versionAtLeast(flinkVersion, 1, 19)
	p := standaloneJobArgs{dynamic: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := a, "", false
		if strings.HasPrefix(a, "--") {
			name, val, hasVal = strings.Cut(a, "=")
		}
		value := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("standalone-job: option %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case a == "--":
			p.program = append(p.program, args[i+1:]...)
			return p, nil
		case name == "--job-classname" || name == "-j":
			p.jobClass, err = value()
		case name == "--job-id" || name == "-jid":
			p.jobID, err = value()
		case jarsOption && (name == "--jars" || name == "-jars"):
			var v string
			v, err = value()
			if p.jars != "" {
				v = p.jars + "," + v
			}
			p.jars = v
		case name == "--fromSavepoint" || name == "-s":
			p.fromSavepoint, err = value()
		case name == "--restoreMode" || name == "-rm" || name == "--claimMode" || name == "-cm":
			p.claimMode, err = value()
		case name == "--allowNonRestoredState" || name == "-n":
			p.allowNonRestored = true
		case name == "--host" || name == "-h" || name == "--webui-port" || name == "-r" || name == "--configDir" || name == "-c":
			_, err = value()
		case strings.HasPrefix(a, "-D"):
			kv := strings.TrimPrefix(a, "-D")
			if kv == "" {
				if i+1 >= len(args) {
					return p, fmt.Errorf("standalone-job: -D needs key=value")
				}
				i++
				kv = args[i]
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return p, fmt.Errorf("standalone-job: dynamic property %q is not key=value", kv)
			}
			p.dynamic[k] = v
		default:
			p.program = append(p.program, args[i:]...)
			return p, nil
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

// taskManagerDynamic reads -D properties of `taskmanager` args.
func taskManagerDynamic(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-D") {
			continue
		}
		kv := strings.TrimPrefix(args[i], "-D")
		if kv == "" && i+1 < len(args) {
			i++
			kv = args[i]
		}
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

// restoreKeys returns the configuration keys Flink of that version reads the restore path and
// the allow-non-restored flag from, in order of precedence.
func restoreKeys(version string) (path, ignore []string) {
	switch {
	case versionAtLeast(version, 2, 0):
		return []string{flinkconf.KeyStateRecoveryPath}, []string{flinkconf.KeyStateRecoveryIgnoreState}
	case versionAtLeast(version, 1, 20):
		return []string{flinkconf.KeyStateRecoveryPath, flinkconf.KeySavepointPath},
			[]string{flinkconf.KeyStateRecoveryIgnoreState, flinkconf.KeySavepointIgnoreState}
	default:
		return []string{flinkconf.KeySavepointPath}, []string{flinkconf.KeySavepointIgnoreState}
	}
}

// savepointDirKeys are the keys Flink version reads its savepoint directory from.
func savepointDirKeys(version string) []string {
	fv, err := flinkconf.ParseVersion(version)
	if err != nil {
		return flinkconf.SavepointDirKeys
	}
	return fv.SavepointDirKeys()
}

func firstOf(conf map[string]string, keys []string) string {
	for _, k := range keys {
		if v := conf[k]; v != "" {
			return v
		}
	}
	return ""
}

func positiveInt(conf map[string]string, key string, def int) (int, error) {
	v, ok := conf[key]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s: %q is not a positive integer", key, v)
	}
	return n, nil
}

func podApp(pod *corev1.Pod) (string, error) {
	app := pod.Labels[LabelAppName]
	if app == "" {
		return "", fmt.Errorf("pod %s/%s has no %s label", pod.Namespace, pod.Name, LabelAppName)
	}
	return app, nil
}

// BuildJobManagerLaunch translates a standalone-job pod the way Flink's entrypoint and
// StandaloneApplicationClusterEntryPoint would. fileConf is the configuration read from the
// mounted configuration file (see SelectConfigFile).
func BuildJobManagerLaunch(pod *corev1.Pod, fileConf map[string]string) (JobManagerLaunch, error) {
	c := FlinkContainer(pod)
	if c == nil {
		return JobManagerLaunch{}, fmt.Errorf("pod %s/%s has no %s container", pod.Namespace, pod.Name, FlinkContainerName)
	}
	args := entrypointArgs(c)
	if len(args) == 0 || Role(args[0]) != RoleJobManager {
		return JobManagerLaunch{}, fmt.Errorf("container %s does not run standalone-job (args %q)", c.Name, args)
	}
	app, err := podApp(pod)
	if err != nil {
		return JobManagerLaunch{}, err
	}
	version := FlinkVersionOf(c)
	p, err := parseStandaloneJobArgs(args[1:], version)
	if err != nil {
		return JobManagerLaunch{}, err
	}
	conf := map[string]string{}
	for k, v := range fileConf {
		conf[k] = v
	}
	flinkPropertiesEnv(c, conf)
	for k, v := range p.dynamic {
		conf[k] = v
	}
	pathKeys, ignoreKeys := restoreKeys(version)
	if p.fromSavepoint != "" {
		conf[pathKeys[0]] = p.fromSavepoint
		for _, k := range pathKeys[1:] {
			delete(conf, k)
		}
	}
	if p.allowNonRestored {
		conf[ignoreKeys[0]] = "true"
		for _, k := range ignoreKeys[1:] {
			delete(conf, k)
		}
	}
	if p.claimMode != "" {
		if versionAtLeast(version, 1, 20) {
			conf[flinkconf.KeyClaimMode] = p.claimMode
		} else {
			conf[flinkconf.KeyRestoreModeV1] = p.claimMode
		}
	}
	if p.jobID != "" {
		conf["$internal.pipeline.job-id"] = p.jobID
	}
	jm := JobManagerLaunch{
		App:          app,
		Namespace:    pod.Namespace,
		RestHost:     RestHost(app, pod.Namespace),
		FlinkVersion: version,
		JobID:        conf["$internal.pipeline.job-id"],
		EntryClass:   p.jobClass,
		JarURI:       p.jars,
		Args:         p.program,
		Config:       conf,
		RestorePath:  firstOf(conf, pathKeys),
		SavepointDir: firstOf(conf, savepointDirKeys(version)),
		JobName:      conf["pipeline.name"],
	}
	if jm.JobName == "" {
		jm.JobName = app
	}
	for _, k := range ignoreKeys {
		if v, ok := conf[k]; ok {
			jm.AllowNonRestoredState = strings.EqualFold(strings.TrimSpace(v), "true")
			break
		}
	}
	if jm.JobID == "" {
		jm.JobID = randomJobID()
	} else if !jobIDRE.MatchString(jm.JobID) {
		return jm, fmt.Errorf("job id %q is not 32 hex characters", jm.JobID)
	}
	if jm.EntryClass == "" {
		return jm, fmt.Errorf("standalone-job without --job-classname (args %q)", args)
	}
	if jm.Parallelism, err = positiveInt(conf, "parallelism.default", 1); err != nil {
		return jm, err
	}
	return jm, nil
}

var jobIDRE = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

func randomJobID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// BuildTaskManagerLaunch translates a taskmanager pod.
func BuildTaskManagerLaunch(pod *corev1.Pod, fileConf map[string]string) (TaskManagerLaunch, error) {
	c := FlinkContainer(pod)
	if c == nil {
		return TaskManagerLaunch{}, fmt.Errorf("pod %s/%s has no %s container", pod.Namespace, pod.Name, FlinkContainerName)
	}
	args := entrypointArgs(c)
	if len(args) == 0 || Role(args[0]) != RoleTaskManager {
		return TaskManagerLaunch{}, fmt.Errorf("container %s does not run taskmanager (args %q)", c.Name, args)
	}
	app, err := podApp(pod)
	if err != nil {
		return TaskManagerLaunch{}, err
	}
	conf := map[string]string{}
	for k, v := range fileConf {
		conf[k] = v
	}
	flinkPropertiesEnv(c, conf)
	for k, v := range taskManagerDynamic(args[1:]) {
		conf[k] = v
	}
	tm := TaskManagerLaunch{
		App:          app,
		Namespace:    pod.Namespace,
		RestHost:     RestHost(app, pod.Namespace),
		FlinkVersion: FlinkVersionOf(c),
		Config:       conf,
	}
	if tm.Slots, err = positiveInt(conf, flinkconf.KeyTaskSlots, 1); err != nil {
		return tm, err
	}
	return tm, nil
}
