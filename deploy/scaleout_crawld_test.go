package deploy

import (
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkKnownKeys fails for a key that configs/crawld.yaml, which lists every
// key, does not have (a typo would stop crawld with exit code 2). Nested
// maps are compared by their dotted keys.
func checkKnownKeys(t *testing.T, name string, cfg map[string]any) {
	t.Helper()
	known := parseYAMLMap(t, crawlConfigPath, readFile(t, crawlConfigPath))
	for k := range cfg {
		// user_agent is in configs/crawld.yaml, commented out (its default
		// depends on the version).
		if _, ok := known[k]; !ok && k != "user_agent" {
			t.Errorf("%s: unknown key %q (not in %s)", name, k, crawlConfigPath)
		}
	}
}

// configDuration reads a duration key of a config, or def if it is absent.
func configDuration(t *testing.T, name string, cfg map[string]any, key string, def time.Duration) time.Duration {
	t.Helper()
	v, ok := cfg[key]
	if !ok {
		return def
	}
	switch v := v.(type) {
	case int:
		if v == 0 {
			return 0
		}
	case string:
		d, err := time.ParseDuration(v)
		if err == nil {
			return d
		}
	}
	t.Errorf("%s: %s = %v is not a duration", name, key, v)
	return def
}

// TestScaleoutCrawld: several crawld pods, each named by its pod, hardened,
// probed on the admin port, with a volume for its own records.
func TestScaleoutCrawld(t *testing.T) {
	s := readScaleout(t)
	ssDoc, ss := s.statefulSet(t, crawldName)
	spec := ss.Spec
	pod := spec.Template.Spec
	labels := spec.Template.Metadata.Labels
	_, cfg := s.crawldConfig(t)

	if spec.Replicas == nil || *spec.Replicas < 2 {
		t.Errorf("%s: want replicas 2 or more (a shared crawl)", ssDoc)
	}
	if spec.PodManagementPolicy != "Parallel" {
		t.Errorf("%s: podManagementPolicy %q; want Parallel (the pods do not depend on one another)", ssDoc, spec.PodManagementPolicy)
	}
	if !selects(spec.Selector.MatchLabels, labels) {
		t.Errorf("%s: selector %v does not match the pod labels %v", ssDoc, spec.Selector.MatchLabels, labels)
	}
	for k, v := range map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   adminPort,
		"prometheus.io/path":   "/metrics",
	} {
		if got := spec.Template.Metadata.Annotations[k]; got != v {
			t.Errorf("%s: pod annotation %s = %q; want %q", ssDoc, k, got, v)
		}
	}
	grace := configDuration(t, crawldConfigName, cfg, "shutdown_grace", defaultShutdown)
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= grace {
		t.Errorf("%s: terminationGracePeriodSeconds must exceed shutdown_grace (%s)", ssDoc, grace)
	}
	checkPodSecurity(t, ssDoc, ss, containerUID)

	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers; want 1", ssDoc, len(pod.Containers))
	}
	c := pod.Containers[0]
	if !slices.Equal(c.Args, []string{"run", "--config", containerConfDir + "/crawld.yaml"}) {
		t.Errorf("%s: args %q", ssDoc, c.Args)
	}
	for _, p := range []struct {
		what  string
		probe *k8sProbe
		want  string
	}{
		{"startupProbe", c.StartupProbe, "httpGet /healthz :" + adminPort},
		{"livenessProbe", c.LivenessProbe, "httpGet /healthz :" + adminPort},
		{"readinessProbe", c.ReadinessProbe, "httpGet /readyz :" + adminPort},
	} {
		if got := probeString(p.probe); got != p.want {
			t.Errorf("%s: %s %s; want %s", ssDoc, p.what, got, p.want)
		}
	}
	portOK := false
	for _, p := range c.Ports {
		portOK = portOK || p.Name == "admin" && strconv.Itoa(p.ContainerPort) == adminPort
	}
	if !portOK {
		t.Errorf("%s: no container port %s named admin", ssDoc, adminPort)
	}

	nodeIDOK, tokenOK := false, false
	for _, e := range c.Env {
		switch {
		case e.Name == "CRAWLD_NODE_ID":
			nodeIDOK = e.Value == "" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
		case e.Name == "CRAWLD_ADMIN_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			tokenOK = ref.Name == "crawld-admin" && ref.Key == "token" && isFalse(ref.Optional)
		case e.Name == "CRAWLD_STORAGE" || strings.HasPrefix(e.Name, "CRAWLD_REDIS_") || e.Name == "CRAWLD_RECRAWL_INTERVAL":
			t.Errorf("%s: env %s overrides the shared crawl's settings of the ConfigMap", ssDoc, e.Name)
		}
	}
	if !nodeIDOK {
		t.Errorf("%s: want env CRAWLD_NODE_ID from fieldRef metadata.name (the pod's name is the node id)", ssDoc)
	}
	if !tokenOK {
		t.Errorf("%s: want env CRAWLD_ADMIN_TOKEN from the required secret crawld-admin key token (optional: false): the admin API listens off loopback", ssDoc)
	}
	checkNotInsecure(t, ssDoc.String(), c)

	// The config comes from the ConfigMap; the records go to the pod's own
	// persistent volume.
	if got, ok := mountedConfigMapFile(ss, c, crawldConfigName, "crawld.yaml"); !ok || got != containerConfDir+"/crawld.yaml" {
		t.Errorf("%s: %s/crawld.yaml is not the ConfigMap %s (have %q)", ssDoc, containerConfDir, crawldConfigName, got)
	}
	out, _ := cfg["output"].(string)
	if !path.IsAbs(out) {
		t.Errorf("%s: output %q; want a file on the pod's volume", crawldConfigName, out)
	} else if claim, size, ok := mountedClaim(ss, c, path.Dir(out)); !ok || size == "" {
		t.Errorf("%s: the records' directory %s is not a volumeClaimTemplate with a size (claim %q, size %q)", ssDoc, path.Dir(out), claim, size)
	}

	// The admin Service selects these pods, and only them.
	svcDoc, svc := s.service(t, crawldName)
	if svc.Spec.Type != "ClusterIP" {
		t.Errorf("%s: type %q; want ClusterIP", svcDoc, svc.Spec.Type)
	}
	if len(svc.Spec.Ports) != 1 || strconv.Itoa(svc.Spec.Ports[0].Port) != adminPort || svc.Spec.Ports[0].Name != "admin" {
		t.Errorf("%s: want one port %s named admin, have %+v", svcDoc, adminPort, svc.Spec.Ports)
	}
	if !selects(svc.Spec.Selector, labels) {
		t.Errorf("%s: selector %v does not match the crawld pods %v", svcDoc, svc.Spec.Selector, labels)
	}
	_, redisSS := s.statefulSet(t, redisName)
	if selects(svc.Spec.Selector, redisSS.Spec.Template.Metadata.Labels) {
		t.Errorf("%s: selector %v also matches the Redis pods", svcDoc, svc.Spec.Selector)
	}
	if spec.ServiceName != svcDoc.Metadata.Name {
		t.Errorf("%s: serviceName %q; the Service is %q", ssDoc, spec.ServiceName, svcDoc.Metadata.Name)
	}
}

// TestScaleoutCrawldConfig: the shared ConfigMap's crawld config uses the
// Redis of this example, leaves the node id to each pod, and has only keys
// configs/crawld.yaml knows.
func TestScaleoutCrawldConfig(t *testing.T) {
	s := readScaleout(t)
	text, cfg := s.crawldConfig(t)
	name := crawldConfigName

	if cfg["storage"] != "redis" {
		t.Errorf("%s: storage = %v; want redis", name, cfg["storage"])
	}
	raw, _ := cfg["redis.url"].(string)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "redis" || u.Port() == "" {
		t.Fatalf("%s: redis.url = %q; want redis://HOST:PORT/DB (err %v)", name, raw, err)
	}
	// The host is the Service's name, maybe qualified with the namespace.
	host, rest, _ := strings.Cut(u.Hostname(), ".")
	if rest != "" && rest != s.namespace && !strings.HasPrefix(rest, s.namespace+".svc") {
		t.Errorf("%s: redis.url %s is not in namespace %s", name, raw, s.namespace)
	}
	svcDoc, svc := s.service(t, host)
	portOK := false
	for _, p := range svc.Spec.Ports {
		portOK = portOK || strconv.Itoa(p.Port) == u.Port()
	}
	if !portOK {
		t.Errorf("%s: redis.url %s: %s has no port %s", name, raw, svcDoc, u.Port())
	}
	if _, redisSS := s.statefulSet(t, redisName); !selects(svc.Spec.Selector, redisSS.Spec.Template.Metadata.Labels) {
		t.Errorf("%s: redis.url %s: %s does not select the Redis pods", name, raw, svcDoc)
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if _, err := strconv.Atoi(db); err != nil {
			t.Errorf("%s: redis.url %s: database %q is not a number", name, raw, db)
		}
	}
	if id, ok := cfg["redis.crawl_id"]; ok {
		if v, _ := id.(string); v == "" || strings.ContainsAny(v, "{} \t\n") {
			t.Errorf("%s: redis.crawl_id = %v; want a name without braces or white space", name, id)
		}
	}
	if d := configDuration(t, name, cfg, "recrawl_interval", 0); d != 0 {
		t.Errorf("%s: recrawl_interval = %s; storage redis needs 0", name, d)
	}
	// One ConfigMap for every pod: a node_id here would give them all one
	// id, and the second pod would be refused. CRAWLD_NODE_ID sets it.
	if id, ok := cfg["node_id"]; ok && id != "" {
		t.Errorf("%s: node_id = %v; leave it to CRAWLD_NODE_ID (the pod's name)", name, id)
	}
	if got := cfg["admin.listen"]; got != "0.0.0.0:"+adminPort {
		t.Errorf("%s: admin.listen = %v; want 0.0.0.0:%s (probes, Service, Prometheus)", name, got, adminPort)
	}
	if out, _ := cfg["output"].(string); out == "" || out == "-" {
		t.Errorf("%s: output = %q; the records belong in a file on the pod's volume", name, out)
	}
	if insecure, _ := cfg["admin.insecure"].(bool); insecure {
		t.Errorf("%s: admin.insecure is true: the admin API on 0.0.0.0 would need no token", name)
	}
	if tok, _ := cfg["admin.token"].(string); tok != "" {
		t.Errorf("%s: admin.token is set in the ConfigMap; use the crawld-admin Secret", name)
	}
	checkKnownKeys(t, name, cfg)
	checkKeyComments(t, name, text)
}
