package kube

import (
	"strings"
	"testing"

	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// A version's metrics turn on Flink's Prometheus reporter on a named container port of every
// JobManager and TaskManager, with the scrape annotations on the pods.
func TestRenderMetrics_PrometheusReporterOnANamedPort(t *testing.T) {
	d := testDeployment()
	d.Version.Metrics = &spec.Metrics{Port: 9250, ScrapeAnnotations: true}
	o := mustRender(t, d, nil)
	conf := parseConf(t, o.ConfigMap.Data[flinkconf.ConfigFileYAML])
	if conf["metrics.reporter.prom.factory.class"] != flinkconf.PrometheusReporterFactory || conf["metrics.reporter.prom.port"] != "9250" {
		t.Errorf("reporter configuration: %v", conf)
	}
	for _, dep := range []*appsv1ac.DeploymentApplyConfiguration{o.JobManager, o.TaskManager} {
		found := false
		for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
			found = found || (*p.Name == PortNameMetrics && *p.ContainerPort == 9250)
		}
		if !found {
			t.Errorf("%s has no container port %s = 9250", *dep.Name, PortNameMetrics)
		}
		a := dep.Spec.Template.Annotations
		if a[AnnotationScrape] != "true" || a[AnnotationScrapePort] != "9250" || a[AnnotationScrapePath] != MetricsPath {
			t.Errorf("%s pod annotations %v; want the scrape annotations", *dep.Name, a)
		}
	}

	d.Version.Metrics.ScrapeAnnotations = false
	if a := mustRender(t, d, nil).TaskManager.Spec.Template.Annotations; a[AnnotationScrape] != "" {
		t.Errorf("scrape annotations without scrape_annotations: %v", a)
	}
	d.Version.Metrics = nil
	off := mustRender(t, d, nil)
	if strings.Contains(off.ConfigMap.Data[flinkconf.ConfigFileYAML], "metrics.reporter") || len(off.TaskManager.Spec.Template.Spec.Containers[0].Ports) != 0 {
		t.Errorf("without metrics: a reporter or a TaskManager port was rendered")
	}
}

func TestRenderMetrics_RefusesATakenPortAndTheReporterConfiguredTwice(t *testing.T) {
	for name, c := range map[string]struct {
		port int32
		conf map[string]string
		want string
	}{
		"REST port":        {8081, nil, "metrics.port 8081 is taken"},
		"privileged port":  {80, nil, "not between 1024 and 65535"},
		"reporter by hand": {9249, map[string]string{"metrics.reporter.prom.port": "9300"}, `flink_configuration sets "metrics.reporter.prom.port", which metrics configures`},
	} {
		d := testDeployment()
		d.Version.Metrics = &spec.Metrics{Port: c.port}
		for k, v := range c.conf {
			d.Version.FlinkConfiguration[k] = v
		}
		if _, err := Render(d, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want %q", name, err, c.want)
		}
	}
}
