package acctest

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"gocloud.dev/blob"

	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
)

// RealNode is the test stack's real Kubernetes node (FLINK_RUNTIME=node): containerd and runc
// from Debian's packages run the pods' containers, a kubelet built from the API server's
// Kubernetes release manages them, kube-scheduler places them, kube-proxy routes Services,
// CoreDNS answers the cluster's names, and the CNI bridge plugin gives every pod an address.
// The pods run the Flink image tools/node-images.sh builds from the fetched distribution.
//
// Everything runs inside the network namespace the test binary was re-executed in (RunInNodeNetns):
// the node's address NodeIP sits on a veth there, the CNI bridge and the pods' addresses too,
// so nothing the node serves is reachable from outside the namespace.
type RealNode struct {
	dir, binDir, imagesDir string
	kube                   kubernetes.Interface
	procs                  []*process // started order; stopped in reverse
	containerd             *process
	caFile                 string          // the API server's CA (apiServerCerts)
	netnsBefore            map[string]bool // /run/netns entries before containerd started
	lock                   *os.File        // machineLock
	stopKeeping            chan struct{}   // ends keepLogs
	keepingDone            chan struct{}
}

// Addresses of the node inside its network namespace. The namespace is the stack's own, so
// fixed addresses cannot collide with anything else.
const (
	NodeName    = "flink-test-node"
	NodeIP      = "10.90.0.1"
	nodeCIDR    = "10.90.0.1/24"
	podCIDR     = "10.244.0.0/24"
	nodeIface   = "node0"
	clusterZone = "cluster.local"
)

// envNodeNetns is set in the re-executed test binary: the network namespace it runs in.
const envNodeNetns = "FLINK_NODE_NETNS"

// NodeMode reports whether FLINK_RUNTIME asks for the real node.
func NodeMode() bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv("FLINK_RUNTIME")), "node")
}

// RunInNodeNetns runs this test binary again inside a new network namespace with the node's
// interface, and returns its exit code. The namespace is removed afterwards. Only the network
// namespace changes (nsenter --net): the kubelet and containerd must see the machine's cgroup
// mounts, which `ip netns exec` hides behind a fresh /sys.
func RunInNodeNetns() int {
	name := fmt.Sprintf("flink-node-%d", os.Getpid())
	fmt.Fprintf(os.Stderr, "acctest: real node: network namespace %s (node %s, pods %s)\n", name, NodeIP, podCIDR)
	setup := [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "link", "add", nodeIface, "type", "veth", "peer", "name", nodeIface + "-peer"},
		{"-n", name, "addr", "add", nodeCIDR, "dev", nodeIface},
		{"-n", name, "link", "set", nodeIface, "up"},
		{"-n", name, "link", "set", nodeIface + "-peer", "up"},
		// Without a route the namespace's own processes could not even try a Service's
		// cluster address, which kube-proxy rewrites only after the route lookup.
		{"-n", name, "route", "add", "default", "dev", nodeIface},
	}
	defer func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "acctest: remove network namespace %s: %v: %s\n", name, err, out)
		}
	}()
	for _, args := range setup {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "acctest: ip %s: %v: %s\n", strings.Join(args, " "), err, out)
			return 1
		}
	}
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + name, "--"}, os.Args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envNodeNetns+"="+name)
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "acctest: run in %s: %v\n", name, err)
		return 1
	}
	return 0
}

// InNodeNetns reports whether this process runs in the node's network namespace.
func InNodeNetns() bool { return os.Getenv(envNodeNetns) != "" }

// NodeControllers are the kube-controller-manager controllers a real node needs besides
// KubeControllers: EndpointSlices for kube-proxy and CoreDNS, Endpoints for the API server's
// service proxy (flink_access mode "proxy"), the default ServiceAccount in every namespace,
// and the node lifecycle controller, which lifts the not-ready taint once the kubelet reports
// Ready (and evicts pods from a node that stops reporting).
var NodeControllers = []string{
	"endpointslice-controller",
	"endpoints-controller",
	"serviceaccount-controller",
	"node-lifecycle-controller",
	"root-ca-certificate-publisher-controller", // kube-root-ca.crt, the CA in pods' token volume
}

// apiServerCerts writes the API server's serving certificate and service-account signing key
// into a new directory, for envtest to use instead of its own: pods reach the API server
// through the kubernetes Service (its first cluster address, 10.0.0.1) or the node's address,
// which envtest's certificate (localhost and 127.0.0.1 only) does not name. It returns the
// directory and the CA certificate that signed the serving certificate.
func (n *RealNode) apiServerCerts(stackDir string) (dir string, ca []byte, err error) {
	dir = filepath.Join(stackDir, "apiserver-certs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(NodeIP), net.ParseIP(kubernetesServiceIP)}
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + clusterZone}
	chain, key, err := certutil.GenerateSelfSignedCertKey(NodeIP, ips, dns)
	if err != nil {
		return "", nil, err
	}
	// The chain is the serving certificate followed by the CA that signed it.
	block, rest := pem.Decode(chain)
	if block == nil || len(rest) == 0 {
		return "", nil, errors.New("generated certificate chain has no CA")
	}
	ca = rest
	saKey, err := keyutil.MakeEllipticPrivateKeyPEM()
	if err != nil {
		return "", nil, err
	}
	parsed, err := keyutil.ParsePrivateKeyPEM(saKey)
	if err != nil {
		return "", nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(parsed.(crypto.Signer).Public())
	if err != nil {
		return "", nil, err
	}
	saPublic := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	n.caFile = filepath.Join(dir, "ca.crt")
	// File names envtest uses in its certificate directory.
	for name, data := range map[string][]byte{"apiserver.crt": chain, "apiserver.key": key, "sa-signer.key": saKey, "sa-signer.crt": saPublic, "ca.crt": ca} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", nil, err
		}
	}
	return dir, ca, nil
}

// serviceCIDR is the stack's Service range (envtest's 10.0.0.0/24, widened for 2000
// applications), and kubernetesServiceIP the kubernetes Service's address in it (the first).
const (
	serviceCIDR         = "10.0.0.0/20"
	kubernetesServiceIP = "10.0.0.1"
)

// ControllerManagerArgs are the kube-controller-manager flags the node needs: the CA that
// kube-root-ca.crt publishes.
func (n *RealNode) ControllerManagerArgs() []string { return []string{"--root-ca-file=" + n.caFile} }

// NodeAvailable says why this machine cannot run the real node (nil when it can): it needs
// root (network namespaces, cgroups, mounts), the Debian packages of the container runtime,
// and what make tools builds.
func NodeAvailable() error {
	if os.Geteuid() != 0 {
		return errors.New("the real node needs root")
	}
	_, err := checkNodeParts(ToolsBinDir())
	return err
}

func newRealNode(binDir string) (*RealNode, error) {
	if !InNodeNetns() {
		return nil, errors.New("acctest: FLINK_RUNTIME=node: the stack must run in the node's network namespace (acctest.Run re-executes the test binary there)")
	}
	images, err := checkNodeParts(binDir)
	if err != nil {
		return nil, fmt.Errorf("acctest: FLINK_RUNTIME=node: %w", err)
	}
	return &RealNode{binDir: binDir, imagesDir: images}, nil
}

// checkNodeParts checks that the node's programs and images are there and returns the
// images' directory.
func checkNodeParts(binDir string) (string, error) {
	for _, b := range []string{"kubelet", "kube-scheduler", "kube-proxy", "coredns", S3Binary} {
		if !fileExists(filepath.Join(binDir, b)) {
			return "", fmt.Errorf("%s not found in %s: run make tools", b, binDir)
		}
	}
	for _, b := range []string{"containerd", "runc", "ctr", "iptables", "conntrack", "nsenter", "/usr/lib/cni/bridge"} {
		if _, err := exec.LookPath(b); err != nil {
			return "", fmt.Errorf("%s is missing (apt-get install containerd runc containernetworking-plugins iptables conntrack util-linux): %w", b, err)
		}
	}
	images := filepath.Join(filepath.Dir(binDir), "images")
	if !fileExists(filepath.Join(images, "pause.tar")) {
		return "", fmt.Errorf("no images in %s: run make tools (tools/node-images.sh)", images)
	}
	return images, nil
}

// start brings the node up on the running control plane and waits until it is Ready and
// schedulable.
func (n *RealNode) start(ctx context.Context, s *Stack) error {
	if err := n.lockMachine(); err != nil {
		return err
	}
	n.dir = filepath.Join(s.dir, "node")
	n.kube = s.kube
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return err
	}
	kubeconfig, err := n.adminKubeconfig(s.env)
	if err != nil {
		return err
	}
	steps := []struct {
		name string
		run  func(context.Context, string) error
	}{
		{"containerd", n.startContainerd},
		{"images", n.importImages},
		{"kube-scheduler", n.startScheduler},
		{"kubelet", n.startKubelet},
		{"kube-proxy", n.startProxy},
		{"coredns", n.startDNS},
		{"node ready", n.waitReady},
	}
	n.stopKeeping = make(chan struct{})
	n.keepingDone = make(chan struct{})
	go n.keepLogs()
	for _, st := range steps {
		t := time.Now()
		if err := st.run(ctx, kubeconfig); err != nil {
			return fmt.Errorf("acctest: real node: %s: %w", st.name, err)
		}
		s.progressf("acctest: real node: %s in %s", st.name, since(t))
	}
	return nil
}

// machineLock is held by the one real node a machine runs at a time: kubelets share the
// machine's cgroup hierarchy (kubepods), and a node removes the pod network namespaces that
// appeared while it ran.
const machineLock = "/run/flink-test-node.lock"

func (n *RealNode) lockMachine() error {
	f, err := os.OpenFile(machineLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(machineLock)
		_ = f.Close() // not ours
		return fmt.Errorf("another real test node runs on this machine (process %s holds %s); one runs at a time", strings.TrimSpace(string(holder)), machineLock)
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	n.lock = f // released when the process ends, or by stop
	return nil
}

// adminKubeconfig is a cluster-admin kubeconfig for the node's components: the test node's
// credentials do not matter, its behaviour does.
func (n *RealNode) adminKubeconfig(env *envtest.Environment) (string, error) {
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "system:node:" + NodeName, Groups: []string{"system:masters", "system:nodes"}},
		&rest.Config{QPS: 100, Burst: 200})
	if err != nil {
		return "", err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	p := filepath.Join(n.dir, "node.kubeconfig")
	return p, os.WriteFile(p, kc, 0o600)
}

func (n *RealNode) path(name string) string { return filepath.Join(n.dir, name) }

func (n *RealNode) containerdSocket() string { return n.path("containerd/containerd.sock") }

func (n *RealNode) startContainerd(ctx context.Context, _ string) error {
	cni := n.path("cni")
	if err := os.MkdirAll(cni, 0o755); err != nil {
		return err
	}
	// bridge + host-local: every pod gets an address on the node's bridge; ipMasq lets pods
	// reach the node's address; hairpinMode lets a pod reach itself through its Service.
	conflist := fmt.Sprintf(`{"cniVersion":"0.4.0","name":"flink-test","plugins":[
 {"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":%q}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}`, podCIDR, n.path("cni-ipam"))
	if err := os.WriteFile(filepath.Join(cni, "10-bridge.conflist"), []byte(conflist), 0o644); err != nil {
		return err
	}
	// restrict_oom_score_adj: the kubelet asks for negative OOM scores (-997 for Guaranteed
	// pods, -998 for sandboxes), which only a process allowed to lower its own score may set;
	// this machine's root is not. containerd then keeps the scores at or above its own.
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, n.path("containerd/root"), n.path("containerd/state"), n.containerdSocket(), cni)
	cfg := n.path("containerd.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return err
	}
	n.netnsBefore = podNetns()
	p, err := startProcess("containerd", []string{"--config", cfg}, n.path("containerd.log"))
	if err != nil {
		return err
	}
	n.containerd = p
	return waitFor(ctx, p, 30*time.Second, func() bool {
		return exec.CommandContext(ctx, "ctr", "--address", n.containerdSocket(), "version").Run() == nil
	})
}

// importImages loads the pause image and the Flink images tools/node-images.sh built: only
// FLINK_E2E_VERSION's when it names one (about 10 s per image saved), else all.
func (n *RealNode) importImages(ctx context.Context, _ string) error {
	archives, err := filepath.Glob(filepath.Join(n.imagesDir, "*.tar"))
	if err != nil {
		return err
	}
	only := strings.TrimSpace(os.Getenv("FLINK_E2E_VERSION"))
	for _, a := range archives {
		if name := filepath.Base(a); only != "" && strings.HasPrefix(name, "flink-") && !strings.HasPrefix(name, "flink-"+only+".") {
			continue
		}
		out, err := exec.CommandContext(ctx, "ctr", "--address", n.containerdSocket(), "-n", "k8s.io", "images", "import", a).CombinedOutput()
		if err != nil {
			return fmt.Errorf("import %s: %v: %s", a, err, out)
		}
	}
	return nil
}

func (n *RealNode) startScheduler(ctx context.Context, kubeconfig string) error {
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	p, err := n.run(filepath.Join(n.binDir, "kube-scheduler"), "kube-scheduler.log",
		"--kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port), "--v=1")
	if err != nil {
		return err
	}
	return waitFor(ctx, p, 60*time.Second, func() bool { return healthy(fmt.Sprintf("https://127.0.0.1:%d/healthz", port)) })
}

func (n *RealNode) startKubelet(ctx context.Context, kubeconfig string) error {
	resolv := n.path("resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+NodeIP+"\n"), 0o644); err != nil {
		return err
	}
	// cgroup v1 (this machine is hybrid) needs failCgroupV1: false from 1.35 on. The eviction
	// thresholds are at the floor: the machine's disk is shared with everything else, and a
	// test must not fail because the node evicts its pods. Status and sync periods are short
	// so that tests do not wait for them.
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%s
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
failSwapOn: false
clusterDNS: [%s]
clusterDomain: %s
resolvConf: %s
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
syncFrequency: 5s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 2s
serializeImagePulls: false
localStorageCapacityIsolation: false
podLogsDir: %s
`, n.containerdSocket(), NodeIP, kubeletHealthzPort, NodeIP, clusterZone, resolv, n.podLogsDir())
	cfg := n.path("kubelet.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return err
	}
	p, err := n.run(filepath.Join(n.binDir, "kubelet"), "kubelet.log",
		"--config="+cfg, "--kubeconfig="+kubeconfig, "--root-dir="+n.path("kubelet"),
		"--hostname-override="+NodeName, "--node-ip="+NodeIP, "--v=1")
	if err != nil {
		return err
	}
	return waitFor(ctx, p, 60*time.Second, func() bool {
		return healthy(fmt.Sprintf("http://127.0.0.1:%d/healthz", kubeletHealthzPort))
	})
}

const kubeletHealthzPort = 10248

// keptLogsDir keeps the containers' logs after their pods are deleted (keepLogs), in the
// layout of podLogsDir.
func (n *RealNode) keptLogsDir() string { return n.path("kept-logs") }

// keepLogs hard-links every container log file the kubelet writes into keptLogsDir, so that
// a test can read what a pod said after the pod is gone (a rolled-back version's JobManager):
// the kubelet deletes a pod's logs with the pod, the link keeps the file.
func (n *RealNode) keepLogs() {
	defer close(n.keepingDone)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		files, _ := filepath.Glob(filepath.Join(n.podLogsDir(), "*", "*", "*.log")) // none yet is an empty list
		for _, f := range files {
			rel, err := filepath.Rel(n.podLogsDir(), f)
			if err != nil {
				continue
			}
			kept := filepath.Join(n.keptLogsDir(), rel)
			if _, err := os.Lstat(kept); err == nil {
				continue
			}
			if os.MkdirAll(filepath.Dir(kept), 0o755) == nil {
				_ = os.Link(f, kept) // a file the kubelet removed meanwhile is not kept
			}
		}
		select {
		case <-n.stopKeeping:
			return
		case <-tick.C:
		}
	}
}

// podLogsDir is where the kubelet keeps the containers' logs (not the machine's
// /var/log/pods): <namespace>_<pod>_<uid>/<container>/<restart>.log.
func (n *RealNode) podLogsDir() string { return n.path("pod-logs") }

func (n *RealNode) startProxy(ctx context.Context, kubeconfig string) error {
	config := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %s}
mode: iptables
hostnameOverride: %s
clusterCIDR: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [primary]
conntrack: {maxPerCore: 0}
`, kubeconfig, NodeName, podCIDR, NodeIP)
	cfg := n.path("kube-proxy.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return err
	}
	p, err := n.run(filepath.Join(n.binDir, "kube-proxy"), "kube-proxy.log", "--config="+cfg, "--v=1")
	if err != nil {
		return err
	}
	return waitFor(ctx, p, 60*time.Second, func() bool { return healthy("http://127.0.0.1:10256/healthz") })
}

func (n *RealNode) startDNS(ctx context.Context, kubeconfig string) error {
	corefile := fmt.Sprintf(`.:53 {
    bind %s
    errors
    ready 127.0.0.1:8181
    kubernetes %s in-addr.arpa ip6.arpa {
        kubeconfig %s
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
`, NodeIP, clusterZone, kubeconfig)
	cfg := n.path("Corefile")
	if err := os.WriteFile(cfg, []byte(corefile), 0o644); err != nil {
		return err
	}
	p, err := n.run(filepath.Join(n.binDir, "coredns"), "coredns.log", "-conf", cfg)
	if err != nil {
		return err
	}
	return waitFor(ctx, p, 60*time.Second, func() bool { return healthy("http://127.0.0.1:8181/ready") })
}

// waitReady waits for the Node to report Ready without the not-ready taint, so that the
// scheduler places pods on it.
func (n *RealNode) waitReady(ctx context.Context, _ string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		node, err := n.kube.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err == nil && nodeReady(node) && !hasTaint(node, corev1.TaintNodeNotReady) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready and schedulable in time (last: %v)\n--- kubelet.log (tail) ---\n%s", NodeName, err, tailFile(n.path("kubelet.log"), 30))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func hasTaint(node *corev1.Node, key string) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

func (n *RealNode) run(bin, log string, args ...string) (*process, error) {
	p, err := startProcess(bin, args, n.path(log))
	if err != nil {
		return nil, err
	}
	n.procs = append(n.procs, p)
	return p, nil
}

// waitFor polls ready until it holds, p exits, or timeout passes.
func waitFor(ctx context.Context, p *process, timeout time.Duration, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ready() {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v\n--- %s (tail) ---\n%s", filepath.Base(p.cmd.Path), p.err, p.logPath, tailFile(p.logPath, 30))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s\n--- %s (tail) ---\n%s", filepath.Base(p.cmd.Path), timeout, p.logPath, tailFile(p.logPath, 30))
		}
	}
	return nil
}

func healthy(u string) bool {
	client := &http.Client{Timeout: 2 * time.Second, Transport: insecureLoopback()}
	defer client.CloseIdleConnections()
	resp, err := client.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop removes every container the node runs (containerd's shims would outlive containerd),
// then stops the node's processes in reverse order and unmounts what the kubelet mounted.
func (n *RealNode) stop() error {
	var errs []error
	if n.stopKeeping != nil {
		close(n.stopKeeping)
		<-n.keepingDone
		n.stopKeeping = nil
	}
	for i := len(n.procs) - 1; i >= 0; i-- {
		errs = append(errs, n.procs[i].stop(10*time.Second))
	}
	n.procs = nil
	if n.containerd != nil {
		errs = append(errs, n.removeContainers())
		errs = append(errs, n.containerd.stop(10*time.Second))
		n.containerd = nil
		// The pods' network namespaces, which containerd removes only with their sandboxes.
		for ns := range podNetns() {
			if !n.netnsBefore[ns] {
				if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("remove pod network namespace %s: %v: %s", ns, err, out))
				}
			}
		}
	}
	if n.dir != "" {
		errs = append(errs, unmountUnder(n.dir))
		// The images and container file systems (gigabytes); the logs stay.
		errs = append(errs, os.RemoveAll(n.path("containerd")))
	}
	if n.lock != nil {
		errs = append(errs, n.lock.Close())
		n.lock = nil
	}
	return errors.Join(errs...)
}

// podNetns lists the pod network namespaces (the CNI's cni-* names) in /run/netns.
func podNetns() map[string]bool {
	out := map[string]bool{}
	entries, _ := os.ReadDir("/run/netns") // none yet is an empty list
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "cni-") {
			out[e.Name()] = true
		}
	}
	return out
}

// removeContainers kills and deletes every task and container in containerd's Kubernetes
// namespace.
func (n *RealNode) removeContainers() error {
	ctr := func(args ...string) ([]byte, error) {
		return exec.Command("ctr", append([]string{"--address", n.containerdSocket(), "-n", "k8s.io"}, args...)...).CombinedOutput()
	}
	out, err := ctr("containers", "ls", "-q")
	if err != nil {
		return fmt.Errorf("list containers: %v: %s", err, out)
	}
	var errs []error
	for _, id := range strings.Fields(string(out)) {
		_, _ = ctr("tasks", "kill", "-s", "SIGKILL", id) // a container without a running task has none to kill
		_, _ = ctr("tasks", "delete", "-f", id)
		if o, err := ctr("containers", "delete", id); err != nil {
			errs = append(errs, fmt.Errorf("delete container %s: %v: %s", id, err, o))
		}
	}
	return errors.Join(errs...)
}

// unmountUnder unmounts (lazily, deepest first) every mount below dir: the kubelet's volumes
// and containerd's root filesystems, which would otherwise keep the directory from being
// removed.
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	var errs []error
	for i := len(mounts) - 1; i >= 0; i-- {
		if out, err := exec.Command("umount", "-l", mounts[i]).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("umount %s: %v: %s", mounts[i], err, out))
		}
	}
	return errors.Join(errs...)
}

// Route sends <service>.<namespace>.svc to the Service's cluster address and first port (the
// proxy passes no port on; the REST Services have one), through kube-proxy as a pod's
// request would go: the test process runs in the node's network namespace.
func (n *RealNode) Route(host string) (http.Handler, bool) {
	svc, ns, ok := strings.Cut(strings.TrimSuffix(host, ".svc"), ".")
	if !ok || n.kube == nil || strings.Contains(ns, ".") {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := n.kube.CoreV1().Services(ns).Get(ctx, svc, metav1.GetOptions{})
	if err != nil || s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
		return nil, false
	}
	target := &url.URL{Scheme: "http", Host: net.JoinHostPort(s.Spec.ClusterIP, strconv.Itoa(int(s.Spec.Ports[0].Port)))}
	return &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}}, true
}

// StorageURL is the provider's snapshot_storage_url in test t: the stack's snapshot directory,
// or on the real node its S3 bucket (pods cannot see the test's directories).
func StorageURL(t testing.TB) string {
	t.Helper()
	s := stackFor(t)
	if s.s3 == nil {
		return "file://" + SnapshotDir(t)
	}
	return s.StorageURL()
}

// StorageURL is the real node's S3 bucket as a snapshot_storage_url, "" without the real node
// (the local runtimes use a directory of the stack, see SnapshotDir).
func (s *Stack) StorageURL() string {
	if s.s3 == nil {
		return ""
	}
	return s.s3.BlobURL("")
}

// StateDir is the URI of directory rel of Flink's state storage in test t (checkpoints, HA
// data): under SnapshotDir, or on the real node in its S3 bucket.
func StateDir(t testing.TB, rel string) string {
	t.Helper()
	if s := stackFor(t); s.s3 != nil {
		return s.s3.FlinkPath(rel)
	}
	return "file://" + filepath.Join(SnapshotDir(t), rel)
}

// StorageSecret is the name of the Secret FlinkStorage creates with the S3 credentials.
const StorageSecret = "flink-s3-credentials"

// FlinkStorage is what a flink_application_version in namespace ns needs to reach the real
// node's S3 storage: the endpoint settings for its flink_configuration, and the Secret for its
// flink_configuration_secrets, which it creates in ns with the credentials (as a platform team
// keeps them). Without the real node both are empty: Flink writes to the local directory.
func (s *Stack) FlinkStorage(ctx context.Context, ns string) (conf map[string]string, secret string, err error) {
	if s.s3 == nil {
		return nil, "", nil
	}
	data := map[string]string{}
	conf = s.s3.FlinkConfig()
	for _, k := range []string{"s3.access-key", "s3.secret-key"} {
		data[k] = conf[k]
		delete(conf, k)
	}
	obj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: StorageSecret, Namespace: ns}, StringData: data}
	if _, err := s.kube.CoreV1().Secrets(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, "", fmt.Errorf("acctest: S3 credentials Secret: %w", err)
	}
	return conf, StorageSecret, nil
}

// FlinkStorage is Stack.FlinkStorage as HCL: lines for a flink_configuration block and a
// flink_configuration_secrets attribute line.
func FlinkStorage(t testing.TB, ns string) (confLines, attribute string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conf, secret, err := stackFor(t).FlinkStorage(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	if secret == "" {
		return "", ""
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(conf)) {
		fmt.Fprintf(&b, "    %q = %q\n", k, conf[k])
	}
	return b.String(), fmt.Sprintf("flink_configuration_secrets = [%q]\n", secret)
}

// StorageHasFiles reports whether directory rel of the test's storage (relative to
// StorageURL) holds any file.
func StorageHasFiles(t testing.TB, rel string) (bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := snapshots.Open(ctx, StorageURL(t))
	if err != nil {
		return false, err
	}
	defer func() { _ = st.Close() }() // read only
	obj, err := st.Bucket().List(&blob.ListOptions{Prefix: strings.Trim(rel, "/") + "/"}).Next(ctx)
	switch {
	case errors.Is(err, io.EOF):
		return false, nil
	case err != nil:
		return false, err
	}
	return obj != nil, nil
}

// SnapshotStored checks that the snapshot at a Flink path is complete (has its _metadata) in
// the test's storage.
func SnapshotStored(t testing.TB, path string) error {
	t.Helper()
	if path == "" {
		return errors.New("no snapshot path recorded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := snapshots.Open(ctx, StorageURL(t))
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }() // read only
	return st.Verify(ctx, path)
}

// ContainerPID is the host process id of the main process of the pod's container name, as
// containerd reports it.
func (n *RealNode) ContainerPID(pod *corev1.Pod, name string) (int, error) {
	id, err := containerIDOf(pod, name)
	if err != nil {
		return 0, err
	}
	out, err := exec.Command("ctr", "--address", n.containerdSocket(), "-n", "k8s.io", "tasks", "ls").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("list tasks: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == id {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no task for container %s of pod %s", id, pod.Name)
}

// KillContainer kills the main process of the pod's container name with SIGKILL, as the
// kernel's OOM killer or a crash would end it; the kubelet restarts the container.
func (n *RealNode) KillContainer(pod *corev1.Pod, name string) error {
	id, err := containerIDOf(pod, name)
	if err != nil {
		return err
	}
	out, err := exec.Command("ctr", "--address", n.containerdSocket(), "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kill container %s of pod %s: %v: %s", id, pod.Name, err, out)
	}
	return nil
}

// containerIDOf is containerd's id of the pod's running container name.
func containerIDOf(pod *corev1.Pod, name string) (string, error) {
	for _, st := range pod.Status.ContainerStatuses {
		if st.Name == name && st.State.Running != nil {
			return strings.TrimPrefix(st.ContainerID, "containerd://"), nil
		}
	}
	return "", fmt.Errorf("pod %s has no running container %s", pod.Name, name)
}

// Limits are the resource limits the kernel enforces on a process: its cgroups' (cgroup v1,
// as the kubelet runs on this machine).
type Limits struct {
	MemoryBytes int64   // memory.limit_in_bytes
	CPUs        float64 // cpu.cfs_quota_us / cpu.cfs_period_us; -1 without a quota
}

// LimitsOf reads the limits of process pid.
func LimitsOf(pid int) (Limits, error) {
	read := func(controller, file string) (int64, error) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), controller) {
				v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, parts[2], file))
				if err != nil {
					return 0, err
				}
				return strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
			}
		}
		return 0, fmt.Errorf("process %d has no %s cgroup", pid, controller)
	}
	var l Limits
	var err error
	if l.MemoryBytes, err = read("memory", "memory.limit_in_bytes"); err != nil {
		return l, err
	}
	quota, err := read("cpu", "cpu.cfs_quota_us")
	if err != nil {
		return l, err
	}
	period, err := read("cpu", "cpu.cfs_period_us")
	if err != nil || period <= 0 {
		return l, fmt.Errorf("cpu.cfs_period_us of process %d: %d, %v", pid, period, err)
	}
	l.CPUs = -1
	if quota > 0 {
		l.CPUs = float64(quota) / float64(period)
	}
	return l, nil
}

// PodNetwork is the address range the real node's pods get their addresses from.
func PodNetwork() netip.Prefix { return netip.MustParsePrefix(podCIDR) }
