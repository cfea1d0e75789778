package acctest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

// ToolsBinDir is where tools/install.sh puts the pinned binaries: $FLINK_TOOLS_BIN, else
// ${FLINK_TOOLS_CACHE:-$HOME/.cache/terraform-provider-flink}/bin.
func ToolsBinDir() string {
	if d := os.Getenv("FLINK_TOOLS_BIN"); d != "" {
		return d
	}
	cache := os.Getenv("FLINK_TOOLS_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache", "terraform-provider-flink")
	}
	return filepath.Join(cache, "bin")
}

// KubeControllers are the kube-controller-manager controllers the stack runs: Deployments
// create ReplicaSets, ReplicaSets create Pods, owner references cascade deletion, and deleted
// namespaces are emptied and removed.
var KubeControllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"garbage-collector-controller",
	"namespace-controller",
}

// Options configures StartStack.
type Options struct {
	// BinDir holds etcd, kube-apiserver and kube-controller-manager. Default ToolsBinDir().
	BinDir string
	// Runtime runs Flink pods. Default: an EmulatorRuntime on a new flinktest emulator.
	Runtime Runtime
	// Router serves the proxy. Default: Runtime, when it implements Router.
	Router Router
	// Progress receives short progress lines. Default os.Stderr.
	Progress io.Writer
	// SetEnv sets Env() in the process environment as soon as the proxy listens, before the
	// stack creates any HTTP client: net/http reads HTTP_PROXY/NO_PROXY once per process
	// (on the first proxied request of any client using ProxyFromEnvironment) and caches it.
	SetEnv bool
}

// Stack is a running test cluster: etcd + kube-apiserver (envtest), kube-controller-manager,
// the test node agent, and the forward proxy that stands in for cluster DNS. Everything listens
// on 127.0.0.1 only.
type Stack struct {
	dir        string
	binDir     string
	progress   io.Writer
	env        *envtest.Environment
	cfg        *rest.Config
	kube       kubernetes.Interface
	kubeconfig string
	kcm        *process
	agent      *NodeAgent
	node       *RealNode // FLINK_RUNTIME=node: a real kubelet and container runtime instead of agent
	s3         *S3Server // the real node's snapshot storage, which its pods reach
	runtime    Runtime
	proxy      *Proxy
	proxyURL   string
	prevEnv    map[string]*string // what SetEnv overwrote, restored by Stop
	started    time.Duration
}

// StartStack starts the whole stack. On error everything started so far is stopped again, the
// logs stay in the temporary directory, and the error carries the tail of the failing
// component's log.
func StartStack(ctx context.Context, opts Options) (s *Stack, err error) {
	t0 := time.Now()
	if opts.BinDir == "" {
		opts.BinDir = ToolsBinDir()
	}
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	var node *RealNode
	if opts.Runtime == nil && NodeMode() {
		if node, err = newRealNode(opts.BinDir); err != nil {
			return nil, err
		}
		if opts.Router == nil {
			opts.Router = node
		}
	} else if opts.Runtime == nil {
		// The emulator, or real Flink processes with FLINK_RUNTIME=real (flinkdist.go).
		if opts.Runtime, err = runtimeFromEnv(); err != nil {
			return nil, err
		}
	}
	if opts.Router == nil {
		r, ok := opts.Runtime.(Router)
		if !ok {
			return nil, errors.New("acctest: Options.Router is required when the Runtime is not a Router")
		}
		opts.Router = r
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, b)); err != nil {
			return nil, fmt.Errorf("acctest: %s not found in %s: build the test binaries with tools/install.sh (make tools), or point FLINK_TOOLS_BIN at them", b, opts.BinDir)
		}
	}
	dir, err := os.MkdirTemp("", "flink-acctest-")
	if err != nil {
		return nil, err
	}
	s = &Stack{dir: dir, binDir: opts.BinDir, progress: opts.Progress, runtime: opts.Runtime, node: node}
	if u, ok := opts.Runtime.(interface{ useStackDir(string) }); ok {
		u.useStackDir(dir)
	}
	defer func() {
		if err != nil {
			_ = s.stop()
			s.progressf("acctest: logs kept in %s", dir)
			s = nil
		}
	}()

	// The proxy first, so that the environment can point at it before any HTTP client exists.
	if s.proxy, err = StartProxy(opts.Router); err != nil {
		return s, err
	}
	s.proxyURL = s.proxy.URL()
	if opts.SetEnv {
		if err := s.setEnv(s.Env()); err != nil {
			return s, err
		}
	}

	// etcd + kube-apiserver through envtest.
	s.progressf("acctest: starting kube-apiserver + etcd (%s) …", opts.BinDir)
	step := time.Now()
	apiLog, err := os.Create(filepath.Join(dir, "kube-apiserver.log"))
	if err != nil {
		return s, err
	}
	etcdLog, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		return s, err
	}
	no := false
	s.env = &envtest.Environment{
		BinaryAssetsDirectory:    opts.BinDir,
		UseExistingCluster:       &no,
		ControlPlaneStartTimeout: envDuration("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT", 90*time.Second),
		ControlPlaneStopTimeout:  envDuration("KUBEBUILDER_CONTROLPLANE_STOP_TIMEOUT", 30*time.Second),
	}
	s.env.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(opts.BinDir, "etcd"), Out: etcdLog, Err: etcdLog}
	api := &envtest.APIServer{Path: filepath.Join(opts.BinDir, "kube-apiserver"), Out: apiLog, Err: apiLog}
	api.Configure().Set("advertise-address", "127.0.0.1")
	// Two Services per application: envtest's /24 holds 127 applications, make bench-scale
	// plans 500.
	api.Configure().Set("service-cluster-ip-range", serviceCIDR)
	var kcmArgs []string
	if node != nil {
		// Pods reach the API server (Flink's Kubernetes HA) at the node's address, through
		// the kubernetes Service, with a certificate that names both.
		api.Configure().Set("advertise-address", NodeIP)
		api.Configure().Set("bind-address", "0.0.0.0")
		if api.CertDir, api.SecureServing.CA, err = node.apiServerCerts(dir); err != nil {
			return s, err
		}
		kcmArgs = node.ControllerManagerArgs()
		// envtest turns the ServiceAccount admission plugin off; on a node, pods get their
		// service-account token volume through it, as in any cluster.
		api.Configure().Disable("disable-admission-plugins")
	}
	// The provider runs as a ServiceAccount bound to the RBAC guide's Role (identity.go):
	// RBAC must decide (envtest's default, made explicit), and the admission plugin that
	// checks ownerReferences with blockOwnerDeletion (off by default, on in OpenShift) is on,
	// so that the Role is shown to be enough where it is. envtest also configures the
	// service-account issuer and signing key that TokenRequest needs.
	api.Configure().Set("authorization-mode", "RBAC")
	api.Configure().Set("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	s.env.ControlPlane.APIServer = api
	cfg, err := s.env.Start()
	if err != nil {
		return s, fmt.Errorf("acctest: start kube-apiserver + etcd: %w\n--- kube-apiserver.log (tail) ---\n%s--- etcd.log (tail) ---\n%s",
			err, tailFile(apiLog.Name(), 30), tailFile(etcdLog.Name(), 15))
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 500, 1000
	s.cfg = cfg
	if s.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return s, err
	}
	s.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(s.kubeconfig, s.env.KubeConfig, 0o600); err != nil {
		return s, err
	}
	s.progressf("acctest: kube-apiserver + etcd up in %s (%s)", since(step), cfg.Host)

	// kube-controller-manager as its own process.
	controllers := KubeControllers
	if node != nil {
		controllers = append(append([]string{}, KubeControllers...), NodeControllers...)
	}
	s.progressf("acctest: starting kube-controller-manager (%s) …", strings.Join(controllers, ","))
	step = time.Now()
	if err := s.startControllerManager(ctx, controllers, kcmArgs); err != nil {
		return s, err
	}
	s.progressf("acctest: kube-controller-manager up in %s", since(step))

	if node != nil {
		step = time.Now()
		if err := node.start(ctx, s); err != nil {
			return s, err
		}
		// Pods cannot see the test's directories: Flink and the provider keep snapshots in S3.
		if s.s3, err = StartS3(ctx, filepath.Join(dir, "s3"), NodeIP); err != nil {
			return s, err
		}
		if opts.SetEnv {
			if err := s.setEnv(s.s3.Env()); err != nil {
				return s, err
			}
		}
		s.started = time.Since(t0)
		s.progressf("acctest: real node %s up in %s; proxy %s; stack ready in %s", NodeName, since(step), s.proxy.URL(), since(t0))
		return s, nil
	}

	// Node agent.
	step = time.Now()
	agentLog, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return s, err
	}
	podAPI, err := apiServerOf(cfg)
	if err != nil {
		return s, err
	}
	s.agent = NewNodeAgent(s.kube, s.runtime, NodeAgentOptions{Log: agentLog, APIServer: podAPI, Dir: filepath.Join(dir, "node")})
	if err := s.agent.Start(ctx); err != nil {
		return s, err
	}
	s.started = time.Since(t0)
	s.progressf("acctest: node %s up in %s; proxy %s; stack ready in %s", s.agent.NodeName(), since(step), s.proxy.URL(), since(t0))
	return s, nil
}

// apiServerOf is the API server address and CA pods are given.
func apiServerOf(cfg *rest.Config) (*APIServer, error) {
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("acctest: API server URL %q: %w", cfg.Host, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return nil, fmt.Errorf("acctest: API server URL %q has no port", cfg.Host)
	}
	return &APIServer{Host: u.Hostname(), Port: port, CA: cfg.CAData}, nil
}

func (s *Stack) startControllerManager(ctx context.Context, controllers, extraArgs []string) error {
	user, err := s.env.ControlPlane.AddUser(envtest.User{Name: "system:kube-controller-manager", Groups: []string{"system:masters"}},
		&rest.Config{QPS: 500, Burst: 1000})
	if err != nil {
		return fmt.Errorf("acctest: kube-controller-manager user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kcPath := filepath.Join(s.dir, "kube-controller-manager.kubeconfig")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		return err
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	args := []string{
		"--kubeconfig=" + kcPath,
		"--authentication-kubeconfig=" + kcPath,
		"--authorization-kubeconfig=" + kcPath,
		"--controllers=" + strings.Join(controllers, ","),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(s.dir, "kube-controller-manager-certs"),
		"--use-service-account-credentials=false",
		"--kube-api-qps=500",
		"--kube-api-burst=1000",
		"--v=2",
	}
	args = append(args, extraArgs...)
	s.kcm, err = startProcess(filepath.Join(s.binDir, "kube-controller-manager"), args, filepath.Join(s.dir, "kube-controller-manager.log"))
	if err != nil {
		return fmt.Errorf("acctest: start kube-controller-manager: %w", err)
	}
	// Ready once its /healthz answers (always allowed without authorization).
	client := &http.Client{Timeout: 2 * time.Second, Transport: insecureLoopback()}
	defer client.CloseIdleConnections()
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	deadline := time.Now().Add(envDuration("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT", 90*time.Second))
	for {
		if resp, err := client.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.kcm.done:
			return fmt.Errorf("acctest: kube-controller-manager exited: %v\n--- kube-controller-manager.log (tail) ---\n%s", s.kcm.err, tailFile(s.kcm.logPath, 40))
		case <-ctx.Done():
			return fmt.Errorf("acctest: waiting for kube-controller-manager: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("acctest: kube-controller-manager not healthy at %s in time\n--- kube-controller-manager.log (tail) ---\n%s", url, tailFile(s.kcm.logPath, 40))
		}
	}
}

// setEnv sets env in the process environment and remembers what it replaced, for stop.
func (s *Stack) setEnv(env map[string]string) error {
	if s.prevEnv == nil {
		s.prevEnv = map[string]*string{}
	}
	for k, v := range env {
		if _, seen := s.prevEnv[k]; !seen {
			if old, ok := os.LookupEnv(k); ok {
				s.prevEnv[k] = &old
			} else {
				s.prevEnv[k] = nil
			}
		}
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// insecureLoopback is the transport of health probes of the stack's own self-signed servers.
func insecureLoopback() *http.Transport {
	return &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // health probe of a self-signed test server
	}
}

// Stop tears the stack down and removes its temporary directory.
func (s *Stack) Stop() error {
	err := s.stop()
	if rmErr := os.RemoveAll(s.dir); err == nil {
		err = rmErr
	}
	return err
}

// StopKeepLogs tears the stack down and leaves its logs in Dir.
func (s *Stack) StopKeepLogs() error { return s.stop() }

func (s *Stack) stop() error {
	var errs []error
	if s.proxy != nil {
		errs = append(errs, s.proxy.Close())
		s.proxy = nil
	}
	if s.agent != nil {
		s.agent.Stop()
		s.agent = nil
	}
	if s.node != nil {
		errs = append(errs, s.node.stop())
		s.node = nil
	}
	if s.s3 != nil {
		errs = append(errs, s.s3.Stop())
		s.s3 = nil
	}
	if c, ok := s.runtime.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if s.kcm != nil {
		errs = append(errs, s.kcm.stop(10*time.Second))
		s.kcm = nil
	}
	if s.env != nil {
		errs = append(errs, s.env.Stop())
		s.env = nil
	}
	for k, v := range s.prevEnv {
		if v == nil {
			errs = append(errs, os.Unsetenv(k))
		} else {
			errs = append(errs, os.Setenv(k, *v))
		}
	}
	s.prevEnv = nil
	return errors.Join(errs...)
}

// Kube is a client with cluster-admin rights.
func (s *Stack) Kube() kubernetes.Interface { return s.kube }

// RESTConfig is the cluster-admin REST config.
func (s *Stack) RESTConfig() *rest.Config { return rest.CopyConfig(s.cfg) }

// KubeconfigPath is a kubeconfig file for the cluster-admin user (NewProviderIdentity
// writes one for the provider's own identity).
func (s *Stack) KubeconfigPath() string { return s.kubeconfig }

// ProxyURL is the forward proxy's URL, the value for HTTP_PROXY.
func (s *Stack) ProxyURL() string { return s.proxyURL }

// Agent is the test node agent.
func (s *Stack) Agent() *NodeAgent { return s.agent }

// Runtime is the runtime Flink pods run in.
func (s *Stack) Runtime() Runtime { return s.runtime }

// Emulator is the flinktest emulator when the stack runs the emulator runtime, else nil.
func (s *Stack) Emulator() *flinktest.Emulator {
	if r, ok := s.runtime.(*EmulatorRuntime); ok {
		return r.Emulator()
	}
	return nil
}

// Dir is the stack's temporary directory: kubeconfigs and the component logs
// (kube-apiserver.log, etcd.log, kube-controller-manager.log, agent.log).
func (s *Stack) Dir() string { return s.dir }

// StartupTime is how long StartStack took.
func (s *Stack) StartupTime() time.Duration { return s.started }

// DumpLogs writes the last lines of the component logs to w: up to lines of the agent's,
// fewer of kube-controller-manager's and kube-apiserver's (etcd's stays in Dir).
func (s *Stack) DumpLogs(w io.Writer, lines int) {
	for _, l := range []struct {
		name string
		n    int
	}{{"agent.log", lines}, {"kube-controller-manager.log", lines / 2}, {"kube-apiserver.log", lines / 3}} {
		p := filepath.Join(s.dir, l.name)
		if _, err := os.Stat(p); err != nil || l.n <= 0 {
			continue
		}
		fmt.Fprintf(w, "--- %s (last %d lines) ---\n%s", p, l.n, tailFile(p, l.n))
	}
	if d, ok := s.runtime.(interface{ DumpLogs(io.Writer, int) }); ok {
		d.DumpLogs(w, lines/2)
	}
}

// Env is the environment the stack's clients need: HTTP_PROXY (both spellings) for the proxy,
// NO_PROXY for loopback (the API server), and TF_ACC_TERRAFORM_PATH when not already set and
// the pinned terraform is built.
func (s *Stack) Env() map[string]string {
	noProxy, noProxyLower := os.Getenv("NO_PROXY"), os.Getenv("no_proxy")
	if s.node != nil {
		// The real node's addresses, its pods' and its Services' are reached directly: by
		// the tests and by the API server's service proxy (a child process, which inherits
		// this environment).
		direct := strings.Join([]string{NodeIP, podCIDR, serviceCIDR}, ",")
		noProxy, noProxyLower = direct+","+noProxy, direct+","+noProxyLower
	}
	env := map[string]string{
		"HTTP_PROXY": s.ProxyURL(),
		"http_proxy": s.ProxyURL(),
		"NO_PROXY":   mergeNoProxy(noProxy),
		"no_proxy":   mergeNoProxy(noProxyLower),
	}
	if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
		if tf := filepath.Join(s.binDir, "terraform"); fileExists(tf) {
			env["TF_ACC_TERRAFORM_PATH"] = tf
		}
	}
	return env
}

func mergeNoProxy(existing string) string {
	out := []string{"127.0.0.1", "localhost"}
	for _, e := range strings.Split(existing, ",") {
		e = strings.TrimSpace(e)
		if e != "" && e != "127.0.0.1" && e != "localhost" {
			out = append(out, e)
		}
	}
	return strings.Join(out, ",")
}

func (s *Stack) progressf(format string, args ...any) {
	fmt.Fprintf(s.progress, format+"\n", args...)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func freeLoopbackPort() (int, error) { return freePort("127.0.0.1") }

// freePort is a port free on host at the time of the call.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }() // held only to learn a free port
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)\n", path, err)
	}
	defer func() { _ = f.Close() }() // read only
	var ring []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		ring = append(ring, sc.Text())
		if len(ring) > n {
			ring = ring[1:]
		}
	}
	if len(ring) == 0 {
		return "(empty)\n"
	}
	return strings.Join(ring, "\n") + "\n"
}

// process is a child process with its output in a log file.
type process struct {
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	err     error
}

func startProcess(path string, args []string, logPath string) (*process, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		_ = lf.Close() // the start error is the one to report
		return nil, err
	}
	p := &process{cmd: cmd, logPath: logPath, logFile: lf, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = lf.Close() // the process's own exit is what callers wait for
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s and was killed", filepath.Base(p.cmd.Path), grace)
	}
}
