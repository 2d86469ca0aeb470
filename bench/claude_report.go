package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// writeClaudeMarkdown prints the claude measurement: Hangar against bare per case, where
// the time goes on each side, and the sandbox exec costs.
func writeClaudeMarkdown(w io.Writer, c *claudeResult) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "### Claude Code turn: Hangar vs bare CLI (claude %s, fake model API on loopback, %d turns per row)\n\n", c.Version, c.Turns)
	fmt.Fprintf(w, "CLI argv (both sides): `claude %s`\n\n", strings.Join(c.Argv, " "))
	fmt.Fprintln(w, "| Prompt | Turn | Hangar POST → idle p50 / p99 | Bare start → `result` p50 / p99 | Bare start → exit p50 / p99 | Hangar − bare p50 (vs `result` / vs exit) | Hangar − bare p99 (vs `result` / vs exit) | Target p50 ≤ 50 ms |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---|")
	for _, k := range c.Cases {
		h, b := k.Hangar, k.Bare
		dRes, dExit := h.Total.P50-b.Total.P50, h.Total.P50-b.Exit.P50
		fmt.Fprintf(w, "| `%s` | %s | %s / %s | %s / %s | %s / %s | %s / %s | %s / %s | %s |\n",
			k.Text, k.Turn,
			fmtDur(h.Total.P50), fmtDur(h.Total.P99), fmtDur(b.Total.P50), fmtDur(b.Total.P99),
			fmtDur(b.Exit.P50), fmtDur(b.Exit.P99),
			fmtDiff(dRes), fmtDiff(dExit),
			fmtDiff(h.Total.P99-b.Total.P99), fmtDiff(h.Total.P99-b.Exit.P99),
			verdict(h.Total.N > 0 && b.Total.N > 0 && dRes <= targetClaudeOverheadP50))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Where the time goes (p50 of each phase; the fake model API timestamps each request):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Prompt | Turn | Side | n | POST → `status_running` | start → 1st model request | 1st request in → last response out | last response out → last event before idle | last response out → end | model requests | other requests (all turns) |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, k := range c.Cases {
		for _, s := range []struct {
			name string
			side claudeSide
		}{{"Hangar (end: idle)", k.Hangar}, {"bare (end: `result`)", k.Bare}} {
			fmt.Fprintf(w, "| `%s` | %s | %s | %d | %s | %s | %s | %s | %s | %d | %d |\n", k.Text, k.Turn, s.name, s.side.N,
				fmtDur(s.side.Running.P50), fmtDur(s.side.Start.P50), fmtDur(s.side.Model.P50),
				fmtDur(s.side.LastEvent.P50), fmtDur(s.side.Tail.P50),
				s.side.ModelRequests, s.side.OtherRequests)
		}
		fmt.Fprintf(w, "| `%s` | %s | **Hangar − bare** | | | %s | %s | | %s | | |\n", k.Text, k.Turn,
			fmtDiff(k.Hangar.Start.P50-k.Bare.Start.P50), fmtDiff(k.Hangar.Model.P50-k.Bare.Model.P50),
			fmtDiff(k.Hangar.Tail.P50-k.Bare.Tail.P50))
	}
	fmt.Fprintln(w)
	for _, k := range c.Cases {
		for _, s := range []struct {
			name string
			side claudeSide
		}{{"Hangar", k.Hangar}, {"bare", k.Bare}} {
			if s.side.Failed > 0 {
				fmt.Fprintf(w, "%s, `%s` %s: %d turns failed; first: `%s`\n\n", s.name, k.Text, k.Turn, s.side.Failed, oneLine(s.side.FirstError))
			}
		}
	}
	if len(c.Extra) > 0 {
		var paths []string
		for p, n := range c.Extra {
			paths = append(paths, fmt.Sprintf("%s ×%d", p, n))
		}
		slices.Sort(paths)
		fmt.Fprintf(w, "Other requests to the fake model API (both sides): %s\n\n", strings.Join(paths, ", "))
	}

	if s := c.Sandbox; s != nil {
		limits := "with a cgroup, as `hangar serve` creates them"
		if !s.Limits {
			limits = "without a cgroup (none could be created here)"
		}
		fmt.Fprintf(w, "Process start in a local sandbox (%d runs each, %s):\n\n", s.Runs, limits)
		fmt.Fprintln(w, "| Command | Host p50 / p99 | Sandbox p50 / p99 | Sandbox − host p50 |")
		fmt.Fprintln(w, "|---|---:|---:|---:|")
		fmt.Fprintf(w, "| `/bin/true`, no egress socket | %s / %s | %s / %s | %s |\n",
			fmtDur(s.TrueHost.P50), fmtDur(s.TrueHost.P99), fmtDur(s.TrueSandbox.P50), fmtDur(s.TrueSandbox.P99),
			fmtDiff(s.TrueSandbox.P50-s.TrueHost.P50))
		fmt.Fprintf(w, "| `/bin/true`, egress forwarder started first | %s / %s | %s / %s | %s |\n",
			fmtDur(s.TrueHost.P50), fmtDur(s.TrueHost.P99), fmtDur(s.TrueForwarder.P50), fmtDur(s.TrueForwarder.P99),
			fmtDiff(s.TrueForwarder.P50-s.TrueHost.P50))
		fmt.Fprintf(w, "| create a sandbox (state dirs, cgroup) | | %s / %s | |\n", fmtDur(s.Create.P50), fmtDur(s.Create.P99))
		fmt.Fprintf(w, "| `claude --version`, egress forwarder started first | %s / %s | %s / %s | %s |\n",
			fmtDur(s.VersionHost.P50), fmtDur(s.VersionHost.P99), fmtDur(s.VersionSandbox.P50), fmtDur(s.VersionSandbox.P99),
			fmtDiff(s.VersionSandbox.P50-s.VersionHost.P50))
		fmt.Fprintln(w)
	}
	for _, n := range c.Notes {
		fmt.Fprintf(w, "Note: %s\n\n", n)
	}
}

// fmtDiff prints a signed difference of latencies.
func fmtDiff(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 0:
		return "−" + fmtDur(-d)
	default:
		return "+" + fmtDur(d)
	}
}
