package main

import (
	"fmt"
	"io"
)

// writeEnginesMarkdown prints the engines measurement: per engine, the tool turn through
// Hangar against the same turn bare.
func writeEnginesMarkdown(w io.Writer, r *enginesResult) {
	if r == nil {
		return
	}
	fmt.Fprintf(w, "\n### Engines: one tool turn, Hangar vs bare CLI (fake model API on loopback, %d turns per side, prompt %q)\n\n", r.Turns, r.Prompt)
	fmt.Fprintln(w, "| engine | CLI | Hangar p50 | Hangar p99 | bare p50 | bare p99 | Hangar − bare (p50) | model API requests/turn | failed (Hangar/bare) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, e := range r.Engines {
		cli := e.Package + " " + e.Version
		if e.Skipped != "" {
			fmt.Fprintf(w, "| %s | %s | skipped: %s | | | | | | |\n", e.Name, cli, oneLine(e.Skipped))
			continue
		}
		h, b := e.Hangar, e.Bare
		reqs := h.ModelRequests // POST /v1/messages; the OpenAI and Gemini APIs count as other
		if reqs == 0 && h.N > 0 {
			reqs = h.OtherRequests / h.N
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %d | %d/%d |\n", e.Name, cli,
			fmtDur(h.Total.P50), fmtDur(h.Total.P99), fmtDur(b.Total.P50), fmtDur(b.Total.P99),
			fmtDiff(h.Total.P50-b.Total.P50), reqs, h.Failed, b.Failed)
	}
	for _, e := range r.Engines {
		for side, s := range map[string]claudeSide{"Hangar": e.Hangar, "bare": e.Bare} {
			if s.FirstError != "" {
				fmt.Fprintf(w, "\n%s %s first error: %s\n", e.Name, side, oneLine(s.FirstError))
			}
		}
	}
}
