// The report: the Markdown table crawlbench prints, a row per scenario, and
// the line that sums up the goals after it.

package main

import (
	"fmt"
	"strings"
	"time"
)

// wideTable reports whether -scenario only prints the cluster columns.
func wideTable(only string) bool {
	return only == groupCluster || strings.HasPrefix(only, groupCluster+"-")
}

// tableHeader returns the table's header and rule lines; wide adds the
// cluster columns.
func tableHeader(wide bool) (header, rule string) {
	cols := []string{"scenario", "records", "crawl s", "healthy hosts done s", "lower bound s", "done/bound", "pages/s",
		"CPU s per 1k pages", "peak RSS MiB", "busiest 1 s window (limit)", "store bytes per URL",
		"peak frontier URLs (spilled; MiB on disk)"}
	if wide {
		cols = append(cols, "nodes (records each)", "closest requests to a host ms (floor)",
			"Redis CPU s (per 1k pages)", "Redis commands per page (script calls)", "ratio (goal)")
	}
	return "| " + strings.Join(cols, " | ") + " |", "|" + strings.Repeat("---|", len(cols))
}

// row is the scenario's table line; wide adds the cluster columns, whose
// ratios need the results measured so far.
func (r result) row(sc scenario, wide bool, results map[string]result) string {
	cells := r.cells(sc)
	if wide {
		cells = append(cells, r.clusterCells(sc, results)...)
	}
	return "| " + strings.Join(cells, " | ") + " |"
}

// cells are the columns every table has.
func (r result) cells(sc scenario) []string {
	bound, ratio := "–", "–"
	if r.bound > 0 {
		bound = fmt.Sprintf("%.2f", r.bound.Seconds())
		ratio = fmt.Sprintf("%.3f", r.healthyDone.Seconds()/r.bound.Seconds())
		if r.boundWithout != r.bound {
			bound += fmt.Sprintf(" (%.2f without the failing host's links)", r.boundWithout.Seconds())
			ratio += fmt.Sprintf(" (%.3f)", r.healthyDone.Seconds()/r.boundWithout.Seconds())
		}
	}
	limit := "unlimited"
	if sc.rate > 0 {
		limit = fmt.Sprint(int(sc.rate) + sc.burst)
	}
	store := "–"
	if r.storeBytes > 0 {
		store = fmt.Sprintf("%.0f", float64(r.storeBytes)/float64(max(r.pages, 1)))
	}
	if r.warcBytes > 0 {
		store = strings.TrimPrefix(store+" ", "– ") + fmt.Sprintf("(WARC %.0f)", float64(r.warcBytes)/float64(max(r.pages, 1)))
	}
	done, busiest := fmt.Sprintf("%.2f", r.healthyDone.Seconds()), fmt.Sprintf("%d (%s)", r.busiest, limit)
	if r.noLog {
		done, busiest = "–", "–"
	}
	rss := fmt.Sprintf("%.1f", float64(r.peakRSS)/(1<<20))
	if len(r.perNode) > 1 {
		rss += fmt.Sprintf(" (Σ %.1f)", float64(r.rssSum)/(1<<20))
	}
	if sc.maxRSS > 0 {
		rss += fmt.Sprintf(" (goal < %d)", sc.maxRSS>>20)
	}
	front := "–"
	if f := r.frontier; f != nil {
		front = fmt.Sprintf("%d (%d; %.1f)", f.queued, f.spilled, float64(f.diskBytes)/(1<<20))
	}
	return []string{sc.name, fmt.Sprint(r.pages), fmt.Sprintf("%.2f", r.wall.Seconds()), done, bound, ratio,
		fmt.Sprintf("%.0f", r.pagesPerSecond()), fmt.Sprintf("%.3f", r.cpu.Seconds()*1000/float64(max(r.pages, 1))),
		rss, busiest, store, front}
}

// clusterCells are the wide table's extra columns.
func (r result) clusterCells(sc scenario, results map[string]result) []string {
	nodes := "1 (memory)"
	switch {
	case r.perNode != nil:
		counts := make([]string, len(r.perNode))
		for i, n := range r.perNode {
			counts[i] = fmt.Sprint(n)
		}
		nodes = fmt.Sprintf("%d on Redis (%s)", len(r.perNode), strings.Join(counts, "/"))
	case sc.durable:
		nodes = "1 (pebble)"
	}
	closest := "–"
	if r.gaps.first.Host != "" {
		closest = fmt.Sprintf("%.1f", float64(r.gaps.closest)/float64(time.Millisecond))
		if floor, ok := gapFloor(sc); ok {
			closest += fmt.Sprintf(" (%.0f)", float64(floor)/float64(time.Millisecond))
			if r.gaps.under > 0 {
				closest += fmt.Sprintf("; %d under", r.gaps.under)
			}
		}
	}
	cpu, perPage := "–", "–"
	if u := r.redis; u != nil {
		cpu = fmt.Sprintf("%.2f (%.3f)", u.cpu.Seconds(), u.cpu.Seconds()*1000/float64(max(r.pages, 1)))
		perPage = fmt.Sprintf("%.1f (%.1f)", float64(u.commands)/float64(max(r.pages, 1)), float64(u.scripts)/float64(max(r.pages, 1)))
	}
	return []string{nodes, closest, cpu, perPage, sc.goal.describe(r, results)}
}

// bounds describes the goal's bounds: "≥ 2.7", "≤ 1.05", "" for none.
func (g *goal) bounds() string {
	var b []string
	if g.min > 0 {
		b = append(b, fmt.Sprintf("≥ %g", g.min))
	}
	if g.max > 0 {
		b = append(b, fmt.Sprintf("≤ %g", g.max))
	}
	return strings.Join(b, ", ")
}

// describe is the ratio column, "pages/s ÷ cluster-capacity-1 2.810 (goal
// ≥ 2.7: met)", then the informational ratios; "–" without a goal.
func (g *goal) describe(res result, results map[string]result) string {
	if g == nil {
		return "–"
	}
	what := "done/bound"
	if g.of != "" {
		what = "pages/s ÷ " + g.of
	}
	var parts []string
	if r, ok := g.ratio(res, results); !ok {
		parts = append(parts, what+": not run")
	} else {
		s := fmt.Sprintf("%s %.3f", what, r)
		if b := g.bounds(); b != "" {
			verdict := "met"
			if !g.met(r) {
				verdict = "MISSED"
			}
			s += fmt.Sprintf(" (goal %s: %s)", b, verdict)
		}
		parts = append(parts, s)
	}
	for _, of := range g.also {
		if r, ok := pagesRatio(res, results, of); ok {
			parts = append(parts, fmt.Sprintf("pages/s ÷ %s %.3f", of, r))
		}
	}
	return strings.Join(parts, "; ")
}

// goalSummary is the line after the table: each judged scenario's ratio
// against its goal.
func goalSummary(judged []scenario, results map[string]result) string {
	parts := make([]string, len(judged))
	for i, sc := range judged {
		parts[i] = sc.name + ": " + sc.goal.describe(results[sc.name], results)
	}
	return "Goals: " + strings.Join(parts, "; ") + "."
}
