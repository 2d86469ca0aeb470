package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// renderer writes session events for a person at a terminal: agent text rendered from
// markdown, thinking dimmed, each tool call and its result folded to one line. Without
// color (not a terminal, or NO_COLOR) text is written as the agent wrote it.
type renderer struct {
	w     io.Writer
	color bool
	width int // columns for folded lines
}

const (
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiItalic = "\x1b[3m"
	ansiUnder  = "\x1b[4m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiReset  = "\x1b[0m"
)

func (r *renderer) style(code, s string) string {
	if !r.color || s == "" {
		return s
	}
	return code + s + ansiReset
}

// event renders one event. It returns false for events it shows nothing for.
func (r *renderer) event(ev map[string]any) bool {
	typ := cell(ev["type"])
	switch typ {
	case "agent.message":
		text := contentText(ev["content"])
		fmt.Fprintln(r.w, strings.TrimRight(r.markdown(text), "\n"))
	case "agent.thinking":
		line := "✻ thinking…"
		if t := cell(ev["thinking"]); t != "" {
			line = "✻ " + t
		}
		fmt.Fprintln(r.w, r.style(ansiDim+ansiItalic, line))
	case "agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use":
		fmt.Fprintln(r.w, r.toolLine(ev))
	case "agent.tool_result", "agent.mcp_tool_result":
		fmt.Fprintln(r.w, r.resultLine(ev))
	case "session.error":
		msg := cell(lookup(ev, "error.type"))
		if m := cell(lookup(ev, "error.message")); m != "" {
			msg += ": " + m
		}
		fmt.Fprintln(r.w, r.style(ansiRed, "✗ error: "+msg))
	case "session.status_rescheduled":
		fmt.Fprintln(r.w, r.style(ansiDim, "↻ rescheduled: the turn is being retried"))
	case "session.status_terminated":
		fmt.Fprintln(r.w, r.style(ansiRed, "■ session terminated"))
	case "user.interrupt":
		fmt.Fprintln(r.w, r.style(ansiDim, "⏹ interrupted"))
	default:
		return false
	}
	return true
}

// toolLine is a tool call folded to one line: name and compact input.
func (r *renderer) toolLine(ev map[string]any) string {
	name := cell(ev["name"])
	if s := cell(ev["mcp_server_name"]); s != "" {
		name = s + "/" + name
	}
	input, _ := json.Marshal(ev["input"])
	prefix := "⏺ "
	if cell(ev["type"]) == "agent.custom_tool_use" {
		prefix = "⚙ "
	}
	budget := max(r.width-len([]rune(name))-3, 10)
	return r.style(ansiYellow, prefix) + r.style(ansiBold, name) + " " + r.style(ansiDim, oneLine(string(input), budget))
}

// resultLine is a tool result folded to its first line and a count of the rest.
func (r *renderer) resultLine(ev map[string]any) string {
	text := strings.TrimSpace(contentText(ev["content"]))
	first, rest, _ := strings.Cut(text, "\n")
	more := ""
	if n := strings.Count(rest, "\n") + 1; rest != "" {
		more = fmt.Sprintf(" (+%d lines)", n)
	}
	if first == "" {
		first = "(no output)"
	}
	line := "  ⎿ " + oneLine(first, max(r.width-6-len(more), 10))
	if ev["is_error"] == true {
		return r.style(ansiRed, line) + r.style(ansiDim, more)
	}
	return r.style(ansiDim, line+more)
}

var (
	orderedItem = regexp.MustCompile(`^(\s*)(\d+)[.)]\s+(.*)$`)
	bulletItem  = regexp.MustCompile(`^(\s*)[-*+]\s+(.*)$`)
	headingLine = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	inlineCode  = regexp.MustCompile("`([^`]+)`")
	boldSpan    = regexp.MustCompile(`\*\*([^*]+)\*\*|__([^_]+)__`)
)

// markdown renders the common markdown an agent writes for a terminal: headings bold,
// fenced code indented and colored, bullets, numbered lists, quotes, rules, **bold** and
// `code`. Anything else passes through unchanged.
func (r *renderer) markdown(text string) string {
	if !r.color {
		return text
	}
	var b strings.Builder
	inCode := false
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			inCode = !inCode
			if lang := strings.Trim(trimmed, "`~ "); inCode && lang != "" {
				b.WriteString("    " + r.style(ansiDim, lang) + "\n")
			}
			continue
		}
		if inCode {
			b.WriteString("    " + r.style(ansiCyan, line) + "\n")
			continue
		}
		if m := headingLine.FindStringSubmatch(trimmed); m != nil {
			code := ansiBold
			if len(m[1]) == 1 {
				code += ansiUnder
			}
			b.WriteString(r.style(code, m[2]) + "\n")
			continue
		}
		if m := bulletItem.FindStringSubmatch(line); m != nil {
			b.WriteString(m[1] + "  • " + r.inline(m[2]) + "\n")
			continue
		}
		if m := orderedItem.FindStringSubmatch(line); m != nil {
			b.WriteString(m[1] + "  " + m[2] + ". " + r.inline(m[3]) + "\n")
			continue
		}
		switch {
		case strings.HasPrefix(trimmed, ">"):
			b.WriteString(r.style(ansiDim, "│ ") + r.style(ansiItalic, r.inline(strings.TrimSpace(strings.TrimPrefix(trimmed, ">")))) + "\n")
		case trimmed == "---" || trimmed == "***" || trimmed == "___":
			b.WriteString(r.style(ansiDim, strings.Repeat("─", min(r.width, 40))) + "\n")
		default:
			b.WriteString(r.inline(line) + "\n")
		}
	}
	return b.String()
}

// inline styles `code` and **bold** spans.
func (r *renderer) inline(s string) string {
	s = inlineCode.ReplaceAllStringFunc(s, func(m string) string { return r.style(ansiCyan, strings.Trim(m, "`")) })
	return boldSpan.ReplaceAllStringFunc(s, func(m string) string {
		return r.style(ansiBold, strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m, "**"), "__"), "**"), "__"))
	})
}
