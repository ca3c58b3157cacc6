package deploy

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDaemonExampleConfig(t *testing.T) {
	cfg := daemonConfig(t)
	want := map[string]any{
		"seeds":                []any{"https://example.com/"},
		"rate":                 1,
		"burst":                1,
		"per_host_concurrency": 1,
		"workers":              16,
		"robots":               true,
		"storage":              "pebble",
		"data_dir":             containerDataDir,
		"output":               containerDataDir + "/records.jsonl",
		"output_max_size_mb":   100,
		"output_max_backups":   10,
		"shutdown_grace":       "10s",
		"recrawl_interval":     "24h",
		"admin.listen":         "127.0.0.1:9090",
		"admin.token":          "",
		"admin.insecure":       false,
		"admin.pprof":          false,
		"log_level":            "info",
		"log_format":           "json",
	}
	for k, v := range want {
		got, ok := cfg[k]
		if !ok {
			t.Errorf("%s: key %s is missing", daemonConfigPath, k)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s: %s = %v; want %v", daemonConfigPath, k, got, v)
		}
	}
	for _, k := range []string{"shutdown_grace", "recrawl_interval"} {
		if s, _ := cfg[k].(string); s != "" {
			if _, err := time.ParseDuration(s); err != nil {
				t.Errorf("%s: %s: %v", daemonConfigPath, k, err)
			}
		}
	}
	if s, _ := cfg["output"].(string); !strings.HasPrefix(s, fmt.Sprint(cfg["data_dir"])+"/") {
		t.Errorf("%s: output %q is not under data_dir, the only writable directory under systemd and in the containers", daemonConfigPath, s)
	}
	checkConfigKeys(t, daemonConfigPath, cfg)

	checkKeyComments(t, daemonConfigPath, string(readFile(t, daemonConfigPath)))
}
