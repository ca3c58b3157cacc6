#!/usr/bin/env bash
# Compares whole crawls by crawld and by Colly (bench/colly) on this machine,
# every server on loopback:
#
#   synthetic  cmd/testsite: one host of 200,000 pages, no latency, no decoys;
#              each crawler fetches 100,000 pages with 16 workers.
#   docs       Debian's python3-doc HTML, served by a private nginx instance on
#              127.0.0.3; each crawler crawls it to the end with 16 workers.
#
# Each crawler runs under /usr/bin/time (wall s, user s, sys s, max RSS KiB).
# A Markdown table goes to stdout, progress to stderr. Exits non-zero if any
# crawler (or a server) fails. Installs what it lacks with apt-get (time,
# nginx-light or nginx, python3-doc); the system nginx's configuration is
# neither read nor changed.
#
#   bash bench/compare.sh
#
# Environment: WORKERS (16), SYNTH_PAGES (200000), SYNTH_LIMIT (100000),
# SCENARIOS ("synthetic docs"), RSS_CAP_MIB (12288: a crawler whose processes
# hold more is killed and counted as failed, so that a runaway crawl cannot
# push the whole machine into the OOM killer), KEEP_TMP=1 to keep the temp
# dir (outputs, access log).
set -euo pipefail

WORKERS=${WORKERS:-16}
SYNTH_PAGES=${SYNTH_PAGES:-200000}
SYNTH_LIMIT=${SYNTH_LIMIT:-100000}
SCENARIOS=${SCENARIOS:-synthetic docs}
RSS_CAP_MIB=${RSS_CAP_MIB:-12288}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	PATH=$PATH:/usr/local/go/bin
fi

log() { printf 'compare.sh: %s\n' "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/crawlcompare.XXXXXX")
# Process groups (setsid) of everything started in the background; cleanup
# ends each group by its id.
groups=()
watchers=()
cleanup() {
	local rc=$? pg
	trap - EXIT INT TERM
	for pg in "${watchers[@]}"; do
		kill -TERM "$pg" 2>/dev/null || true
	done
	for pg in "${groups[@]}"; do
		# The group, or the leader if setsid has not run yet.
		kill -TERM -- "-$pg" 2>/dev/null || kill -TERM "$pg" 2>/dev/null || true
	done
	for pg in "${groups[@]}"; do
		for _ in $(seq 50); do
			kill -0 -- "-$pg" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$pg" 2>/dev/null || true
	done
	if [ "${KEEP_TMP:-}" = 1 ]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'log terminated; exit 143' TERM

# start_bg CMD...: runs CMD in a new session (its own process group, out of
# reach of the terminal's ^C, which the script handles), sets $bg_pid.
start_bg() {
	setsid "$@" &
	bg_pid=$!
	groups+=("$bg_pid")
}

# stop_bg PID: ends the process group PID and waits for its leader.
stop_bg() {
	kill -TERM -- "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

apt_updated=
apt_install() {
	local sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	if [ -z "$apt_updated" ]; then
		log "apt-get update"
		$sudo apt-get update -qq >&2
		apt_updated=1
	fi
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}

[ -x /usr/bin/time ] || apt_install time

# --- build -----------------------------------------------------------------
log "building crawld, testsite and colly-bench in $tmp"
(cd "$repo" && go build -o "$tmp/crawld" ./cmd/crawld && go build -o "$tmp/testsite" ./cmd/testsite)
(cd "$repo/bench/colly" && go build -o "$tmp/colly-bench" .)
colly_version=$(cd "$repo/bench/colly" && go list -m -f '{{.Version}}' github.com/gocolly/colly/v2)

rows=()
failed=0

# watch_rss SID FLAGFILE: once the processes of session SID (/usr/bin/time
# and the crawler) hold more than RSS_CAP_MIB together, kills the crawler
# (the children of time, the session leader, so that time still reports) and
# notes the figure in FLAGFILE.
watch_rss() {
	local cap_kib=$((RSS_CAP_MIB * 1024)) kib
	# The leader's pid, not the group: setsid may not have run yet.
	while kill -0 "$1" 2>/dev/null; do
		kib=$(ps -o rss= -s "$1" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
		if [ "$kib" -gt "$cap_kib" ]; then
			echo "$kib" >"$2"
			local child
			for child in $(ps -o pid= --ppid "$1"); do
				kill -KILL "$child" 2>/dev/null || true
			done
			return
		fi
		sleep 0.25
	done
}

# measure NAME CMD...: runs CMD under /usr/bin/time, in the background so
# that a signal reaches the script at once; sets wall, user, sys, rss_kib,
# run_rc and run_note. stderr of CMD goes to $tmp/NAME.err.
measure() {
	local name=$1
	shift
	log "run $name: $*"
	start_bg /usr/bin/time -o "$tmp/$name.time" -f '%e %U %S %M' "$@" 2>"$tmp/$name.err"
	local pid=$bg_pid
	watch_rss "$pid" "$tmp/$name.killed" &
	local watcher=$!
	watchers+=("$watcher")
	if wait "$pid"; then run_rc=0; else run_rc=$?; fi
	wait "$watcher" 2>/dev/null || true
	run_note="exit $run_rc"
	if [ -f "$tmp/$name.killed" ]; then
		run_rc=137
		run_note="killed at $(($(cat "$tmp/$name.killed") / 1024)) MiB RSS > RSS_CAP_MIB $RSS_CAP_MIB"
	fi
	if [ "$run_rc" != 0 ]; then
		log "$name failed ($run_note); its stderr:"
		tail -n 20 "$tmp/$name.err" >&2 || true
		failed=1
	fi
	# /usr/bin/time writes "Command exited with non-zero status N" first
	# when the command fails; the figures are on the last line.
	read -r wall user sys rss_kib < <(tail -n 1 "$tmp/$name.time" 2>/dev/null || echo "0 0 0 0")
}

# row SCENARIO CRAWLER PAGES REQUESTS DUPS NOTE: one table row from the
# figures measure set.
row() {
	local scenario=$1 crawler=$2 pages=$3 requests=$4 dups=$5 note=$6
	if [ "$run_rc" != 0 ]; then
		rows+=("| $scenario | $crawler | FAILED ($run_note) | | $wall | | | | $((rss_kib / 1024)) | | $note |")
		return
	fi
	rows+=("$(awk -v s="$scenario" -v c="$crawler" -v p="$pages" -v r="$requests" \
		-v w="$wall" -v u="$user" -v y="$sys" -v m="$rss_kib" -v d="$dups" -v n="$note" 'BEGIN {
		pps = (w > 0) ? p / w : 0
		cpu = (p > 0) ? (u + y) * 1000 / p : 0
		printf "| %s | %s | %d | %s | %.2f | %.0f | %.1f | %.3f | %.1f | %s | %s |", s, c, p, r, w, pps, u + y, cpu, m / 1024, d, n
	}')")
}

# lines FILE: number of lines, 0 if FILE is missing.
lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# json_field FILE KEY: a number from colly-bench's summary line (last line
# of its stderr).
json_field() {
	grep -o "\"$2\":[0-9.]*" "$1" | tail -n 1 | cut -d: -f2
}

# --- scenario 1: synthetic -------------------------------------------------
synthetic() {
	log "starting testsite: 1 host, $SYNTH_PAGES pages"
	start_bg "$tmp/testsite" -hosts 1 -pages "$SYNTH_PAGES" -latency 0 -decoys=false 2>"$tmp/testsite.err"
	local site=$bg_pid seed=
	for _ in $(seq 300); do
		seed=$(sed -n 's/^testsite: .* seed: \(http[^ ]*\)$/\1/p' "$tmp/testsite.err")
		[ -n "$seed" ] && break
		kill -0 "$site" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$seed" ]; then
		log "testsite did not start:"
		cat "$tmp/testsite.err" >&2
		exit 1
	fi
	log "testsite seed: $seed"

	measure synth-crawld "$tmp/crawld" crawl --seed "$seed" --max-pages "$SYNTH_LIMIT" \
		--workers "$WORKERS" --rate 0 --per-host-concurrency "$WORKERS" --robots=true \
		--allow-cidr 127.0.0.0/8 --log-level warn --progress-interval 0 \
		--output "$tmp/synth-crawld.jsonl"
	row synthetic crawld "$(lines "$tmp/synth-crawld.jsonl")" "n/a" "n/a" "--max-pages $SYNTH_LIMIT"

	measure synth-colly "$tmp/colly-bench" -seed "$seed" -max-pages "$SYNTH_LIMIT" \
		-workers "$WORKERS" -out "$tmp/synth-colly.jsonl"
	local req dups
	req=$(json_field "$tmp/synth-colly.err" pages_requested || true)
	dups=$(json_field "$tmp/synth-colly.err" duplicates || true)
	row synthetic "colly $colly_version" "$(lines "$tmp/synth-colly.jsonl")" "${req:-?} (own count)" "${dups:-?} (own count)" \
		"stops visiting at $SYNTH_LIMIT responses"

	if ! kill -0 "$site" 2>/dev/null; then
		log "testsite died during the runs"
		failed=1
	fi
	stop_bg "$site"
}

# --- scenario 2: docs ------------------------------------------------------
docs() {
	if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
		apt_install nginx-light || apt_install nginx
	fi
	if ! dpkg -s python3-doc >/dev/null 2>&1; then
		apt_install python3-doc
	fi
	local nginx root
	nginx=$(command -v nginx || echo /usr/sbin/nginx)
	# /usr/share/doc/python3-doc/html is a symlink (to python3.X-doc/html,
	# itself a symlink to python3.X/html); serve the real directory.
	root=$(readlink -f /usr/share/doc/python3-doc/html)
	if [ ! -f "$root/index.html" ]; then
		log "no index.html under $root (dpkg -L python3-doc)"
		exit 1
	fi

	local ng=$tmp/nginx port= pid=
	mkdir -p "$ng/logs" "$ng/tmp"
	for _ in $(seq 20); do
		port=$((20000 + RANDOM % 40000))
		if [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
			continue
		fi
		cat >"$ng/nginx.conf" <<-EOF
			daemon off;
			master_process on;
			worker_processes 1;
			pid $ng/nginx.pid;
			error_log $ng/logs/error.log warn;
			events { worker_connections 1024; }
			http {
			    include /etc/nginx/mime.types;
			    default_type application/octet-stream;
			    log_format bench '\$request_uri \$status \$body_bytes_sent';
			    access_log $ng/logs/access.log bench;
			    client_body_temp_path $ng/tmp/body;
			    proxy_temp_path $ng/tmp/proxy;
			    fastcgi_temp_path $ng/tmp/fastcgi;
			    uwsgi_temp_path $ng/tmp/uwsgi;
			    scgi_temp_path $ng/tmp/scgi;
			    sendfile on;
			    keepalive_requests 100000;
			    server {
			        listen 127.0.0.3:$port;
			        server_name _;
			        root $root;
			        disable_symlinks off;
			        index index.html;
			    }
			}
		EOF
		start_bg "$nginx" -e "$ng/logs/error.log" -p "$ng" -c "$ng/nginx.conf"
		pid=$bg_pid
		local up=
		for _ in $(seq 50); do
			if (exec 3<>"/dev/tcp/127.0.0.3/$port") 2>/dev/null; then
				up=1
				break
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		[ -n "$up" ] && break
		log "nginx did not come up on 127.0.0.3:$port:"
		tail -n 5 "$ng/logs/error.log" >&2 || true
		stop_bg "$pid"
		pid=
	done
	if [ -z "$pid" ]; then
		log "could not start nginx"
		exit 1
	fi
	local seed="http://127.0.0.3:$port/index.html" access=$ng/logs/access.log
	log "nginx serving $root at $seed"
	# Make sure the access log is created before the runs (the probe
	# above sent no request line, so it logged nothing or a 400).
	: >>"$access"

	local html_files
	html_files=$(find "$root" -name '*.html' | wc -l)

	# server_stats FROM_LINE NAME: requests, duplicate requests and
	# non-.html requests in the access log after line FROM_LINE, /robots.txt
	# and the probe's 400 left out. Sets srv_requests, srv_dups,
	# srv_dup_urls, srv_nonhtml.
	server_stats() {
		tail -n "+$(($1 + 1))" "$access" | awk '$1 != "/robots.txt" && $2 != 400 { print $1 }' >"$tmp/$2.uris"
		srv_requests=$(lines "$tmp/$2.uris")
		read -r srv_distinct srv_dups srv_dup_urls < <(sort "$tmp/$2.uris" | uniq -c |
			awk '{ n++ } $1 > 1 { d += $1 - 1; u++ } END { print n + 0, d + 0, u + 0 }')
		srv_nonhtml=$(grep -Evc '(\.html?|/)$' "$tmp/$2.uris" || true)
	}

	local before
	before=$(lines "$access")
	measure docs-crawld "$tmp/crawld" crawl --seed "$seed" --max-pages 0 \
		--workers "$WORKERS" --rate 0 --per-host-concurrency "$WORKERS" --robots=true \
		--allow-cidr 127.0.0.0/8 --allow-domain 127.0.0.3 --log-level warn --progress-interval 0 \
		--output "$tmp/docs-crawld.jsonl"
	server_stats "$before" docs-crawld
	row docs crawld "$(lines "$tmp/docs-crawld.jsonl")" "$srv_requests ($srv_distinct distinct, $srv_nonhtml non-HTML)" \
		"$srv_dups ($srv_dup_urls URLs) in log" "no page limit"

	local variant name label args note req own
	for variant in plain strip; do
		name=docs-colly-$variant
		label="colly $colly_version"
		args=()
		note="links as Colly resolves them (#fragment kept)"
		if [ "$variant" = strip ]; then
			label="colly $colly_version -strip-fragment"
			args=(-strip-fragment)
			note="#fragment removed before Visit"
		fi
		before=$(lines "$access")
		measure "$name" "$tmp/colly-bench" -seed "$seed" -max-pages 0 -workers "$WORKERS" \
			-out "$tmp/$name.jsonl" "${args[@]}"
		server_stats "$before" "$name"
		own=$(json_field "$tmp/$name.err" duplicates || true)
		req=$(json_field "$tmp/$name.err" pages_requested || true)
		if [ "$run_rc" = 0 ] && [ "${req:-}" != "$srv_requests" ]; then
			log "$name: colly counted ${req:-?} requests, nginx logged $srv_requests"
		fi
		row docs "$label" "$(lines "$tmp/$name.jsonl")" "$srv_requests ($srv_distinct distinct, $srv_nonhtml non-HTML)" \
			"$srv_dups ($srv_dup_urls URLs) in log; own count ${own:-?}" "$note"
	done

	if ! kill -0 "$pid" 2>/dev/null; then
		log "nginx died during the runs"
		failed=1
	fi
	stop_bg "$pid"
	log "docs: $html_files .html files under $root"
}

for sc in $SCENARIOS; do
	case $sc in
	synthetic) synthetic ;;
	docs) docs ;;
	*)
		log "unknown scenario $sc"
		exit 2
		;;
	esac
done

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); $WORKERS workers per crawler; Colly $colly_version; $(go version | cut -d' ' -f3)."
echo
echo "| scenario | crawler | pages | requests seen by server | wall s | pages/s | CPU s | CPU s per 1k pages | peak RSS MiB | duplicate requests | note |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"

if [ "$failed" != 0 ]; then
	log "a crawler or server failed"
	exit 1
fi
