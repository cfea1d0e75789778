package acctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// What the kubelet does to a container before it starts, as far as Flink pods need it: it
// resolves the container's environment (values, $(VAR) references to earlier variables, and
// the downward API fields a pod can ask for), adds the API server's address as
// KUBERNETES_SERVICE_HOST/PORT (every pod gets those), expands $(VAR) in the command and
// arguments, and mounts the pod's service-account token when the pod names a ServiceAccount
// and does not opt out of automounting (the ServiceAccount admission plugin's rule: envtest's
// API server runs without that plugin, so the agent applies it).
//
// The token is requested from the TokenRequest API bound to the pod (deleting the pod revokes
// it), with the stack's CA, and written with ca.crt and namespace into the pod's
// kube-api-access directory; the runtime points the JVM at those files, which in a container
// are at /var/run/secrets/kubernetes.io/serviceaccount. Like a kubelet, the agent renews the
// token before it expires.

// APIServer is how pods reach the stack's API server.
type APIServer struct {
	Host string // e.g. 127.0.0.1
	Port int
	CA   []byte // PEM
}

// tokenTTL is the lifetime the agent asks tokens for (a kubelet asks for about an hour too).
const tokenTTL = time.Hour

// podEnvironment returns the pod as the runtime must run it: its Flink container's
// environment resolved to plain values and its command and arguments expanded, plus the
// directory holding its service-account token ("" when none is mounted). errRetry means the
// pod cannot start yet (e.g. its ServiceAccount does not exist), as a kubelet would keep it
// in ContainerCreating.
func (a *NodeAgent) podEnvironment(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, string, error) {
	run := pod.DeepCopy()
	c := FlinkContainer(run)
	if c == nil {
		return run, "", nil
	}
	vars := map[string]string{}
	var env []corev1.EnvVar
	if a.api != nil {
		for _, kv := range [][2]string{{"KUBERNETES_SERVICE_HOST", a.api.Host}, {"KUBERNETES_SERVICE_PORT", strconv.Itoa(a.api.Port)}} {
			vars[kv[0]] = kv[1]
			env = append(env, corev1.EnvVar{Name: kv[0], Value: kv[1]})
		}
	}
	for _, e := range c.Env {
		v, err := envValue(run, e, vars)
		if err != nil {
			return nil, "", fmt.Errorf("env %s: %w", e.Name, err)
		}
		vars[e.Name] = v
		env = append(env, corev1.EnvVar{Name: e.Name, Value: v})
	}
	c.Env = env
	for i := range c.Command {
		c.Command[i] = expandVars(c.Command[i], vars)
	}
	for i := range c.Args {
		c.Args[i] = expandVars(c.Args[i], vars)
	}
	dir, err := a.mountServiceAccountToken(ctx, pod)
	if err != nil {
		return nil, "", err
	}
	return run, dir, nil
}

// envValue is one env var's value as the kubelet resolves it. Only the downward API's pod
// fields are supported among valueFrom sources; the others were never resolved by the agent.
func envValue(pod *corev1.Pod, e corev1.EnvVar, vars map[string]string) (string, error) {
	if e.ValueFrom == nil {
		return expandVars(e.Value, vars), nil
	}
	f := e.ValueFrom.FieldRef
	if f == nil {
		return "", nil
	}
	switch f.FieldPath {
	case "status.podIP":
		return "127.0.0.1", nil // what the agent reports as the pod's IP
	case "status.hostIP":
		return "127.0.0.1", nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	}
	return "", fmt.Errorf("downward API field %q is not supported by the test node", f.FieldPath)
}

// expandVars expands $(NAME) from vars as Kubernetes does: an unknown name stays as written,
// and $$ is a literal $.
func expandVars(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// automountsToken applies the ServiceAccount admission plugin's rule: the pod's own setting,
// else the ServiceAccount's, else true.
func automountsToken(pod *corev1.Pod, sa *corev1.ServiceAccount) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountServiceAccountToken writes the pod's token, the CA and the namespace, and keeps the
// token fresh while the pod runs. It returns "" for a pod that mounts no token.
func (a *NodeAgent) mountServiceAccountToken(ctx context.Context, pod *corev1.Pod) (string, error) {
	name := pod.Spec.ServiceAccountName
	if name == "" || a.api == nil {
		return "", nil
	}
	sa, err := a.kube.CoreV1().ServiceAccounts(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		a.log.Printf("%s/%s: waiting for ServiceAccount %s", pod.Namespace, pod.Name, name)
		return "", errRetry
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", errRetry, err)
	}
	if !automountsToken(pod, sa) {
		return "", nil
	}
	dir := filepath.Join(a.podDir(pod), "kube-api-access")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for file, data := range map[string][]byte{"ca.crt": a.api.CA, "namespace": []byte(pod.Namespace)} {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
			return "", err
		}
	}
	expires, err := a.writeToken(ctx, pod, dir)
	if err != nil {
		return "", fmt.Errorf("%w: token for ServiceAccount %s: %v", errRetry, name, err)
	}
	a.renewToken(pod, dir, expires)
	return dir, nil
}

// writeToken requests a token bound to the pod and replaces the token file atomically.
func (a *NodeAgent) writeToken(ctx context.Context, pod *corev1.Pod, dir string) (time.Time, error) {
	ttl := int64(tokenTTL / time.Second)
	tr, err := a.kube.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: &ttl,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return time.Time{}, err
	}
	tmp := filepath.Join(dir, ".token.tmp")
	if err := os.WriteFile(tmp, []byte(tr.Status.Token), 0o600); err != nil {
		return time.Time{}, err
	}
	return tr.Status.ExpirationTimestamp.Time, os.Rename(tmp, filepath.Join(dir, "token"))
}

// renewToken renews the pod's token at 80% of its lifetime, as a kubelet does, until the pod
// stops (stopRenewing).
func (a *NodeAgent) renewToken(pod *corev1.Pod, dir string, expires time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	a.mu.Lock()
	if a.renewals == nil {
		a.renewals = map[types.UID]context.CancelFunc{}
	}
	if old := a.renewals[pod.UID]; old != nil {
		old()
	}
	a.renewals[pod.UID] = cancel
	a.mu.Unlock()
	go func() {
		for {
			wait := time.Until(expires) * 4 / 5
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			next, err := a.writeToken(ctx, pod, dir)
			switch {
			case err == nil:
				expires = next
			case errors.Is(err, context.Canceled):
				return
			default:
				a.log.Printf("%s/%s: renewing its token: %v", pod.Namespace, pod.Name, err)
				expires = time.Now().Add(10 * time.Second) // try again soon
			}
		}
	}()
}

// stopRenewing stops renewing the token of the pod with uid.
func (a *NodeAgent) stopRenewing(uid types.UID) {
	a.mu.Lock()
	cancel := a.renewals[uid]
	delete(a.renewals, uid)
	a.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}
