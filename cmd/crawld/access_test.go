package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/redistest"
	"github.com/crawld/crawld/internal/testsite"
)

// TestRun_AdminOffLoopbackNeedsToken checks that `crawld run` refuses to
// serve the admin API off loopback without a token (exit 2, naming the
// keys), and starts on loopback without one, off loopback with one, or
// with admin.insecure.
func TestRun_AdminOffLoopbackNeedsToken(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 1, PagesPerHost: 2})
	base := append([]string{"--seed", site.SeedURL(), "--rate", "0", "--storage", "memory"}, domainFlags(site)...)

	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		t.Run("refused "+listen, func(t *testing.T) {
			args := append([]string{"run", "--admin-listen", listen, "--allow-cidr", "127.0.0.0/8", "--data-dir", t.TempDir()}, base...)
			// A process of its own, killed if it starts serving after all.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], args...)
			cmd.Env = append(os.Environ(), "CRAWLD_TEST_AS_BINARY=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			_ = cmd.Run()
			code, msg := cmd.ProcessState.ExitCode(), stderr.String()
			if code != exitUsage {
				t.Fatalf("exit code %d, want %d; stderr %q", code, exitUsage, msg)
			}
			for _, key := range []string{"admin.listen", "admin.token", "admin.insecure"} {
				if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, key) {
					t.Errorf("stderr should be one line naming %s, got %q", key, msg)
				}
			}
		})
	}

	for _, tt := range []struct {
		name string
		args []string
		// seedsCode is the answer to POST /seeds without a token.
		seedsCode int
	}{
		{"loopback without a token", []string{"--admin-listen", "127.0.0.1:0"}, http.StatusOK},
		{"off loopback with a token", []string{"--admin-listen", "0.0.0.0:0", "--admin-token", "t0ken"}, http.StatusUnauthorized},
		{"off loopback, insecure", []string{"--admin-listen", "0.0.0.0:0", "--admin-insecure"}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := startDaemon(t, append(append(tt.args, "--data-dir", t.TempDir()), base...)...)
			d.admin = strings.Replace(d.admin, "0.0.0.0", "127.0.0.1", 1) // talk to it over loopback
			resp, err := http.Post(d.admin+"/seeds", "application/json", strings.NewReader(`{"urls":["`+site.SeedURL()+`"]}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.seedsCode {
				t.Errorf("POST /seeds without a token: %d, want %d", resp.StatusCode, tt.seedsCode)
			}
			if code := d.stop(t, syscall.SIGTERM); code != 0 {
				t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, d.log())
			}
			if warned := strings.Contains(d.log(), "without a token (admin.insecure)"); warned != (tt.name == "off loopback, insecure") {
				t.Errorf("warning about the open admin API logged: %v; stderr:\n%s", warned, d.log())
			}
		})
	}
}

func TestIsLoopbackListen(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9090": true, "127.0.0.2:0": true, "[::1]:9090": true, "localhost:9090": true, "[::ffff:127.0.0.1]:1": true,
		"0.0.0.0:9090": false, ":9090": false, "[::]:9090": false, "10.0.0.5:9090": false, "crawld:9090": false, "127.0.0.1": false,
	} {
		if got := isLoopbackListen(addr); got != want {
			t.Errorf("isLoopbackListen(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestDigest_LeavesSecretsOut checks that /status's config_digest does not
// depend on admin.token or on the passwords in redis.url and proxy, and
// still tells other settings apart.
func TestDigest_LeavesSecretsOut(t *testing.T) {
	s := defaultSettings()
	s.redisURL = "redis://:first@10.0.0.1:6379/0"
	s.crawl.Proxy = "http://user:first@proxy.internal:3128"
	want := digest(s)
	s.adminToken = "another-token"
	s.redisURL = "redis://:second@10.0.0.1:6379/0"
	s.crawl.Proxy = "http://user:second@proxy.internal:3128"
	if got := digest(s); got != want {
		t.Errorf("digest changed with only secrets changed: %s, want %s", got, want)
	}
	s.redisURL = "redis://:second@10.0.0.2:6379/0"
	if got := digest(s); got == want {
		t.Errorf("digest unchanged with redis.url's host changed")
	}
}

// TestDaemon_NoSecretsInStatusOrLogs runs the daemon on a Redis that needs
// a password and with an admin token, at log level debug: neither secret
// may appear in /status, /metrics or the logs. A redis.url crawld cannot
// use must be reported without its password too.
func TestDaemon_NoSecretsInStatusOrLogs(t *testing.T) {
	const password, token = "redis-Pa55word-4d1e", "admin-T0ken-9f2c"
	r := redistest.Start(t)
	requirePass(t, r.Addr, password)
	redisURL := "redis://:" + password + "@" + r.Addr + "/0"
	site := startSite(t, testsite.Config{Hosts: 1, PagesPerHost: 5})
	d := startDaemon(t, append([]string{"--seed", site.SeedURL(), "--rate", "0", "--storage", "redis", "--redis-url", redisURL,
		"--redis-crawl-id", "secrets", "--admin-token", token, "--log-level", "debug", "--output", filepath.Join(t.TempDir(), "out.jsonl")},
		domainFlags(site)...)...)
	var body string
	waitFor(t, "the crawl to finish", 30*time.Second, func() bool {
		_, body = d.get(t, "/status")
		return d.status(t).State == "idle"
	})
	_, metrics := d.get(t, "/metrics")
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, d.log())
	}
	for what, text := range map[string]string{"/status": body, "/metrics": metrics, "the logs": d.log()} {
		for _, secret := range []string{password, token} {
			if strings.Contains(text, secret) {
				t.Errorf("%s reveal %q:\n%s", what, secret, text)
			}
		}
	}

	for _, bad := range []string{
		"redis://:" + password + "@" + r.Addr + "x/0",         // a port that is not a number
		"redis://:" + password + "@" + r.Addr + "/0?db=seven", // go-redis refuses the query
		"redis://:wrong-" + password + "@" + r.Addr + "/0",    // WRONGPASS
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"run", "--seed", site.SeedURL(), "--storage", "redis", "--redis-url", bad,
			"--admin-listen", "127.0.0.1:0", "--allow-cidr", "127.0.0.0/8"}, &stdout, &stderr)
		if code == exitOK || strings.Contains(stderr.String(), password) {
			t.Errorf("redis.url %s: exit %d, stderr %q; want a failure that does not show the password", redactURL(bad), code, stderr.String())
		}
	}
}

// requirePass makes the Redis at addr require password (CONFIG SET
// requirepass): redistest waits for a PONG, which a server started with
// --requirepass never sends before AUTH.
func requirePass(t *testing.T, addr, password string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte("CONFIG SET requirepass " + password + "\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("CONFIG SET requirepass: %q, %v", line, err)
	}
}
