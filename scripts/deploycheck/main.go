// Command deploycheck holds the checks of scripts/validate-deploy.sh that need a real parser
// rather than a JSON schema:
//
//	deploycheck compose FILE         load FILE with the Compose Specification's own loader
//	                                 (compose-go: schema, interpolation, references), then check
//	                                 healthchecks, depends_on conditions and bind-mount sources
//	deploycheck k8s FILE...          rendered manifests: strict-decode the Prometheus Operator
//	                                 kinds with the operator's Go types (kubeconform has no
//	                                 schema for them offline), and check that every ConfigMap,
//	                                 ServiceAccount, selector and named port a manifest refers to
//	                                 exists in the same rendering
//	deploycheck dockerfile FILE DIR  parse FILE with BuildKit's own Dockerfile parser and lint
//	                                 rules; every COPY source from the build context DIR exists
//	                                 and is not excluded by DIR/.dockerignore
//	deploycheck promconfig FILE...   load Prometheus configurations with Prometheus' own config
//	                                 package (the version the images run, with Kubernetes
//	                                 service discovery, which Debian's promtool is built without)
//	deploycheck yaml FILE...         every YAML document in each file parses
//	deploycheck promql FILE...       Grafana dashboards and Prometheus rule files: every metric
//	                                 named is one sluice exports; dashboards' queries are written
//	                                 out (-rules OUT) as recording rules for `promtool check rules`
//
// It exits 1 with one line per problem, 0 when there is none.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/promslog"
	promconfig "github.com/prometheus/prometheus/config"
	_ "github.com/prometheus/prometheus/discovery/kubernetes"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var problems []string
	var err error
	switch os.Args[1] {
	case "compose":
		if len(os.Args) != 3 {
			usage()
		}
		problems, err = checkCompose(os.Args[2])
	case "k8s":
		if len(os.Args) < 3 {
			usage()
		}
		problems, err = checkKubernetes(os.Args[2:])
	case "dockerfile":
		if len(os.Args) != 4 {
			usage()
		}
		problems, err = checkDockerfile(os.Args[2], os.Args[3])
	case "promconfig":
		if len(os.Args) < 3 {
			usage()
		}
		problems, err = checkPrometheusConfig(os.Args[2:])
	case "yaml":
		if len(os.Args) < 3 {
			usage()
		}
		problems, err = checkYAML(os.Args[2:])
	case "promql":
		fs := flag.NewFlagSet("promql", flag.ExitOnError)
		out := fs.String("rules", "", "write the dashboards' queries to this file as recording rules")
		_ = fs.Parse(os.Args[2:])
		if fs.NArg() == 0 {
			usage()
		}
		problems, err = checkPromQL(fs.Args(), *out)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploycheck:", err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Println("  problem:", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: deploycheck compose FILE | k8s FILE... | dockerfile FILE DIR | promconfig FILE... | yaml FILE... | promql [-rules OUT] FILE...")
	os.Exit(2)
}

// ---------------------------------------------------------------------------------- compose

func checkCompose(path string) ([]string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	opts, err := cli.NewProjectOptions([]string{abs}, cli.WithWorkingDirectory(dir), cli.WithOsEnv, cli.WithDotEnv)
	if err != nil {
		return nil, err
	}
	// Validation against the Compose Specification schema happens inside the loader.
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}, nil
	}
	var problems []string
	names := project.ServiceNames()
	sort.Strings(names)
	for _, name := range names {
		svc := project.Services[name]
		if svc.HealthCheck == nil || svc.HealthCheck.Disable || len(svc.HealthCheck.Test) == 0 {
			problems = append(problems, fmt.Sprintf("service %s has no healthcheck", name))
		}
		for dep, cond := range svc.DependsOn {
			target, ok := project.Services[dep]
			if !ok {
				problems = append(problems, fmt.Sprintf("service %s depends on unknown service %s", name, dep))
				continue
			}
			if cond.Condition == types.ServiceConditionHealthy && (target.HealthCheck == nil || target.HealthCheck.Disable) {
				problems = append(problems, fmt.Sprintf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep))
			}
		}
		for _, v := range svc.Volumes {
			// Sources inside the repository must exist; host paths (/var/log) are the host's.
			if v.Type == types.VolumeTypeBind && strings.HasPrefix(v.Source, filepath.Dir(filepath.Dir(dir))) {
				if _, err := os.Stat(v.Source); err != nil {
					problems = append(problems, fmt.Sprintf("service %s mounts %s, which does not exist", name, v.Source))
				}
			}
		}
		if svc.Build != nil {
			ctxDir := svc.Build.Context
			if _, err := os.Stat(ctxDir); err != nil {
				problems = append(problems, fmt.Sprintf("service %s builds from %s, which does not exist", name, ctxDir))
			}
			dockerfile := svc.Build.Dockerfile
			if !filepath.IsAbs(dockerfile) {
				dockerfile = filepath.Join(ctxDir, dockerfile)
			}
			if _, err := os.Stat(dockerfile); err != nil {
				problems = append(problems, fmt.Sprintf("service %s builds with %s, which does not exist", name, dockerfile))
			}
		}
	}
	fmt.Printf("  compose: %d services (%s) valid against the Compose Specification\n", len(names), strings.Join(names, ", "))
	return problems, nil
}

// ---------------------------------------------------------------------------------- kubernetes

type object struct {
	source string
	raw    []byte
	meta   struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
	}
}

func (o *object) id() string {
	return fmt.Sprintf("%s %s/%s (%s)", o.meta.Kind, o.meta.Metadata.Namespace, o.meta.Metadata.Name, o.source)
}

// workload is what the reference checks need from anything that runs pods.
type workload struct {
	obj      *object
	template corev1.PodTemplateSpec
	selector map[string]string
}

func readObjects(paths []string) ([]*object, error) {
	var objs []*object
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			o := &object{source: p}
			o.raw, err = yaml.YAMLToJSON(doc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			if string(o.raw) == "null" {
				continue
			}
			if err := json.Unmarshal(o.raw, &o.meta); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			objs = append(objs, o)
		}
	}
	return objs, nil
}

// strictDecode rejects fields the Go type does not have, as the API server's strict field
// validation does.
func strictDecode(raw []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

type objectKey struct{ kind, namespace, name string }

func checkKubernetes(paths []string) ([]string, error) {
	objs, err := readObjects(paths)
	if err != nil {
		return nil, err
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	exists := map[objectKey]bool{}
	for _, o := range objs {
		exists[objectKey{o.meta.Kind, o.meta.Metadata.Namespace, o.meta.Metadata.Name}] = true
	}
	has := func(kind string, o *object, name string) bool {
		return exists[objectKey{kind, o.meta.Metadata.Namespace, name}]
	}

	var workloads []workload
	type service struct {
		obj  *object
		spec corev1.ServiceSpec
	}
	var services []service
	type budget struct {
		obj      *object
		selector map[string]string
	}
	var budgets []budget
	monitors := 0

	for _, o := range objs {
		switch {
		case strings.HasPrefix(o.meta.APIVersion, "monitoring.coreos.com/"):
			monitors++
			problems = append(problems, checkMonitor(o)...)
		case o.meta.Kind == "Deployment":
			var d appsv1.Deployment
			if err := strictDecode(o.raw, &d); err != nil {
				add("%s: %v", o.id(), err)
				continue
			}
			workloads = append(workloads, workload{o, d.Spec.Template, matchLabels(d.Spec.Selector)})
		case o.meta.Kind == "StatefulSet":
			var s appsv1.StatefulSet
			if err := strictDecode(o.raw, &s); err != nil {
				add("%s: %v", o.id(), err)
				continue
			}
			workloads = append(workloads, workload{o, s.Spec.Template, matchLabels(s.Spec.Selector)})
			if s.Spec.ServiceName != "" && !has("Service", o, s.Spec.ServiceName) {
				add("%s: serviceName %s is not in the rendering", o.id(), s.Spec.ServiceName)
			}
		case o.meta.Kind == "DaemonSet":
			var d appsv1.DaemonSet
			if err := strictDecode(o.raw, &d); err != nil {
				add("%s: %v", o.id(), err)
				continue
			}
			workloads = append(workloads, workload{o, d.Spec.Template, matchLabels(d.Spec.Selector)})
		case o.meta.Kind == "CronJob":
			var c batchv1.CronJob
			if err := strictDecode(o.raw, &c); err != nil {
				add("%s: %v", o.id(), err)
				continue
			}
			workloads = append(workloads, workload{o, c.Spec.JobTemplate.Spec.Template, nil})
		case o.meta.Kind == "Service":
			var s corev1.Service
			if err := strictDecode(o.raw, &s); err != nil {
				add("%s: %v", o.id(), err)
				continue
			}
			services = append(services, service{o, s.Spec})
		case o.meta.Kind == "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			if err := strictDecode(o.raw, &p); err != nil {
				add("%s: %v", o.id(), err)
				continue
			}
			budgets = append(budgets, budget{o, matchLabels(p.Spec.Selector)})
		}
	}

	selects := func(sel map[string]string, o *object, w workload) bool {
		return len(sel) > 0 && w.obj.meta.Metadata.Namespace == o.meta.Metadata.Namespace &&
			labels.SelectorFromSet(sel).Matches(labels.Set(w.template.Labels))
	}

	for _, w := range workloads {
		if w.selector != nil && !labels.SelectorFromSet(w.selector).Matches(labels.Set(w.template.Labels)) {
			add("%s: the selector does not match the pod template's labels", w.obj.id())
		}
		spec := w.template.Spec
		if sa := spec.ServiceAccountName; sa != "" && sa != "default" && !has("ServiceAccount", w.obj, sa) {
			add("%s: serviceAccountName %s is not in the rendering", w.obj.id(), sa)
		}
		for _, cm := range configMapsOf(spec) {
			if !has("ConfigMap", w.obj, cm) {
				add("%s: ConfigMap %s is not in the rendering", w.obj.id(), cm)
			}
		}
		for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
			if c.Resources.Limits.Memory().IsZero() {
				add("%s: container %s has no memory limit", w.obj.id(), c.Name)
			}
			if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
				add("%s: container %s does not set allowPrivilegeEscalation: false", w.obj.id(), c.Name)
			}
		}
	}

	for _, s := range services {
		var pods []corev1.PodTemplateSpec
		for _, w := range workloads {
			if selects(s.spec.Selector, s.obj, w) {
				pods = append(pods, w.template)
			}
		}
		if len(pods) == 0 {
			add("%s: its selector matches no workload", s.obj.id())
			continue
		}
		for _, p := range s.spec.Ports {
			if p.TargetPort.StrVal == "" {
				continue
			}
			for _, pod := range pods {
				if !hasNamedPort(pod, p.TargetPort.StrVal, p.Protocol) {
					add("%s: port %s targets %s/%s, which a selected pod does not declare", s.obj.id(), p.Name, p.TargetPort.StrVal, protocolOf(p.Protocol))
				}
			}
		}
	}

	for _, b := range budgets {
		matched := false
		for _, w := range workloads {
			matched = matched || selects(b.selector, b.obj, w)
		}
		if !matched {
			add("%s: its selector matches no workload", b.obj.id())
		}
	}

	fmt.Printf("  references: %d objects, %d workloads, %d services, %d Prometheus Operator monitors checked\n",
		len(objs), len(workloads), len(services), monitors)
	return problems, nil
}

// checkMonitor decodes a Prometheus Operator object with the operator's own types.
func checkMonitor(o *object) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch {
	case o.meta.APIVersion == "monitoring.coreos.com/v1" && o.meta.Kind == "ServiceMonitor":
		var sm monitoringv1.ServiceMonitor
		if err := strictDecode(o.raw, &sm); err != nil {
			add("%s: %v", o.id(), err)
		} else if len(sm.Spec.Endpoints) == 0 {
			add("%s: no endpoints", o.id())
		} else if len(sm.Spec.Selector.MatchLabels) == 0 && len(sm.Spec.Selector.MatchExpressions) == 0 {
			add("%s: an empty selector selects every Service", o.id())
		}
	case o.meta.APIVersion == "monitoring.coreos.com/v1" && o.meta.Kind == "PodMonitor":
		var pm monitoringv1.PodMonitor
		if err := strictDecode(o.raw, &pm); err != nil {
			add("%s: %v", o.id(), err)
		} else if len(pm.Spec.PodMetricsEndpoints) == 0 {
			add("%s: no podMetricsEndpoints", o.id())
		} else if len(pm.Spec.Selector.MatchLabels) == 0 && len(pm.Spec.Selector.MatchExpressions) == 0 {
			add("%s: an empty selector selects every pod", o.id())
		}
	default:
		add("%s: no schema known for %s %s", o.id(), o.meta.APIVersion, o.meta.Kind)
	}
	return problems
}

func matchLabels(s *metav1.LabelSelector) map[string]string {
	if s == nil {
		return nil
	}
	return s.MatchLabels
}

// configMapsOf lists the ConfigMaps a pod spec reads: volumes, projections, env and envFrom.
func configMapsOf(spec corev1.PodSpec) []string {
	var names []string
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil && !isOptional(v.ConfigMap.Optional) {
			names = append(names, v.ConfigMap.Name)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.ConfigMap != nil && !isOptional(src.ConfigMap.Optional) {
					names = append(names, src.ConfigMap.Name)
				}
			}
		}
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil && !isOptional(e.ValueFrom.ConfigMapKeyRef.Optional) {
				names = append(names, e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil && !isOptional(e.ConfigMapRef.Optional) {
				names = append(names, e.ConfigMapRef.Name)
			}
		}
	}
	sort.Strings(names)
	return slices.Compact(names)
}

func isOptional(b *bool) bool { return b != nil && *b }

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func hasNamedPort(pod corev1.PodTemplateSpec, name string, protocol corev1.Protocol) bool {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name && protocolOf(p.Protocol) == protocolOf(protocol) {
				return true
			}
		}
	}
	return false
}

// ---------------------------------------------------------------------------------- promql

// exported lists the metrics sluice serves on /metrics. A histogram's series add _bucket, _sum
// and _count.
var exported = map[string]bool{
	"sluice_build_info":               true,
	"sluice_events_in_total":          true,
	"sluice_events_filtered_total":    true,
	"sluice_events_out_total":         true,
	"sluice_events_dropped_total":     true,
	"sluice_queue_events":             true,
	"sluice_queue_capacity_events":    true,
	"sluice_batch_duration_seconds":   true,
	"sluice_plugin_events_in_total":   true,
	"sluice_plugin_events_out_total":  true,
	"sluice_plugin_failures_total":    true,
	"sluice_output_requests_total":    true,
	"sluice_output_retries_total":     true,
	"sluice_dead_letter_events_total": true,
	"sluice_input_connections":        true,
	"sluice_udp_dropped_total":        true,
	"sluice_config_reloads_total":     true,
	"sluice_ilm_actions_total":        true,
	"sluice_ilm_runs_total":           true,
	"process_cpu_seconds_total":       true,
	"process_resident_memory_bytes":   true,
	"process_open_fds":                true,
	"process_max_fds":                 true,
	"process_start_time_seconds":      true,
	"up":                              true,
}

var histograms = map[string]bool{"sluice_batch_duration_seconds": true}

// A metric name in a query: an identifier of sluice's or the process collector's, or `up`
// followed by a selector.
var metricRef = regexp.MustCompile(`\b((?:sluice|process)_[a-z0-9_]+|up)\s*[{\[]`)
var bareMetric = regexp.MustCompile(`\b((?:sluice|process)_[a-z0-9_]+)\b`)

func knownMetric(name string) bool {
	if exported[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && histograms[base] {
			return true
		}
	}
	return false
}

// Grafana variables, replaced by values that keep the query valid PromQL.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "2m",
	"$__interval", "1m",
	"$__range", "1h",
	"$job", ".*",
	"$instance", ".*",
	"$pipeline", ".*",
)

func checkPromQL(paths []string, rulesOut string) ([]string, error) {
	var problems []string
	var rules bytes.Buffer
	rules.WriteString("# Generated by deploycheck: the dashboards' queries, for promtool check rules.\ngroups:\n")
	queries := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var exprs []string
		if strings.HasSuffix(p, ".json") {
			var dash any
			if err := json.Unmarshal(data, &dash); err != nil {
				problems = append(problems, fmt.Sprintf("%s: not JSON: %v", p, err))
				continue
			}
			problems = append(problems, checkDashboard(p, dash)...)
			exprs = prometheusExprs(dash)
			fmt.Fprintf(&rules, "  - name: %q\n    rules:\n", filepath.Base(p))
			for i, e := range exprs {
				fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", i+1, mustJSON(grafanaVars.Replace(e)))
			}
		} else {
			var file struct {
				Groups []struct {
					Rules []struct {
						Expr string `json:"expr"`
					} `json:"rules"`
				} `json:"groups"`
			}
			if err := yaml.Unmarshal(data, &file); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", p, err))
				continue
			}
			for _, g := range file.Groups {
				for _, r := range g.Rules {
					exprs = append(exprs, r.Expr)
				}
			}
		}
		for _, e := range exprs {
			queries++
			names := map[string]bool{}
			for _, m := range metricRef.FindAllStringSubmatch(e, -1) {
				names[m[1]] = true
			}
			for _, m := range bareMetric.FindAllStringSubmatch(e, -1) {
				names[m[1]] = true
			}
			for n := range names {
				if !knownMetric(n) {
					problems = append(problems, fmt.Sprintf("%s: %s is not a metric sluice exports (in %q)", p, n, e))
				}
			}
		}
	}
	if rulesOut != "" {
		if err := os.WriteFile(rulesOut, rules.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	fmt.Printf("  promql: metric names of %d queries in %d files checked against what sluice exports\n", queries, len(paths))
	return problems, nil
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// prometheusExprs walks a dashboard for the queries of Prometheus targets and annotations.
func prometheusExprs(node any) []string {
	var out []string
	var walk func(any)
	walk = func(n any) {
		switch v := n.(type) {
		case map[string]any:
			if expr, ok := v["expr"].(string); ok && isPrometheus(v["datasource"]) {
				out = append(out, expr)
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(node)
	sort.Strings(out)
	return out
}

func isPrometheus(ds any) bool {
	m, ok := ds.(map[string]any)
	return ok && m["type"] == "prometheus"
}

// checkDashboard checks what Grafana would otherwise only show as a broken panel: unique panel
// ids, a uid and title, and data sources given through the dashboard's variables.
func checkDashboard(path string, dash any) []string {
	var problems []string
	d, ok := dash.(map[string]any)
	if !ok {
		return []string{path + ": not a dashboard object"}
	}
	for _, k := range []string{"uid", "title", "panels", "schemaVersion"} {
		if _, ok := d[k]; !ok {
			problems = append(problems, fmt.Sprintf("%s: no %s", path, k))
		}
	}
	vars := map[string]bool{}
	if t, ok := d["templating"].(map[string]any); ok {
		for _, v := range asList(t["list"]) {
			if m, ok := v.(map[string]any); ok {
				vars["${"+fmt.Sprint(m["name"])+"}"] = true
			}
		}
	}
	ids := map[float64]bool{}
	for _, p := range asList(d["panels"]) {
		panel, _ := p.(map[string]any)
		id, _ := panel["id"].(float64)
		if ids[id] {
			problems = append(problems, fmt.Sprintf("%s: panel id %v used twice", path, id))
		}
		ids[id] = true
		if panel["type"] == "row" {
			continue
		}
		if ds, ok := panel["datasource"].(map[string]any); !ok || !vars[fmt.Sprint(ds["uid"])] {
			problems = append(problems, fmt.Sprintf("%s: panel %q does not take its data source from a dashboard variable", path, panel["title"]))
		}
		if len(asList(panel["targets"])) == 0 {
			problems = append(problems, fmt.Sprintf("%s: panel %q has no query", path, panel["title"]))
		}
	}
	return problems
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// ---------------------------------------------------------------------------------- yaml

// checkYAML parses every document of each file, so a configuration that only its own program
// reads (filebeat.yml, loki.yaml, sluice.yml) is at least well-formed YAML.
func checkYAML(paths []string) ([]string, error) {
	var problems []string
	docs := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", p, err))
				break
			}
			var v any
			if err := yaml.Unmarshal(doc, &v); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", p, err))
			}
			docs++
		}
	}
	fmt.Printf("  yaml: %d documents in %d files parse\n", docs, len(paths))
	return problems, nil
}

// ---------------------------------------------------------------------------------- dockerfile

func checkDockerfile(path, contextDir string) ([]string, error) {
	var problems []string
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}, nil
	}
	for _, w := range ast.Warnings {
		problems = append(problems, fmt.Sprintf("%s: %s", path, w.Short))
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", path, line, rule, msg))
	}})
	stages, _, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		return append(problems, fmt.Sprintf("%s: %v", path, err)), nil
	}

	var excludes []string
	if ig, err := os.Open(filepath.Join(contextDir, ".dockerignore")); err == nil {
		excludes, err = ignorefile.ReadAll(ig)
		ig.Close()
		if err != nil {
			return nil, err
		}
	}
	matcher, err := patternmatcher.New(excludes)
	if err != nil {
		return nil, err
	}

	copies := 0
	for _, stage := range stages {
		for _, cmd := range stage.Commands {
			c, ok := cmd.(*instructions.CopyCommand)
			if !ok || c.From != "" {
				continue
			}
			for _, src := range c.SourcePaths {
				copies++
				rel := filepath.Clean(strings.TrimPrefix(src, "/"))
				if rel == "." {
					continue
				}
				if _, err := os.Stat(filepath.Join(contextDir, rel)); err != nil {
					problems = append(problems, fmt.Sprintf("%s: COPY %s: not in the build context %s", path, src, contextDir))
					continue
				}
				if excluded, _ := matcher.MatchesOrParentMatches(filepath.ToSlash(rel)); excluded {
					problems = append(problems, fmt.Sprintf("%s: COPY %s: excluded by .dockerignore", path, src))
				}
			}
		}
	}
	fmt.Printf("  dockerfile: %d stages, %d COPY sources checked against the build context\n", len(stages), copies)
	return problems, nil
}

// ---------------------------------------------------------------------------------- promconfig

func checkPrometheusConfig(paths []string) ([]string, error) {
	var problems []string
	for _, p := range paths {
		cfg, err := promconfig.LoadFile(p, false, promslog.NewNopLogger())
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		var missing []string
		for _, pattern := range cfg.RuleFiles {
			matches, err := filepath.Glob(pattern)
			if err != nil || len(matches) == 0 {
				missing = append(missing, pattern)
			}
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("%s: rule files not found: %s", p, strings.Join(missing, ", ")))
		}
		jobs := make([]string, 0, len(cfg.ScrapeConfigs))
		for _, sc := range cfg.ScrapeConfigs {
			jobs = append(jobs, sc.JobName)
		}
		fmt.Printf("  promconfig: %s loads (jobs: %s; %d rule files)\n", filepath.Base(p), strings.Join(jobs, ", "), len(cfg.RuleFiles))
	}
	return problems, nil
}
