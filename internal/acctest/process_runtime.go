package acctest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
)

// ProcessRuntime runs Flink pods as local JVMs of a real Flink distribution (fetched by
// tools/flink.sh): a standalone-job JobManager pod becomes a JVM running Flink's
// StandaloneApplicationClusterEntryPoint (what standalone-job.sh starts), a taskmanager pod a
// JVM running TaskManagerRunner (what taskmanager.sh starts). Like Flink's scripts, it first
// runs BashJavaUtils to turn the memory configuration into JVM flags and dynamic properties.
//
// Each pod gets a directory <Dir>/flink/<namespace>/<pod>/ with its configuration (conf/
// config.yaml, flink-conf.yaml on Flink 1.18: the pod's ConfigMap configuration, with the
// overrides below), its temporary files and <role>.log (the JVM's stdout/stderr and log4j console output) and <role>.cmd (the
// command line).
//
// What the container network would make unnecessary is overridden, everything on 127.0.0.1:
// the JobManager's rest.port, jobmanager.rpc.port and blob.server.port are free loopback ports
// chosen once per application (REST host) and kept across JobManager restarts, so TaskManagers
// reconnect; TaskManagers use jobmanager.rpc.address/port of their application's JobManager,
// taskmanager.rpc.port and taskmanager.data.port 0 (the OS picks a free port, no race) and
// taskmanager.resource-id = the pod name. Memory is sized for a small machine, not the pod:
// jobmanager.memory.process.size and taskmanager.memory.process.size (and the TaskManager's
// managed memory) replace whatever the configuration says. Unless the configuration sets them,
// metrics.fetcher.update-interval (Flink: 10s) and cluster.registration.error-delay (Flink:
// 10s; how long a TaskManager that started before its JobManager waits to retry) are 1s, so
// tests do not wait for them.
//
// Kubernetes HA runs as in a cluster: the JVM reaches the stack's API server with the pod's
// service-account token (the agent's mount, NodeAgent.podEnvironment) through fabric8's
// settings KUBERNETES_SERVICE_HOST/PORT, KUBERNETES_AUTH_SERVICEACCOUNT_TOKEN and
// KUBERNETES_CERTS_CA_FILE, and never through a kubeconfig. A second HA JobManager of an
// application (a standby, or a replacement while the old pod still stops) gets ports of its
// own. KillPod kills a pod's process as a failed node would.
//
// Arguments: the pod's standalone-job / taskmanager arguments reach Flink as in a container
// (Flink parses them itself: argument order matters as it does there), except that job jar
// URIs are replaced: --jars local:///opt/flink/usrlib/<name>.jar (any local: or file: path that
// does not exist on this machine) maps to ProcessRuntimeOptions.Jars[<uri or name>], else to
// the fixture job's jar for the pod's Flink version; an existing local path is used as is.
// Like the image, every TaskManager pod, and a JobManager pod without --jars (Flink 1.18 has
// none), gets a Flink home whose usrlib/ holds the fixture jar.
//
// Status: StartJobManager returns (and the agent reports the pod Running and Ready) only once
// the JobManager's REST API answers; StartTaskManager once the TaskManager is registered with
// its application's JobManager (when that JobManager runs) or alive for a moment (when not).
// A JVM that exits on its own afterwards is reported through PodExitNotifier: the agent restarts
// it in the same pod, as a kubelet restarts a container (agent_exit.go). StopPod sends SIGTERM
// to the process group, SIGKILL after StopGrace.
//
// It is the Router for the proxy: <app>-rest.<ns>.svc goes to the ready JobManager's REST port.
type ProcessRuntime struct {
	opts  ProcessRuntimeOptions
	dists map[string]*flinkDist // "major.minor" → distribution

	mu       sync.Mutex
	dir      string
	log      *log.Logger
	logFile  *os.File
	apps     map[string]*appPorts     // REST host → ports kept across JobManager restarts
	procs    map[types.UID]*flinkProc // every pod started and not stopped
	routes   map[string]*flinkProc    // REST host → its ready JobManager
	onExit   func(pod *corev1.Pod, exitCode int, message string)
	stats    []ProcessStart
	closed   bool
	stackDir string
}

// ProcessRuntimeOptions configures NewProcessRuntime. Zero values take the defaults.
type ProcessRuntimeOptions struct {
	// FlinkVersions are the fetched Flink versions pods may run (at most one per major.minor).
	// Default RealFlinkVersions: FLINK_VERSION, else every fetched version.
	FlinkVersions []string
	// CacheDir is the tool cache. Default ToolsCacheDir().
	CacheDir string
	// Dir holds the pod directories and process-runtime.log. Default: the stack's directory
	// (StartStack), else a new temporary directory.
	Dir string
	// Jars maps a job jar URI (or its file name) to a local jar. Unmapped local jars that do
	// not exist here run the fixture job.
	Jars map[string]string
	// Java is the java binary. Default $JAVA_HOME/bin/java, else java on PATH.
	Java string
	// JobManagerMemory is jobmanager.memory.process.size. Default "1g" (a 448m heap).
	JobManagerMemory string
	// TaskManagerMemory is taskmanager.memory.process.size. Default "1g".
	TaskManagerMemory string
	// TaskManagerManagedMemory is taskmanager.memory.managed.size. Default "64m".
	TaskManagerManagedMemory string
	// JVMOptions are added to every Flink JVM. Default: serial GC and the C1 compiler only
	// (quick start, little CPU: the machine has 2 cores and the fixture job is tiny).
	JVMOptions []string
	// StartTimeout bounds the wait for a JobManager's REST API and a TaskManager's
	// registration. Default 2 minutes.
	StartTimeout time.Duration
	// StopGrace is how long StopPod waits after SIGTERM before SIGKILL. Default 15s.
	StopGrace time.Duration
}

// ProcessStart records how long one Flink process took to become ready.
type ProcessStart struct {
	Pod          string // namespace/name
	Role         Role
	FlinkVersion string
	// Params is how long BashJavaUtils took; Ready how long from the start of the JVM until
	// the pod was ready (JobManager: REST answers; TaskManager: registered or alive).
	Params, Ready time.Duration
	Registered    bool // TaskManager: registration with the JobManager was seen
}

type flinkDist struct {
	version    string
	home       string
	classpath  string   // lib/*.jar, flink-dist last (as constructFlinkClassPath)
	utilsCP    string   // bin/bash-java-utils.jar + flink-dist (as runBashJavaUtilsCmd)
	javaOpts   []string // env.java.opts.all + env.java.default-opts.all of conf/config.yaml
	fixtureJar string
}

type appPorts struct{ rpc, rest, blob int }

type flinkProc struct {
	pod      *corev1.Pod
	key      string
	role     Role
	host     string
	dir      string
	logPath  string
	cmd      *exec.Cmd
	done     chan struct{}
	exitCode int
	stopping atomic.Bool
	ready    bool // Start* returned nil: from here its exit is reported (guarded by ProcessRuntime.mu)
	restPort int
	handler  http.Handler
	// serviceAccountDir is the pod's token mount ("" none), for Flink's Kubernetes client.
	serviceAccountDir string
}

// NewProcessRuntime checks the Flink distributions and builds the fixture job for each
// version (once; see FixtureJar).
func NewProcessRuntime(opts ProcessRuntimeOptions) (*ProcessRuntime, error) {
	if opts.CacheDir == "" {
		opts.CacheDir = ToolsCacheDir()
	}
	if len(opts.FlinkVersions) == 0 {
		vs, err := RealFlinkVersions(opts.CacheDir)
		if err != nil {
			return nil, err
		}
		opts.FlinkVersions = vs
	}
	if opts.Java == "" {
		opts.Java = "java"
		if jh := os.Getenv("JAVA_HOME"); jh != "" && fileExists(filepath.Join(jh, "bin", "java")) {
			opts.Java = filepath.Join(jh, "bin", "java")
		}
	}
	if _, err := exec.LookPath(opts.Java); err != nil {
		return nil, fmt.Errorf("acctest: process runtime: no java (%s): %w", opts.Java, err)
	}
	if opts.JobManagerMemory == "" {
		opts.JobManagerMemory = "1g"
	}
	if opts.TaskManagerMemory == "" {
		opts.TaskManagerMemory = "1g"
	}
	if opts.TaskManagerManagedMemory == "" {
		opts.TaskManagerManagedMemory = "64m"
	}
	if opts.JVMOptions == nil {
		opts.JVMOptions = []string{"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"}
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 15 * time.Second
	}
	r := &ProcessRuntime{
		opts:   opts,
		dists:  map[string]*flinkDist{},
		apps:   map[string]*appPorts{},
		procs:  map[types.UID]*flinkProc{},
		routes: map[string]*flinkProc{},
	}
	for _, v := range opts.FlinkVersions {
		d, err := loadFlinkDist(opts.CacheDir, v)
		if err != nil {
			return nil, err
		}
		mm := majorMinor(v)
		if other, ok := r.dists[mm]; ok {
			return nil, fmt.Errorf("acctest: process runtime: Flink %s and %s are both %s: pick one (FLINK_VERSION)", other.version, v, mm)
		}
		if d.fixtureJar, err = FixtureJar(opts.CacheDir, v, os.Stderr); err != nil {
			return nil, err
		}
		r.dists[mm] = d
	}
	return r, nil
}

func loadFlinkDist(cacheDir, version string) (*flinkDist, error) {
	home := FlinkDistHome(cacheDir, version)
	dist := filepath.Join(home, "lib", "flink-dist-"+version+".jar")
	utils := filepath.Join(home, "bin", "bash-java-utils.jar")
	for _, f := range []string{dist, utils} {
		if !fileExists(f) {
			return nil, fmt.Errorf("acctest: Flink %s: %s is missing: run make tools (tools/flink.sh)", version, f)
		}
	}
	jars, err := filepath.Glob(filepath.Join(home, "lib", "*.jar"))
	if err != nil {
		return nil, err
	}
	sort.Strings(jars)
	var cp []string
	for _, j := range jars {
		if j != dist {
			cp = append(cp, j)
		}
	}
	cp = append(cp, dist)
	d := &flinkDist{
		version:   version,
		home:      home,
		classpath: strings.Join(cp, string(os.PathListSeparator)),
		utilsCP:   utils + string(os.PathListSeparator) + dist,
	}
	// The distribution's default configuration carries the JVM options Java 17 needs
	// (--add-opens …); an image whose configuration is replaced by a ConfigMap loses them, but
	// these processes get them always.
	conf, err := readDistConfig(home, version)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"env.java.default-opts.all", "env.java.opts.all"} {
		d.javaOpts = append(d.javaOpts, strings.Fields(conf[k])...)
	}
	return d, nil
}

// configFileOf is the configuration file Flink version reads: flink-conf.yaml before 1.19,
// config.yaml since.
func configFileOf(version string) (string, error) {
	fv, err := flinkconf.ParseVersion(majorMinor(version))
	if err != nil {
		return "", err
	}
	return fv.ConfigFileName(), nil
}

// readDistConfig reads the distribution's default configuration, conf/config.yaml or (Flink
// 1.18) conf/flink-conf.yaml, which tools/flink.sh took from flink-dist's jar.
func readDistConfig(home, version string) (map[string]string, error) {
	name, err := configFileOf(version)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(home, "conf", name))
	if err != nil {
		return nil, fmt.Errorf("acctest: Flink %s: the default configuration: %w: run make tools (tools/flink.sh)", version, err)
	}
	if name == flinkconf.ConfigFileLegacy {
		return ParseLegacyConfig(string(b)), nil
	}
	return ParseConfigYAML(string(b))
}

func majorMinor(v string) string {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return v
	}
	return m[1] + "." + m[2]
}

// FlinkVersions are the Flink versions the runtime runs.
func (r *ProcessRuntime) FlinkVersions() []string {
	var out []string
	for _, d := range r.dists {
		out = append(out, d.version)
	}
	sort.Slice(out, func(i, j int) bool { return versionLess(out[i], out[j]) })
	return out
}

// Starts lists how long each process took to become ready, in start order.
func (r *ProcessRuntime) Starts() []ProcessStart {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ProcessStart(nil), r.stats...)
}

// SetPodExitHandler implements PodExitNotifier.
func (r *ProcessRuntime) SetPodExitHandler(f func(pod *corev1.Pod, exitCode int, message string)) {
	r.mu.Lock()
	r.onExit = f
	r.mu.Unlock()
}

// useStackDir is called by StartStack with the stack's directory.
func (r *ProcessRuntime) useStackDir(dir string) {
	r.mu.Lock()
	r.stackDir = dir
	r.mu.Unlock()
}

// Dir is where the runtime keeps pod directories and its log.
func (r *ProcessRuntime) Dir() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dirLocked()
}

func (r *ProcessRuntime) dirLocked() string {
	if r.dir != "" {
		return r.dir
	}
	switch {
	case r.opts.Dir != "":
		r.dir = r.opts.Dir
	case r.stackDir != "":
		r.dir = r.stackDir
	default:
		d, err := os.MkdirTemp("", "flink-process-runtime-")
		if err != nil {
			d = filepath.Join(os.TempDir(), "flink-process-runtime")
		}
		r.dir = d
	}
	_ = os.MkdirAll(r.dir, 0o755)
	w := io.Discard
	if f, err := os.OpenFile(filepath.Join(r.dir, "process-runtime.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		r.logFile, w = f, f
	}
	r.log = log.New(w, "flink: ", log.Ltime|log.Lmicroseconds)
	return r.dir
}

func (r *ProcessRuntime) logf(format string, args ...any) {
	r.mu.Lock()
	r.dirLocked()
	l := r.log
	r.mu.Unlock()
	l.Printf(format, args...)
}

func (r *ProcessRuntime) distFor(version string) (*flinkDist, error) {
	if d, ok := r.dists[majorMinor(version)]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("the test node runs Flink %s (FLINK_VERSION), not Flink %s", strings.Join(r.FlinkVersions(), ", "), version)
}

// portsFor returns the application's ports, choosing them the first time.
func (r *ProcessRuntime) portsFor(host string) (*appPorts, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.apps[host]; ok {
		return p, nil
	}
	ports, err := freeLoopbackPorts(3)
	if err != nil {
		return nil, err
	}
	p := &appPorts{rpc: ports[0], rest: ports[1], blob: ports[2]}
	r.apps[host] = p
	return p, nil
}

// freeLoopbackPorts returns n distinct ports free on 127.0.0.1 (all held open while choosing).
func freeLoopbackPorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close() // held only to pick distinct free ports
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// resolveJars maps the --jars value (comma-separated URIs) to local:// URIs of local jars.
func (r *ProcessRuntime) resolveJars(jars string, d *flinkDist) (string, error) {
	if strings.TrimSpace(jars) == "" {
		// The image's usrlib would hold the job: run the fixture.
		return "local://" + d.fixtureJar, nil
	}
	var out []string
	for _, uri := range strings.Split(jars, ",") {
		uri = strings.TrimSpace(uri)
		if uri == "" {
			continue
		}
		local, err := r.resolveJar(uri, d)
		if err != nil {
			return "", err
		}
		out = append(out, "local://"+local)
	}
	return strings.Join(out, ","), nil
}

func (r *ProcessRuntime) resolveJar(uri string, d *flinkDist) (string, error) {
	if p, ok := r.opts.Jars[uri]; ok {
		return p, nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("job jar %q: %w", uri, err)
	}
	if p, ok := r.opts.Jars[path.Base(u.Path)]; ok {
		return p, nil
	}
	switch u.Scheme {
	case "", "local", "file":
		if fileExists(u.Path) && !strings.HasPrefix(u.Path, "/opt/flink/") {
			return u.Path, nil
		}
		return d.fixtureJar, nil
	default:
		return "", fmt.Errorf("job jar %q: the test node runs only local jars (local:///opt/flink/usrlib/… runs the fixture job)", uri)
	}
}

// StartJobManager implements Runtime: it starts the JobManager JVM and returns once its REST
// API answers.
func (r *ProcessRuntime) StartJobManager(ctx context.Context, pod *corev1.Pod, jm JobManagerLaunch) error {
	d, err := r.distFor(jm.FlinkVersion)
	if err != nil {
		return err
	}
	ha, err := haMode(jm.Config)
	if err != nil {
		return err
	}
	args, jars, err := r.jobManagerArgs(pod, jm, d)
	if err != nil {
		return err
	}
	ports, err := r.portsFor(jm.RestHost)
	if err != nil {
		return err
	}
	if ha && r.otherJobManagerRuns(jm.RestHost, pod.UID) {
		// A standby, or a replacement while the old pod still stops: with HA its TaskManagers
		// find the leader through the HA ConfigMaps, not by port, so it gets ports of its own.
		fresh, err := freeLoopbackPorts(3)
		if err != nil {
			return err
		}
		ports = &appPorts{rpc: fresh[0], rest: fresh[1], blob: fresh[2]}
	}
	p, err := r.newProc(pod, RoleJobManager, jm.RestHost)
	if err != nil {
		return err
	}
	p.serviceAccountDir = jm.ServiceAccountDir
	conf := copyConf(jm.Config)
	for _, k := range []string{"rest.bind-port", "jobmanager.rpc.bind-port"} {
		delete(conf, k)
	}
	replacePrefix(conf, "jobmanager.memory.", map[string]string{"jobmanager.memory.process.size": r.opts.JobManagerMemory})
	for k, v := range map[string]string{
		"jobmanager.rpc.address":  "127.0.0.1",
		"jobmanager.rpc.port":     strconv.Itoa(ports.rpc),
		"jobmanager.bind-host":    "127.0.0.1",
		"rest.address":            "127.0.0.1",
		"rest.bind-address":       "127.0.0.1",
		"rest.port":               strconv.Itoa(ports.rest),
		"blob.server.port":        strconv.Itoa(ports.blob),
		"io.tmp.dirs":             filepath.Join(p.dir, "tmp"),
		"web.tmpdir":              filepath.Join(p.dir, "tmp"),
		"user.artifacts.base-dir": filepath.Join(p.dir, "artifacts"),
	} {
		conf[k] = v
	}
	setDefaults(conf, map[string]string{
		"metrics.fetcher.update-interval":  "1000",
		"cluster.registration.error-delay": "1000",
	})
	if jm.JarURI == "" {
		// No --jars: Flink runs what the image has in $FLINK_HOME/usrlib (found through
		// FLINK_LIB_DIR's parent): give the pod a home whose usrlib holds the fixture job.
		if err := r.usrlibHome(p, d); err != nil {
			r.forget(p)
			return err
		}
		jars = "usrlib/" + filepath.Base(d.fixtureJar)
	}
	t0 := time.Now()
	if err := r.launch(ctx, p, d, conf, "GET_JM_RESOURCE_PARAMS", "org.apache.flink.container.entrypoint.StandaloneApplicationClusterEntryPoint",
		args, javaOptsOf(conf, "jobmanager")); err != nil {
		r.forget(p)
		return err
	}
	params := time.Since(t0)
	t1 := time.Now()
	p.restPort = ports.rest
	if err := r.waitREST(ctx, p); err != nil {
		p.stop(r.opts.StopGrace)
		r.forget(p)
		return err
	}
	target := &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.rest))}
	p.handler = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		// Never through HTTP_PROXY: that is the harness proxy itself.
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, fmt.Sprintf("acctest: JobManager %s (%s): %v", p.key, target.Host, err), http.StatusBadGateway)
		},
	}
	if err := r.markReady(p); err != nil {
		return err
	}
	r.mu.Lock()
	if _, alive := r.procs[pod.UID]; alive {
		r.routes[jm.RestHost] = p
	}
	r.stats = append(r.stats, ProcessStart{Pod: p.key, Role: RoleJobManager, FlinkVersion: d.version, Params: params, Ready: time.Since(t1)})
	r.mu.Unlock()
	r.logf("%s: JobManager (Flink %s) ready in %s (BashJavaUtils %s): REST 127.0.0.1:%d, RPC %d, blob %d, job %s class %s jars %s restore %q",
		p.key, d.version, since(t1), params.Round(10*time.Millisecond), ports.rest, ports.rpc, ports.blob, jm.JobID, jm.EntryClass, jars, jm.RestorePath)
	return nil
}

// StartTaskManager implements Runtime: it starts the TaskManager JVM and returns once it has
// registered with its JobManager (or, when no JobManager runs, once it stayed alive a moment).
func (r *ProcessRuntime) StartTaskManager(ctx context.Context, pod *corev1.Pod, tm TaskManagerLaunch) error {
	d, err := r.distFor(tm.FlinkVersion)
	if err != nil {
		return err
	}
	if _, err := haMode(tm.Config); err != nil {
		return err
	}
	ports, err := r.portsFor(tm.RestHost)
	if err != nil {
		return err
	}
	p, err := r.newProc(pod, RoleTaskManager, tm.RestHost)
	if err != nil {
		return err
	}
	p.serviceAccountDir = tm.ServiceAccountDir
	// The image has the job in usrlib in every pod: a job the JobManager runs from its usrlib
	// (no --jars, as on Flink 1.18) names its jar relative to the working directory, where the
	// TaskManager looks for it too.
	if err := r.usrlibHome(p, d); err != nil {
		r.forget(p)
		return err
	}
	conf := copyConf(tm.Config)
	replacePrefix(conf, "taskmanager.memory.", map[string]string{
		"taskmanager.memory.process.size": r.opts.TaskManagerMemory,
		"taskmanager.memory.managed.size": r.opts.TaskManagerManagedMemory,
	})
	for k, v := range map[string]string{
		"jobmanager.rpc.address":        "127.0.0.1",
		"jobmanager.rpc.port":           strconv.Itoa(ports.rpc),
		"taskmanager.host":              "127.0.0.1",
		"taskmanager.bind-host":         "127.0.0.1",
		"taskmanager.rpc.port":          "0",
		"taskmanager.data.port":         "0",
		"taskmanager.resource-id":       pod.Name,
		"io.tmp.dirs":                   filepath.Join(p.dir, "tmp"),
		"user.artifacts.base-dir":       filepath.Join(p.dir, "artifacts"),
		"taskmanager.numberOfTaskSlots": strconv.Itoa(tm.Slots),
	} {
		conf[k] = v
	}
	t0 := time.Now()
	// A TaskManager that starts before its JobManager retries after the error delay (Flink:
	// 10s); a second here.
	setDefaults(conf, map[string]string{"cluster.registration.error-delay": "1000"})
	var args []string
	if c := FlinkContainer(pod); c != nil {
		if all := entrypointArgs(c); len(all) > 0 {
			args = all[1:]
		}
	}
	if err := r.launch(ctx, p, d, conf, "GET_TM_RESOURCE_PARAMS", "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
		args, javaOptsOf(conf, "taskmanager")); err != nil {
		r.forget(p)
		return err
	}
	params := time.Since(t0)
	t1 := time.Now()
	registered, err := r.waitTaskManager(ctx, p)
	if err != nil {
		p.stop(r.opts.StopGrace)
		r.forget(p)
		return err
	}
	if err := r.markReady(p); err != nil {
		return err
	}
	r.mu.Lock()
	r.stats = append(r.stats, ProcessStart{Pod: p.key, Role: RoleTaskManager, FlinkVersion: d.version, Params: params, Ready: time.Since(t1), Registered: registered})
	r.mu.Unlock()
	r.logf("%s: TaskManager (Flink %s) ready in %s (BashJavaUtils %s), registered with %s: %v", p.key, d.version, since(t1),
		params.Round(10*time.Millisecond), tm.RestHost, registered)
	return nil
}

// KillPod implements PodKiller: SIGKILL to the pod's process group, as a failed node or the
// OOM killer would. The process's exit is reported like any other (PodExitNotifier).
func (r *ProcessRuntime) KillPod(pod *corev1.Pod) error {
	r.mu.Lock()
	p, ok := r.procs[pod.UID]
	r.mu.Unlock()
	if !ok || p.cmd == nil || p.exited() {
		return fmt.Errorf("pod %s/%s runs no process", pod.Namespace, pod.Name)
	}
	r.logf("%s: killing (SIGKILL)", p.key)
	signalGroup(p.cmd.Process, true)
	return nil
}

// otherJobManagerRuns reports whether a JobManager process of another pod runs for host.
func (r *ProcessRuntime) otherJobManagerRuns(host string, uid types.UID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, p := range r.procs {
		if id != uid && p.role == RoleJobManager && p.host == host && !p.exited() {
			return true
		}
	}
	return false
}

// haMode reports whether the configuration turns on Kubernetes HA; other HA services (which
// need ZooKeeper) cannot run on the test node.
func haMode(conf map[string]string) (bool, error) {
	switch ha := strings.TrimSpace(firstOf(conf, []string{"high-availability.type", "high-availability"})); strings.ToLower(ha) {
	case "", "none":
		return false, nil
	case "kubernetes", "org.apache.flink.kubernetes.highavailability.kuberneteshaservicesfactory":
		return true, nil
	default:
		return false, fmt.Errorf("high-availability %q is not supported by the test node's process runtime (Kubernetes HA is)", ha)
	}
}

// StopPod implements Runtime: SIGTERM to the pod's process group, SIGKILL after StopGrace.
func (r *ProcessRuntime) StopPod(pod *corev1.Pod) {
	r.mu.Lock()
	p, ok := r.procs[pod.UID]
	r.mu.Unlock()
	if !ok {
		return
	}
	t0 := time.Now()
	p.stopping.Store(true)
	r.unroute(p)
	r.mu.Lock()
	started := p.cmd != nil
	r.mu.Unlock()
	killed := false
	if started {
		killed = p.stop(r.opts.StopGrace)
	}
	r.forget(p)
	r.logf("%s: stopped in %s (exit code %d, killed %v)", p.key, since(t0), p.exitCode, killed)
}

// Close stops every process still running.
func (r *ProcessRuntime) Close() error {
	r.mu.Lock()
	r.closed = true
	var ps []*flinkProc
	for _, p := range r.procs {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.StopPod(p.pod)
		}()
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	if r.logFile != nil {
		err = r.logFile.Close()
		r.logFile = nil
		r.log = log.New(io.Discard, "", 0)
	}
	return err
}

// Route implements Router.
func (r *ProcessRuntime) Route(host string) (http.Handler, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.routes[host]
	if !ok {
		return nil, false
	}
	return p.handler, true
}

// RESTAddress is the loopback address of the ready JobManager serving host, "" when none.
func (r *ProcessRuntime) RESTAddress(host string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.routes[host]; ok {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.restPort))
	}
	return ""
}

// PID is the process id of the pod's running JVM, 0 when none runs.
func (r *ProcessRuntime) PID(pod *corev1.Pod) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.procs[pod.UID]
	if !ok || p.cmd == nil || p.exited() {
		return 0
	}
	return p.cmd.Process.Pid
}

// PodDir is the directory the runtime keeps a pod's configuration and logs in.
func (r *ProcessRuntime) PodDir(pod *corev1.Pod) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return filepath.Join(r.dirLocked(), "flink", pod.Namespace, pod.Name)
}

// DumpLogs writes the last lines of the runtime log and of every Flink process log to w.
func (r *ProcessRuntime) DumpLogs(w io.Writer, lines int) {
	dir := r.Dir()
	logs, _ := filepath.Glob(filepath.Join(dir, "flink", "*", "*", "*.log"))
	sort.Strings(logs)
	for _, l := range append([]string{filepath.Join(dir, "process-runtime.log")}, logs...) {
		if fileExists(l) {
			fmt.Fprintf(w, "--- %s (last %d lines) ---\n%s", l, lines, tailFile(l, lines))
		}
	}
}

func (r *ProcessRuntime) newProc(pod *corev1.Pod, role Role, host string) (*flinkProc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("the process runtime is closed")
	}
	if old, ok := r.procs[pod.UID]; ok && !old.exited() {
		return nil, fmt.Errorf("pod %s is already running", old.key)
	}
	dir := filepath.Join(r.dirLocked(), "flink", pod.Namespace, pod.Name)
	for _, sub := range []string{"conf", "tmp", "artifacts"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	name := "jobmanager"
	if role == RoleTaskManager {
		name = "taskmanager"
	}
	p := &flinkProc{
		pod:     pod.DeepCopy(),
		key:     pod.Namespace + "/" + pod.Name,
		role:    role,
		host:    host,
		dir:     dir,
		logPath: filepath.Join(dir, name+".log"),
		done:    make(chan struct{}),
	}
	r.procs[pod.UID] = p
	return p, nil
}

func (r *ProcessRuntime) forget(p *flinkProc) {
	r.mu.Lock()
	if r.procs[p.pod.UID] == p {
		delete(r.procs, p.pod.UID)
	}
	if r.routes[p.host] == p {
		delete(r.routes, p.host)
	}
	r.mu.Unlock()
}

func (r *ProcessRuntime) unroute(p *flinkProc) {
	r.mu.Lock()
	if r.routes[p.host] == p {
		delete(r.routes, p.host)
	}
	r.mu.Unlock()
}

// launch writes the configuration, runs BashJavaUtils for the JVM flags and dynamic
// properties, and starts the JVM (as Flink's start scripts would).
func (r *ProcessRuntime) launch(ctx context.Context, p *flinkProc, d *flinkDist, conf map[string]string, utilsCmd, class string,
	args []string, podJavaOpts []string,
) error {
	confDir := filepath.Join(p.dir, "conf")
	if err := writeFlinkConfig(confDir, d.version, conf); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(confDir, "log4j-console.properties"), []byte(processLog4j), 0o644); err != nil {
		return err
	}
	env := r.processEnv(p, d, confDir)
	jvmParams, dynamic, err := r.resourceParams(ctx, d, confDir, utilsCmd, env)
	if err != nil {
		return err
	}
	log4j := "file:" + filepath.Join(confDir, "log4j-console.properties")
	argv := []string{}
	argv = append(argv, jvmParams...)
	argv = append(argv, r.opts.JVMOptions...)
	argv = append(argv, d.javaOpts...)
	argv = append(argv, podJavaOpts...)
	argv = append(argv,
		"-Dlog.file="+p.logPath,
		"-Dlog4j.configuration="+log4j,
		"-Dlog4j.configurationFile="+log4j,
		"-Dlogback.configurationFile=file:"+filepath.Join(confDir, "logback-console.xml"),
		"-Djava.io.tmpdir="+filepath.Join(p.dir, "tmp"),
		"-classpath", d.classpath,
		class)
	if p.role == RoleTaskManager {
		// taskmanager.sh: <args> --configDir <conf> <dynamic properties>
		argv = append(argv, args...)
		argv = append(argv, "--configDir", confDir)
		argv = append(argv, dynamic...)
	} else {
		// standalone-job.sh: <dynamic properties> --configDir <conf> <args>
		argv = append(argv, dynamic...)
		argv = append(argv, "--configDir", confDir)
		argv = append(argv, args...)
	}

	if p.stopping.Load() || ctx.Err() != nil {
		return fmt.Errorf("%s: stopped before its JVM started", p.key)
	}
	_ = os.WriteFile(strings.TrimSuffix(p.logPath, ".log")+".cmd", []byte(shellQuote(append([]string{r.opts.Java}, argv...))+"\n"), 0o644)
	lf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.opts.Java, argv...)
	cmd.Dir = p.dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = flinkProcAttr()
	if err := cmd.Start(); err != nil {
		_ = lf.Close() // the start error is the one to report
		return fmt.Errorf("start %s: %w", class, err)
	}
	r.mu.Lock()
	p.cmd = cmd
	r.mu.Unlock()
	go func() {
		err := cmd.Wait()
		_ = lf.Close() // the process's own exit is what callers wait for
		p.exitCode = exitCodeOf(err)
		close(p.done)
		if p.stopping.Load() {
			return
		}
		r.unroute(p)
		r.mu.Lock()
		notify := r.onExit
		// An exit before Start* returned is that call's error, not an exit to report.
		started := r.procs[p.pod.UID] == p && p.ready
		r.mu.Unlock()
		r.logf("%s: process exited on its own with code %d", p.key, p.exitCode)
		if started && notify != nil {
			notify(p.pod, p.exitCode, fmt.Sprintf("%s process exited with code %d (log %s): %s",
				p.roleName(), p.exitCode, p.logPath, failureSummary(p.logPath)))
		}
	}()
	return nil
}

// markReady ends a successful Start*: from now on the process's exit is reported to the
// exit handler. A process that exited already fails the start instead.
func (r *ProcessRuntime) markReady(p *flinkProc) error {
	r.mu.Lock()
	exited := p.exited()
	p.ready = !exited
	r.mu.Unlock()
	if exited {
		r.forget(p)
		return p.exitError("")
	}
	return nil
}

// processExit is a Start* error for a process that exited before it was ready.
type processExit struct {
	code int
	msg  string
}

func (e *processExit) Error() string { return e.msg }
func (e *processExit) ExitCode() int { return e.code }

// exitError describes the exit of p (which must have exited), with the last lines of its log.
func (p *flinkProc) exitError(when string) error {
	return &processExit{code: p.exitCode, msg: fmt.Sprintf("%s process exited with code %d%s; last lines of %s:\n%s",
		p.roleName(), p.exitCode, when, p.logPath, lastLines(tailFile(p.logPath, 12), 12))}
}

// libDir is FLINK_LIB_DIR: the distribution's lib/, or the pod's home/lib when usrlibHome
// made one.
func (p *flinkProc) libDir(d *flinkDist) string {
	if l := filepath.Join(p.dir, "home", "lib"); fileExists(filepath.Join(l, "flink-dist-"+d.version+".jar")) {
		return l
	}
	return filepath.Join(d.home, "lib")
}

// usrlibHome makes <pod>/home with lib → the distribution's lib/ and usrlib/ holding the
// fixture jar, as an image with the job in /opt/flink/usrlib.
func (r *ProcessRuntime) usrlibHome(p *flinkProc, d *flinkDist) error {
	home := filepath.Join(p.dir, "home")
	if err := os.MkdirAll(filepath.Join(home, "usrlib"), 0o755); err != nil {
		return err
	}
	link := func(target, name string) error {
		_ = os.Remove(name)
		return os.Symlink(target, name)
	}
	if err := link(filepath.Join(d.home, "lib"), filepath.Join(home, "lib")); err != nil {
		return err
	}
	return link(d.fixtureJar, filepath.Join(home, "usrlib", filepath.Base(d.fixtureJar)))
}

// jobManagerArgs are the pod's standalone-job arguments as Flink's entrypoint receives them
// (Flink parses them itself, so the pod's argument order matters as it does in a real
// container), with every job jar URI replaced by the local jar it maps to. jars describes the
// mapped --jars value for the log.
func (r *ProcessRuntime) jobManagerArgs(pod *corev1.Pod, jm JobManagerLaunch, d *flinkDist) (args []string, jars string, err error) {
	c := FlinkContainer(pod)
	if c == nil {
		return nil, "", fmt.Errorf("pod has no %s container", FlinkContainerName)
	}
	all := entrypointArgs(c)
	if len(all) == 0 {
		return nil, "", fmt.Errorf("container %s has no standalone-job arguments", c.Name)
	}
	uris := map[string]bool{}
	for _, u := range strings.Split(jm.JarURI, ",") {
		if u = strings.TrimSpace(u); u != "" {
			uris[u] = true
		}
	}
	// mapList maps a comma-separated value when every element is a job jar URI.
	mapList := func(v string) (string, bool, error) {
		parts := strings.Split(v, ",")
		for _, p := range parts {
			if !uris[strings.TrimSpace(p)] {
				return v, false, nil
			}
		}
		mapped, err := r.resolveJars(v, d)
		return mapped, err == nil, err
	}
	for _, a := range all[1:] {
		if v, ok := strings.CutPrefix(a, "--jars="); ok {
			m, _, err := mapList(v)
			if err != nil {
				return nil, "", err
			}
			args, jars = append(args, "--jars="+m), m
			continue
		}
		m, mapped, err := mapList(a)
		if err != nil {
			return nil, "", err
		}
		if mapped {
			jars = m
		}
		args = append(args, m)
	}
	return args, jars, nil
}

func (p *flinkProc) roleName() string {
	if p.role == RoleTaskManager {
		return "TaskManager"
	}
	return "JobManager"
}

func (p *flinkProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop terminates the process group: SIGTERM, SIGKILL after grace. It reports whether it had
// to kill.
func (p *flinkProc) stop(grace time.Duration) (killed bool) {
	p.stopping.Store(true)
	if p.cmd == nil {
		return false
	}
	if p.exited() {
		return false
	}
	signalGroup(p.cmd.Process, false)
	select {
	case <-p.done:
		return false
	case <-time.After(grace):
	}
	signalGroup(p.cmd.Process, true)
	<-p.done
	return true
}

// processEnv is the JVM's environment: this process's (less the harness proxy settings), the
// Flink directories as Flink's scripts export them, and the container's env values.
func (r *ProcessRuntime) processEnv(p *flinkProc, d *flinkDist, confDir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "FLINK_CONF_DIR", "FLINK_HOME", "FLINK_LIB_DIR",
			"FLINK_OPT_DIR", "FLINK_PLUGINS_DIR", "FLINK_BIN_DIR", "FLINK_LOG_DIR", "FLINK_VERSION", "KUBECONFIG":
			continue
		}
		// A pod knows of the API server only what the kubelet tells it.
		if strings.HasPrefix(strings.ToUpper(k), "KUBERNETES_") {
			continue
		}
		env = append(env, kv)
	}
	// Flink's fabric8 client reads a kubeconfig first (~/.kube/config); a container has none.
	env = append(env, "KUBERNETES_AUTH_TRYKUBECONFIG=false")
	if p.serviceAccountDir != "" {
		// fabric8's settings for the token and CA files, which a container has at
		// /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}.
		env = append(env,
			"KUBERNETES_AUTH_SERVICEACCOUNT_TOKEN="+filepath.Join(p.serviceAccountDir, "token"),
			"KUBERNETES_CERTS_CA_FILE="+filepath.Join(p.serviceAccountDir, "ca.crt"))
	}
	if c := FlinkContainer(p.pod); c != nil {
		for _, e := range c.Env {
			if e.ValueFrom == nil && e.Name != "" {
				env = append(env, e.Name+"="+e.Value)
			}
		}
	}
	return append(env,
		"FLINK_HOME="+d.home,
		"FLINK_CONF_DIR="+confDir,
		"FLINK_LIB_DIR="+p.libDir(d),
		"FLINK_OPT_DIR="+filepath.Join(d.home, "opt"),
		"FLINK_PLUGINS_DIR="+filepath.Join(d.home, "plugins"),
		"FLINK_BIN_DIR="+filepath.Join(d.home, "bin"),
		"FLINK_LOG_DIR="+p.dir,
	)
}

// resourceParams runs BashJavaUtils (GET_JM_RESOURCE_PARAMS / GET_TM_RESOURCE_PARAMS) as
// Flink's scripts do: it prints the JVM flags and the dynamic properties (-D key=value …) the
// memory configuration implies.
func (r *ProcessRuntime) resourceParams(ctx context.Context, d *flinkDist, confDir, command string, env []string) (jvm, dynamic []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.opts.Java, "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-classpath", d.utilsCP,
		"org.apache.flink.runtime.util.bash.BashJavaUtils", command, "--configDir", confDir)
	cmd.Env = env
	cmd.SysProcAttr = childProcAttr()
	out, err := cmd.CombinedOutput()
	const prefix = "BASH_JAVA_UTILS_EXEC_RESULT:"
	var results []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			results = append(results, rest)
		}
	}
	if err != nil || len(results) == 0 || len(results) > 2 {
		return nil, nil, fmt.Errorf("BashJavaUtils %s (Flink %s): %v: %d result lines\n%s", command, d.version, err, len(results), lastLines(string(out), 15))
	}
	jvm = strings.Fields(results[0])
	if len(results) == 2 {
		dynamic = strings.Fields(results[1])
	}
	return jvm, dynamic, nil
}

var directClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}

// waitREST waits until the JobManager's REST API answers GET /config.
func (r *ProcessRuntime) waitREST(ctx context.Context, p *flinkProc) error {
	u := fmt.Sprintf("http://127.0.0.1:%d/config", p.restPort)
	deadline := time.NewTimer(r.opts.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := directClient.Get(u); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return p.exitError(" before its REST API answered")
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("JobManager REST API (%s) did not answer within %s; last lines of %s:\n%s",
				u, r.opts.StartTimeout, p.logPath, lastLines(tailFile(p.logPath, 12), 12))
		case <-tick.C:
		}
	}
}

// waitTaskManager waits until the TaskManager is registered with its application's JobManager
// (GET /taskmanagers lists its resource id). Without a running JobManager it returns once the
// process stayed alive for a second.
func (r *ProcessRuntime) waitTaskManager(ctx context.Context, p *flinkProc) (registered bool, err error) {
	alive := time.NewTimer(time.Second)
	defer alive.Stop()
	select {
	case <-p.done:
		return false, p.exitError("")
	case <-ctx.Done():
		return false, ctx.Err()
	case <-alive.C:
	}
	wait := min(r.opts.StartTimeout, 45*time.Second)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		addr := r.RESTAddress(p.host)
		if addr == "" {
			return false, nil // no JobManager yet: it registers when one comes
		}
		var tms struct {
			TaskManagers []struct {
				ID string `json:"id"`
			} `json:"taskmanagers"`
		}
		if err := GetJSON(ctx, directClient, "http://"+addr+"/taskmanagers", &tms); err == nil {
			for _, tm := range tms.TaskManagers {
				if tm.ID == p.pod.Name {
					return true, nil
				}
			}
		}
		select {
		case <-p.done:
			return false, p.exitError("")
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	r.logf("%s: TaskManager not registered with %s after %s; reporting it ready anyway (alive)", p.key, p.host, wait)
	return false, nil
}

// failureSummary picks the lines of a Flink log's tail that say why it failed: the last
// ERROR line and the last "Caused by:" lines, else the last lines.
func failureSummary(logPath string) string {
	lines := strings.Split(strings.TrimRight(tailFile(logPath, 400), "\n"), "\n")
	var errLine string
	var causes []string
	for _, l := range lines {
		switch {
		case strings.Contains(l, " ERROR "):
			errLine = l
		case strings.HasPrefix(strings.TrimSpace(l), "Caused by:"):
			causes = append(causes, strings.TrimSpace(l))
		}
	}
	if len(causes) > 2 {
		causes = causes[len(causes)-2:]
	}
	if errLine == "" && len(causes) == 0 {
		return lastLines(strings.Join(lines, "\n"), 6)
	}
	return strings.TrimSpace(strings.Join(append([]string{errLine}, causes...), "\n"))
}

// writeFlinkConfig writes conf as config.yaml (Flink ≥ 1.19: every key and value a quoted YAML
// string, which Flink converts to the option's type) or flink-conf.yaml (1.18: key: value).
func writeFlinkConfig(dir, version string, conf map[string]string) error {
	name, err := configFileOf(version)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Written by the acctest process runtime from the pod's configuration.\n")
	if name == flinkconf.ConfigFileYAML {
		for _, k := range keys {
			kq, _ := json.Marshal(k)
			vq, _ := json.Marshal(conf[k])
			fmt.Fprintf(&b, "%s: %s\n", kq, vq)
		}
	} else {
		for _, k := range keys {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.ReplaceAll(conf[k], "\n", " "))
		}
	}
	return os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644)
}

func copyConf(c map[string]string) map[string]string {
	out := make(map[string]string, len(c)+16)
	for k, v := range c {
		out[k] = v
	}
	return out
}

// setDefaults sets the keys of defaults that conf does not have.
func setDefaults(conf, defaults map[string]string) {
	for k, v := range defaults {
		if _, ok := conf[k]; !ok {
			conf[k] = v
		}
	}
}

// replacePrefix removes every key with prefix and sets set.
func replacePrefix(conf map[string]string, prefix string, set map[string]string) {
	for k := range conf {
		if strings.HasPrefix(k, prefix) {
			delete(conf, k)
		}
	}
	for k, v := range set {
		conf[k] = v
	}
}

// javaOptsOf are the JVM options the configuration asks for, as Flink's config.sh reads them.
func javaOptsOf(conf map[string]string, role string) []string {
	var out []string
	for _, k := range []string{"env.java.default-opts.all", "env.java.opts", "env.java.opts.all", "env.java.default-opts." + role, "env.java.opts." + role} {
		out = append(out, strings.Fields(conf[k])...)
	}
	return out
}

func exitCodeOf(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if c := ee.ExitCode(); c >= 0 {
			return c
		}
		return 128 + 9 // killed by a signal
	}
	return 1
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`;&|<>*?()[]{}!#~") {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// processLog4j is the logging configuration of every Flink process: everything to the console,
// which goes to the pod's <role>.log.
const processLog4j = `# Written by the acctest process runtime.
monitorInterval = 0
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
logger.pekko.name = org.apache.pekko
logger.pekko.level = WARN
logger.netty.name = org.apache.flink.shaded.netty4.io.netty.channel.DefaultChannelPipeline
logger.netty.level = ERROR
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = WARN
appender.console.name = ConsoleAppender
appender.console.type = Console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss,SSS} %-5p %-60c %x - %m%n
`
