package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// report is everything one run measured.
type report struct {
	Date    string        `json:"date"`
	Machine machine       `json:"machine"`
	Options options       `json:"options"`
	NoFile  uint64        `json:"rlimit_nofile"`
	CRUD    []crudResult  `json:"crud,omitempty"`
	Turn    *turnResult   `json:"turn,omitempty"`
	Fanout  *fanoutResult `json:"fanout,omitempty"`
	Claude  *claudeResult `json:"claude,omitempty"`
	Notify  *notifyResult `json:"notify,omitempty"`
	Notes   []string      `json:"notes,omitempty"`
}

// machine describes where the bench ran.
type machine struct {
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu,omitempty"`
	Memory int64  `json:"memory_bytes,omitempty"`
	Go     string `json:"go"`
}

// Targets from the issue.
const (
	targetTurnP50      = 2 * time.Millisecond
	targetStreams      = 10_000
	targetBytesPerConn = 20_000 // 20 KB
)

func describeMachine() machine {
	m := machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.Memory, _ = parseStatusKB(string(b), "MemTotal:")
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU, _ = statusField(string(b), "model name")
		m.CPU = strings.TrimSpace(strings.TrimPrefix(m.CPU, ":"))
	}
	return m
}

func writeMarkdown(w io.Writer, r *report) {
	m := r.Machine
	fmt.Fprintf(w, "## Hangar bench, %s\n\n", r.Date)
	fmt.Fprintf(w, "%s/%s, %d CPUs (%s), %s RAM, %s, RLIMIT_NOFILE %d.\n\n",
		m.OS, m.Arch, m.CPUs, orDash(m.CPU), fmtBytes(m.Memory), m.Go, r.NoFile)
	if r.Options.ServerEnv != "" {
		fmt.Fprintf(w, "Server environment: `%s`.\n\n", r.Options.ServerEnv)
	}

	if len(r.CRUD) > 0 {
		fmt.Fprintf(w, "### CRUD (%d keep-alive workers, %v per operation)\n\n", r.Options.Concurrency, r.Options.Duration)
		fmt.Fprintln(w, "| Operation | Requests | Errors | Requests/s | p50 | p99 | max |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
		for _, c := range r.CRUD {
			fmt.Fprintf(w, "| %s | %d | %d | %.0f | %s | %s | %s |\n",
				c.Op, c.Requests, c.Errors, c.RPS, fmtDur(c.Latency.P50), fmtDur(c.Latency.P99), fmtDur(c.Latency.Max))
		}
		for _, c := range r.CRUD {
			if c.FirstError != "" {
				fmt.Fprintf(w, "\n%s, first error: `%s`\n", c.Op, oneLine(c.FirstError))
			}
		}
		fmt.Fprintln(w)
	}

	if t := r.Turn; t != nil {
		fmt.Fprintf(w, "### Control-plane turn overhead (scripted engine, %d turns over %d sessions, one SSE stream each)\n\n",
			t.Turns, t.Sessions)
		fmt.Fprintln(w, "| Measure | n | p50 | p99 | max | Target |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|")
		fmt.Fprintf(w, "| POST /events round trip | %d | %s | %s | %s | |\n",
			t.Post.N, fmtDur(t.Post.P50), fmtDur(t.Post.P99), fmtDur(t.Post.Max))
		fmt.Fprintf(w, "| POST → first SSE frame (`%s`) | %d | %s | %s | %s | p50 ≤ %s: %s |\n",
			orDash(t.FirstEvent), t.FirstFrame.N, fmtDur(t.FirstFrame.P50), fmtDur(t.FirstFrame.P99), fmtDur(t.FirstFrame.Max),
			fmtDur(targetTurnP50), verdict(t.FirstFrame.N > 0 && t.FirstFrame.P50 <= targetTurnP50))
		fmt.Fprintf(w, "| POST → `session.status_idle` | %d | %s | %s | %s | |\n",
			t.Idle.N, fmtDur(t.Idle.P50), fmtDur(t.Idle.P99), fmtDur(t.Idle.Max))
		if t.Failed > 0 {
			fmt.Fprintf(w, "\n%d turns failed; first: `%s`\n", t.Failed, oneLine(t.FirstError))
		}
		fmt.Fprintln(w)
	}

	if f := r.Fanout; f != nil {
		fmt.Fprintln(w, "### SSE fan-out")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| Measure | Result | Target |")
		fmt.Fprintln(w, "|---|---|---|")
		fmt.Fprintf(w, "| Idle streams open | %d of %d over %d sessions (%d errors, opened in %s; %d still open after the delivery rounds) | ≥ %d: %s |\n",
			f.StreamsOpen, f.Streams, f.StreamSessions, f.OpenErrors, fmtDur(f.OpenTime), f.StillOpen,
			targetStreams, verdict(f.StreamsOpen >= targetStreams && f.StillOpen >= targetStreams))
		fmt.Fprintf(w, "| Server RSS before → with the streams | %s → %s (%d threads, %d fds) | |\n",
			fmtBytes(f.RSSBefore), fmtBytes(f.RSSAfter), f.ThreadsAfter, f.FDsAfter)
		fmt.Fprintf(w, "| Server RSS per idle stream | %s (%d B) | ≤ 20 KB: %s |\n",
			fmtBytes(f.PerStream), f.PerStream, verdict(f.StreamsOpen > 0 && f.PerStream <= targetBytesPerConn))
		if f.Subscribers > 0 {
			expected := f.SubscribersOpen * f.Rounds
			fmt.Fprintf(w, "| `agent.message` delivery to %d subscribers of one session (%d rounds, idle streams still open): p50 / p99 / max | %s / %s / %s (%d of %d delivered) | |\n",
				f.SubscribersOpen, f.Rounds, fmtDur(f.Delivery.P50), fmtDur(f.Delivery.P99), fmtDur(f.Delivery.Max), f.Delivered, expected)
			fmt.Fprintf(w, "| `session.status_idle` at each subscriber: p50 / p99 / max | %s / %s / %s | |\n",
				fmtDur(f.Idle.P50), fmtDur(f.Idle.P99), fmtDur(f.Idle.Max))
		}
		fmt.Fprintf(w, "| Bench process RSS (client side) | %s | |\n", fmtBytes(f.BenchRSS))
		if f.FirstError != "" {
			fmt.Fprintf(w, "\nFirst error: `%s`\n", oneLine(f.FirstError))
		}
		fmt.Fprintln(w)
	}
	writeClaudeMarkdown(w, r.Claude)
	writeNotifyMarkdown(w, r.Notify)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
}

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// fmtBytes prints n in KiB, MiB or GiB.
func fmtBytes(n int64) string {
	f := float64(n)
	switch {
	case n < 0:
		return "-" + fmtBytes(-n)
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return trimFloat(f/(1<<10)) + " KiB"
	case n < 1<<30:
		return trimFloat(f/(1<<20)) + " MiB"
	default:
		return trimFloat(f/(1<<30)) + " GiB"
	}
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "`", "'")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
