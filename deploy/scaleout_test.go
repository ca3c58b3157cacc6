package deploy

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The scale-out example: crawld pods sharing one crawl in a Redis.
const (
	scaleoutDir      = "kubernetes-scaleout"
	crawldName       = "crawld"        // the crawld StatefulSet and Service
	crawldConfigName = "crawld-config" // its ConfigMap
	redisName        = "redis"         // the Redis StatefulSet and Service
	redisConfigName  = "redis-config"  // its ConfigMap
	redisConfFile    = "redis.conf"
	redisPort        = 6379
	redisUID         = 999
)

// scaleout is deploy/kubernetes-scaleout, parsed.
type scaleout struct {
	docs      []k8sDoc
	kust      map[string]any
	namespace string
}

func readScaleout(t *testing.T) scaleout {
	t.Helper()
	docs, kust := readManifests(t, scaleoutDir)
	s := scaleout{docs: docs, kust: kust}
	for _, d := range docs {
		if d.APIVersion == "" || d.Kind == "" || d.Metadata.Name == "" {
			t.Fatalf("%s: a document lacks apiVersion, kind or metadata.name (%q, %q, %q)", d.file, d.APIVersion, d.Kind, d.Metadata.Name)
		}
		if d.Kind == "Namespace" {
			s.namespace = d.Metadata.Name
		}
	}
	return s
}

// get returns the document of that kind and name.
func (s scaleout) get(t *testing.T, kind, name string) k8sDoc {
	t.Helper()
	for _, d := range s.docs {
		if d.Kind == kind && d.Metadata.Name == name {
			return d
		}
	}
	t.Fatalf("%s: no %s %s", scaleoutDir, kind, name)
	return k8sDoc{}
}

func (s scaleout) statefulSet(t *testing.T, name string) (k8sDoc, k8sStatefulSet) {
	t.Helper()
	d := s.get(t, "StatefulSet", name)
	return d, decodeDoc[k8sStatefulSet](t, d)
}

func (s scaleout) service(t *testing.T, name string) (k8sDoc, k8sService) {
	t.Helper()
	d := s.get(t, "Service", name)
	return d, decodeDoc[k8sService](t, d)
}

// configMapData returns the data key of the ConfigMap name.
func (s scaleout) configMapData(t *testing.T, name, key string) string {
	t.Helper()
	d := s.get(t, "ConfigMap", name)
	cm := decodeDoc[struct {
		Data map[string]string `yaml:"data"`
	}](t, d)
	v, ok := cm.Data[key]
	if !ok {
		t.Fatalf("%s: no data key %s", d, key)
	}
	return v
}

// crawldConfig is the daemon config of the scale-out ConfigMap, flattened.
func (s scaleout) crawldConfig(t *testing.T) (string, map[string]any) {
	t.Helper()
	text := s.configMapData(t, crawldConfigName, "crawld.yaml")
	return text, parseYAMLMap(t, scaleoutDir+"/"+crawldConfigName+" crawld.yaml", []byte(text))
}

// selects reports whether a selector picks pods with these labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkHardened checks a container's securityContext (with its pod's
// runAsNonRoot): non-root, no privilege escalation, no capabilities, a
// read-only root file system.
func checkHardened(t *testing.T, where string, podNonRoot *bool, c k8sContainer) {
	t.Helper()
	where += " container " + c.Name
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: no securityContext", where)
		return
	}
	if !isTrue(sc.RunAsNonRoot) && !(sc.RunAsNonRoot == nil && isTrue(podNonRoot)) {
		t.Errorf("%s: runAsNonRoot is not true", where)
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		t.Errorf("%s: runAsUser 0", where)
	}
	if isTrue(sc.Privileged) {
		t.Errorf("%s: privileged", where)
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		t.Errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities.drop lacks ALL", where)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("%s: readOnlyRootFilesystem is not true", where)
	}
}

// checkPodSecurity checks a pod's securityContext: non-root as uid (and
// fsGroup, which makes its volumes writable), seccomp RuntimeDefault.
func checkPodSecurity(t *testing.T, d k8sDoc, ss k8sStatefulSet, uid int) {
	t.Helper()
	psc := ss.Spec.Template.Spec.SecurityContext
	if !isTrue(psc.RunAsNonRoot) {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", d)
	}
	if psc.RunAsUser == nil || *psc.RunAsUser != uid || psc.FSGroup == nil || *psc.FSGroup != uid {
		t.Errorf("%s: pod securityContext runAsUser and fsGroup must be %d", d, uid)
	}
	if psc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("%s: pod seccompProfile %q; want RuntimeDefault", d, psc.SeccompProfile.Type)
	}
	for _, c := range slices.Concat(ss.Spec.Template.Spec.InitContainers, ss.Spec.Template.Spec.Containers) {
		checkHardened(t, d.String(), psc.RunAsNonRoot, c)
	}
}

// mountedClaim returns the volumeClaimTemplate mounted at dir in c, if any.
func mountedClaim(ss k8sStatefulSet, c k8sContainer, dir string) (name, size string, ok bool) {
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		for _, vct := range ss.Spec.VolumeClaimTemplates {
			if vct.Metadata.Name == m.Name {
				return vct.Metadata.Name, vct.Spec.Resources.Requests["storage"], true
			}
		}
	}
	return "", "", false
}

// mountedConfigMapFile returns where the key of ConfigMap cm appears in c's
// file system, if it does.
func mountedConfigMapFile(ss k8sStatefulSet, c k8sContainer, cm, key string) (string, bool) {
	for _, v := range ss.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil || v.ConfigMap.Name != cm {
			continue
		}
		file := key
		if len(v.ConfigMap.Items) > 0 {
			file = ""
			for _, it := range v.ConfigMap.Items {
				if it.Key == key {
					file = it.Path
				}
			}
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && file != "" {
				return path.Join(m.MountPath, file), true
			}
		}
	}
	return "", false
}

// TestScaleoutKustomization: one namespace for everything, enforcing the
// restricted Pod Security Standard, and kustomization.yaml lists every
// manifest but the example Secret, all from this directory.
func TestScaleoutKustomization(t *testing.T) {
	s := readScaleout(t)
	if s.namespace == "" {
		t.Fatalf("%s: no Namespace", scaleoutDir)
	}
	ns := s.get(t, "Namespace", s.namespace)
	if got := ns.Metadata.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("%s: pod-security.kubernetes.io/enforce = %q; want restricted", ns, got)
	}
	for _, d := range s.docs {
		if d.Kind != "Namespace" && d.Metadata.Namespace != s.namespace {
			t.Errorf("%s: namespace %q; want %q", d, d.Metadata.Namespace, s.namespace)
		}
	}
	if s.kust == nil {
		t.Fatalf("%s: no kustomization.yaml", scaleoutDir)
	}
	if s.kust["namespace"] != s.namespace {
		t.Errorf("%s/kustomization.yaml: namespace %v; want %q", scaleoutDir, s.kust["namespace"], s.namespace)
	}
	var listed []string
	res, _ := s.kust["resources"].([]any)
	for _, r := range res {
		listed = append(listed, fmt.Sprint(r))
	}
	files := map[string]bool{}
	for _, d := range s.docs {
		files[d.file] = true
	}
	for f := range files {
		in := slices.Contains(listed, f)
		if f == secretExampleFile && in {
			t.Errorf("%s/kustomization.yaml lists %s: its placeholder token would be deployed", scaleoutDir, secretExampleFile)
		}
		if f != secretExampleFile && !in {
			t.Errorf("%s/kustomization.yaml does not list %s", scaleoutDir, f)
		}
	}
	for _, r := range listed {
		if strings.Contains(r, "/") {
			t.Errorf("%s/kustomization.yaml: resource %s is outside the directory; keep the example self-contained", scaleoutDir, r)
		}
		if _, err := os.Stat(filepath.Join(scaleoutDir, r)); err != nil {
			t.Errorf("%s/kustomization.yaml: %v", scaleoutDir, err)
		}
	}
	if secret := s.get(t, "Secret", "crawld-admin"); secret.file != secretExampleFile {
		t.Errorf("%s is not in %s", secret, secretExampleFile)
	}
}
