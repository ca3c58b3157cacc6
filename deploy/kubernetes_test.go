package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestKubernetesManifests(t *testing.T) {
	docs, kust := readManifests(t, kubernetesDir)

	byKind := map[string][]k8sDoc{}
	namespace := ""
	for _, d := range docs {
		if d.APIVersion == "" || d.Kind == "" || d.Metadata.Name == "" {
			t.Errorf("%s: a document lacks apiVersion, kind or metadata.name (%q, %q, %q)", d.file, d.APIVersion, d.Kind, d.Metadata.Name)
			continue
		}
		byKind[d.Kind] = append(byKind[d.Kind], d)
		if d.Kind == "Namespace" {
			namespace = d.Metadata.Name
		}
	}
	for _, d := range docs {
		if namespace != "" && d.Kind != "Namespace" && d.Metadata.Namespace != namespace {
			t.Errorf("%s: namespace %q; want %q", d, d.Metadata.Namespace, namespace)
		}
	}
	one := func(kind string) k8sDoc {
		t.Helper()
		if len(byKind[kind]) != 1 {
			t.Fatalf("want exactly one %s, have %d", kind, len(byKind[kind]))
		}
		return byKind[kind][0]
	}

	// kustomization.yaml lists every manifest but the example Secret.
	if kust == nil {
		t.Fatal("no kustomization.yaml")
	}
	if kust["namespace"] != namespace {
		t.Errorf("kustomization.yaml namespace %v; want %q", kust["namespace"], namespace)
	}
	var listed []string
	res, _ := kust["resources"].([]any)
	for _, r := range res {
		listed = append(listed, fmt.Sprint(r))
	}
	for _, d := range docs {
		in := slices.Contains(listed, d.file)
		if d.file == secretExampleFile && in {
			t.Errorf("kustomization.yaml lists %s: its placeholder token would be deployed", secretExampleFile)
		}
		if d.file != secretExampleFile && !in {
			t.Errorf("kustomization.yaml does not list %s", d.file)
		}
	}
	for _, r := range listed {
		if _, err := os.Stat(filepath.Join(kubernetesDir, r)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}

	// ConfigMap: the daemon config, listening on every interface, and the
	// same keys and values as configs/crawld-daemon.yaml otherwise.
	cmDoc := one("ConfigMap")
	cm := decodeDoc[struct {
		Data map[string]string `yaml:"data"`
	}](t, cmDoc)
	embedded, ok := cm.Data["crawld.yaml"]
	if !ok {
		t.Fatalf("%s: no data key crawld.yaml", cmDoc)
	}
	cfg := parseYAMLMap(t, cmDoc.String()+" crawld.yaml", []byte(embedded))
	if got := cfg["admin.listen"]; got != "0.0.0.0:"+adminPort {
		t.Errorf("%s: admin.listen = %v; want 0.0.0.0:%s", cmDoc, got, adminPort)
	}
	if got := cfg["data_dir"]; got != containerDataDir {
		t.Errorf("%s: data_dir = %v; want %s", cmDoc, got, containerDataDir)
	}
	checkConfigKeys(t, cmDoc.String(), cfg)
	example := daemonConfig(t)
	for k, v := range example {
		if k == "admin.listen" {
			continue
		}
		if got, ok := cfg[k]; !ok || fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s: %s = %v; configs/crawld-daemon.yaml has %v", cmDoc, k, got, v)
		}
	}
	for k := range cfg {
		if _, ok := example[k]; !ok {
			t.Errorf("%s: key %s is not in configs/crawld-daemon.yaml", cmDoc, k)
		}
	}

	// StatefulSet.
	ssDoc := one("StatefulSet")
	ss := decodeDoc[k8sStatefulSet](t, ssDoc)
	spec := ss.Spec
	if spec.Replicas == nil || *spec.Replicas != 1 {
		t.Errorf("%s: replicas must be 1 (single-writer store)", ssDoc)
	}
	pod := spec.Template.Spec
	ann := spec.Template.Metadata.Annotations
	for k, v := range map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   adminPort,
		"prometheus.io/path":   "/metrics",
	} {
		if ann[k] != v {
			t.Errorf("%s: pod annotation %s = %q; want %q", ssDoc, k, ann[k], v)
		}
	}
	for k, v := range spec.Selector.MatchLabels {
		if spec.Template.Metadata.Labels[k] != v {
			t.Errorf("%s: selector %s=%s does not match the pod labels", ssDoc, k, v)
		}
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= defaultShutdown {
		t.Errorf("%s: terminationGracePeriodSeconds must exceed shutdown_grace (%s)", ssDoc, defaultShutdown)
	}
	psc := pod.SecurityContext
	if !isTrue(psc.RunAsNonRoot) {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", ssDoc)
	}
	if psc.RunAsUser == nil || *psc.RunAsUser != containerUID || psc.FSGroup == nil || *psc.FSGroup != containerUID {
		t.Errorf("%s: pod securityContext runAsUser and fsGroup must be %d", ssDoc, containerUID)
	}
	if psc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("%s: pod seccompProfile %q; want RuntimeDefault", ssDoc, psc.SeccompProfile.Type)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers; want 1", ssDoc, len(pod.Containers))
	}
	c := pod.Containers[0]
	if got := probeString(c.LivenessProbe); got != "httpGet /healthz :"+adminPort {
		t.Errorf("%s: livenessProbe %s; want httpGet /healthz :%s", ssDoc, got, adminPort)
	}
	if got := probeString(c.ReadinessProbe); got != "httpGet /readyz :"+adminPort {
		t.Errorf("%s: readinessProbe %s; want httpGet /readyz :%s", ssDoc, got, adminPort)
	}
	csc := c.SecurityContext
	if csc == nil {
		t.Fatalf("%s: container has no securityContext", ssDoc)
	}
	if !isTrue(csc.ReadOnlyRootFilesystem) {
		t.Errorf("%s: readOnlyRootFilesystem is not true", ssDoc)
	}
	if !isFalse(csc.AllowPrivilegeEscalation) {
		t.Errorf("%s: allowPrivilegeEscalation is not false", ssDoc)
	}
	if !slices.Contains(csc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities.drop lacks ALL", ssDoc)
	}
	if !slices.Equal(c.Args, []string{"run", "--config", containerConfDir + "/crawld.yaml"}) {
		t.Errorf("%s: args %q", ssDoc, c.Args)
	}
	if !slices.ContainsFunc(c.Ports, func(p struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	}) bool {
		return p.ContainerPort == 9090 && p.Name == "admin"
	}) {
		t.Errorf("%s: no container port 9090 named admin", ssDoc)
	}
	for _, r := range []struct{ what, got, want string }{
		{"requests.cpu", c.Resources.Requests["cpu"], "250m"},
		{"requests.memory", c.Resources.Requests["memory"], "256Mi"},
		{"limits.cpu", c.Resources.Limits["cpu"], "2"},
		{"limits.memory", c.Resources.Limits["memory"], "1Gi"},
	} {
		if r.got != r.want {
			t.Errorf("%s: resources.%s = %q; want %q", ssDoc, r.what, r.got, r.want)
		}
	}
	tokenOK := false
	for _, e := range c.Env {
		if e.Name == "CRAWLD_ADMIN_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			tokenOK = ref.Name == "crawld-admin" && ref.Key == "token" && isFalse(ref.Optional)
		}
	}
	if !tokenOK {
		t.Errorf("%s: want env CRAWLD_ADMIN_TOKEN from the required secret crawld-admin key token (optional: false): the admin API listens off loopback", ssDoc)
	}
	checkNotInsecure(t, ssDoc.String(), c)
	mounts := map[string]string{} // mountPath -> volume name
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	dataVol, ok := mounts[containerDataDir]
	if !ok {
		t.Errorf("%s: nothing mounted at %s", ssDoc, containerDataDir)
	}
	claimOK := false
	for _, vct := range spec.VolumeClaimTemplates {
		if vct.Metadata.Name == dataVol {
			claimOK = vct.Spec.Resources.Requests["storage"] == "10Gi"
		}
	}
	if !claimOK {
		t.Errorf("%s: %s is not a 10Gi volumeClaimTemplate (mounted volume %q)", ssDoc, containerDataDir, dataVol)
	}
	confVol, ok := mounts[containerConfDir]
	if !ok {
		t.Errorf("%s: nothing mounted at %s", ssDoc, containerConfDir)
	}
	confOK := false
	for _, v := range pod.Volumes {
		if v.Name == confVol && v.ConfigMap != nil {
			confOK = v.ConfigMap.Name == cmDoc.Metadata.Name
		}
	}
	if !confOK {
		t.Errorf("%s: %s is not the ConfigMap %s", ssDoc, containerConfDir, cmDoc.Metadata.Name)
	}

	// Service: ClusterIP on 9090, named admin, selecting the pod.
	svcDoc := one("Service")
	svc := decodeDoc[k8sService](t, svcDoc)
	if svc.Spec.Type != "ClusterIP" {
		t.Errorf("%s: type %q; want ClusterIP", svcDoc, svc.Spec.Type)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9090 || svc.Spec.Ports[0].Name != "admin" {
		t.Errorf("%s: want one port 9090 named admin, have %+v", svcDoc, svc.Spec.Ports)
	}
	if len(svc.Spec.Selector) == 0 {
		t.Errorf("%s: no selector", svcDoc)
	}
	for k, v := range svc.Spec.Selector {
		if spec.Template.Metadata.Labels[k] != v {
			t.Errorf("%s: selector %s=%s does not match the pod labels", svcDoc, k, v)
		}
	}
	if spec.ServiceName != svcDoc.Metadata.Name {
		t.Errorf("%s: serviceName %q; the Service is %q", ssDoc, spec.ServiceName, svcDoc.Metadata.Name)
	}

	// The example Secret is the one the StatefulSet refers to.
	secDoc := one("Secret")
	sec := decodeDoc[struct {
		StringData map[string]string `yaml:"stringData"`
	}](t, secDoc)
	if secDoc.Metadata.Name != "crawld-admin" || sec.StringData["token"] == "" {
		t.Errorf("%s: want Secret crawld-admin with stringData.token", secDoc)
	}
}
