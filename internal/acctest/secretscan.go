package acctest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// SecretValues are secret values a test must not find anywhere but in Secrets, by a name
// that findings use instead of the value (a finding never prints a value).
type SecretValues map[string]string

// find lists the names of the values text contains.
func (v SecretValues) find(text string) []string {
	var names []string
	for name, value := range v {
		if value != "" && strings.Contains(text, value) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// ScanNamespace reads every object of the kinds a secret could leak into (ConfigMaps, so the
// provider's records too, Deployments with their pod templates, ReplicaSets, Pods, Services,
// Events, Leases, Endpoints) in ns through the API server and returns a finding for each that
// contains one of values. Secrets are not read.
func ScanNamespace(ctx context.Context, kube kubernetes.Interface, ns string, values SecretValues) ([]string, error) {
	opts := metav1.ListOptions{}
	type list struct {
		kind string
		get  func() (any, error)
	}
	lists := []list{
		{"ConfigMap", func() (any, error) { return kube.CoreV1().ConfigMaps(ns).List(ctx, opts) }},
		{"Deployment", func() (any, error) { return kube.AppsV1().Deployments(ns).List(ctx, opts) }},
		{"ReplicaSet", func() (any, error) { return kube.AppsV1().ReplicaSets(ns).List(ctx, opts) }},
		{"Pod", func() (any, error) { return kube.CoreV1().Pods(ns).List(ctx, opts) }},
		{"Service", func() (any, error) { return kube.CoreV1().Services(ns).List(ctx, opts) }},
		{"Event", func() (any, error) { return kube.CoreV1().Events(ns).List(ctx, opts) }},
		{"Lease", func() (any, error) { return kube.CoordinationV1().Leases(ns).List(ctx, opts) }},
		{"Endpoints", func() (any, error) { return kube.CoreV1().Endpoints(ns).List(ctx, opts) }},
	}
	var findings []string
	for _, l := range lists {
		got, err := l.get()
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", l.kind, err)
		}
		b, err := json.Marshal(got)
		if err != nil {
			return nil, err
		}
		var items struct {
			Items []struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			} `json:"items"`
		}
		_ = json.Unmarshal(b, &items)
		var raw struct {
			Items []json.RawMessage `json:"items"`
		}
		_ = json.Unmarshal(b, &raw)
		for i, item := range raw.Items {
			for _, name := range values.find(string(item)) {
				findings = append(findings, fmt.Sprintf("%s %s/%s contains the value of %s", l.kind, ns, items.Items[i].Metadata.Name, name))
			}
		}
	}
	return findings, nil
}

// ExpectNamespaceClean is a state check that fails when ScanNamespace finds a value.
func ExpectNamespaceClean(kube kubernetes.Interface, ns string, values SecretValues) statecheck.StateCheck {
	return namespaceCheck{kube, ns, values}
}

type namespaceCheck struct {
	kube   kubernetes.Interface
	ns     string
	values SecretValues
}

func (c namespaceCheck) CheckState(ctx context.Context, _ statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	findings, err := ScanNamespace(ctx, c.kube, c.ns, c.values)
	if err == nil && len(findings) > 0 {
		err = fmt.Errorf("secret values outside Secrets:\n  %s", strings.Join(findings, "\n  "))
	}
	resp.Error = err
}

// withoutSensitive drops from value every part its sensitivity mask (Terraform's
// *_sensitive / sensitive_values shape: true, or a map/list of masks) marks sensitive.
func withoutSensitive(value, mask any) any {
	if b, ok := mask.(bool); ok && b {
		return nil
	}
	switch v := value.(type) {
	case map[string]any:
		m, _ := mask.(map[string]any)
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = withoutSensitive(e, m[k])
		}
		return out
	case []any:
		l, _ := mask.([]any)
		out := make([]any, len(v))
		for i, e := range v {
			var em any
			if i < len(l) {
				em = l[i]
			}
			out[i] = withoutSensitive(e, em)
		}
		return out
	}
	return value
}

func rawMask(raw json.RawMessage) any {
	var m any
	_ = json.Unmarshal(raw, &m)
	return m
}

func moduleValues(m *tfjson.StateModule, sensitive bool) []any {
	if m == nil {
		return nil
	}
	var out []any
	for _, r := range m.Resources {
		if sensitive {
			out = append(out, r.AttributeValues)
		} else {
			out = append(out, withoutSensitive(map[string]any(r.AttributeValues), rawMask(r.SensitiveValues)))
		}
	}
	for _, c := range m.ChildModules {
		out = append(out, moduleValues(c, sensitive)...)
	}
	return out
}

// planParts are the parts of a plan the provider shapes: planned values, resource changes
// and the prior state, without what they mark sensitive (sensitive: with it). The
// configuration and variables sections, the user's own text, are left out.
func planParts(p *tfjson.Plan, sensitive bool) []any {
	var parts []any
	if p.PlannedValues != nil {
		parts = append(parts, moduleValues(p.PlannedValues.RootModule, sensitive)...)
	}
	if p.PriorState != nil && p.PriorState.Values != nil {
		parts = append(parts, moduleValues(p.PriorState.Values.RootModule, sensitive)...)
	}
	for _, rc := range p.ResourceChanges {
		if rc.Change == nil {
			continue
		}
		if sensitive {
			parts = append(parts, rc.Change.Before, rc.Change.After)
		} else {
			parts = append(parts, withoutSensitive(rc.Change.Before, rc.Change.BeforeSensitive),
				withoutSensitive(rc.Change.After, rc.Change.AfterSensitive))
		}
	}
	return parts
}

func scanParts(what string, parts []any, values SecretValues) error {
	b, err := json.Marshal(parts)
	if err != nil {
		return err
	}
	if names := values.find(string(b)); len(names) > 0 {
		return fmt.Errorf("%s contains the value of %s", what, strings.Join(names, ", "))
	}
	return nil
}

// ExpectPlanClean fails when the non-sensitive parts of the plan contain a value; with
// evenSensitive, when any part does (write-only values are in no plan at all).
func ExpectPlanClean(values SecretValues, evenSensitive bool) plancheck.PlanCheck {
	return planClean{values, evenSensitive}
}

type planClean struct {
	values        SecretValues
	evenSensitive bool
}

func (c planClean) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	resp.Error = scanParts("the plan", planParts(req.Plan, c.evenSensitive), c.values)
}

// ExpectStateClean fails when the non-sensitive parts of the state contain a value; with
// evenSensitive, when any part does.
func ExpectStateClean(values SecretValues, evenSensitive bool) statecheck.StateCheck {
	return stateClean{values, evenSensitive}
}

type stateClean struct {
	values        SecretValues
	evenSensitive bool
}

func (c stateClean) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	if req.State == nil || req.State.Values == nil {
		return
	}
	resp.Error = scanParts("the state", moduleValues(req.State.Values.RootModule, c.evenSensitive), c.values)
}

// CaptureTerraformLogs makes the CLI and the provider under test write TRACE logs to a file of
// the test (terraform-plugin-testing's TF_LOG_PATH_MASK) and returns its path. The test must
// not be parallel.
func CaptureTerraformLogs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TF_LOG_PATH_MASK", filepath.Join(dir, "%s.log"))
	t.Setenv("TF_ACC_LOG", "TRACE") // the CLI's level
	t.Setenv("TF_LOG", "TRACE")     // the provider's (tfsdklog's test sink)
	return filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "__")+".log")
}

// ScanLog returns an error when the log file at path holds a value (or is empty: then it
// captured nothing, and a clean scan would prove nothing). The configuration the testing
// framework echoes is not scanned.
func ScanLog(path string, values SecretValues) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return fmt.Errorf("log %s is empty", path)
	}
	var where []string
	inConfig := false
	for i, line := range strings.Split(string(b), "\n") {
		// The testing framework logs the configuration it writes for each step: the user's own
		// text (like a plan's configuration section), not something the CLI or provider said.
		if strings.TrimSpace(line) == "test_terraform_configuration=" {
			inConfig = true
			continue
		}
		if inConfig && strings.HasPrefix(line, "  |") {
			continue
		}
		inConfig = false
		for _, name := range values.find(line) {
			// Say where, with the value replaced by its name.
			where = append(where, fmt.Sprintf("line %d: %s", i+1, truncateLine(strings.ReplaceAll(line, values[name], "<"+name+">"), 300)))
		}
	}
	if len(where) > 0 {
		return fmt.Errorf("log %s contains secret values:\n  %s", path, strings.Join(where, "\n  "))
	}
	return nil
}

func truncateLine(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
