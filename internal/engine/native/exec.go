package native

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Running toolset calls in the session's sandbox (environments other than self_hosted):
// bash through provider exec, read/write/edit through the sandbox's file calls, glob and
// grep through find and rg/grep. Each bash call is a fresh `bash -c` that carries the shell
// state of the previous ones (shell.go). Results
// follow the SDK's toolset (tools/agenttoolset) closely, so a model sees the same tools on
// both kinds of environment.

// Limits of tool output.
const (
	maxOutput      = 100 << 10 // bytes of bash/grep output kept
	maxFileBytes   = 256 << 10 // read and edit load at most this much
	maxGlobResults = 200
	defaultBashMS  = 120_000
	maxBashMS      = 600_000
)

// sandboxTools runs toolset calls in one sandbox.
type sandboxTools struct {
	sb      provider.Sandbox
	workDir string
	homeDir string
	// bashTimeout caps bash calls without timeout_ms.
	bashTimeout time.Duration
}

// run executes one call and returns its output text and whether it failed.
func (t *sandboxTools) run(ctx context.Context, name string, input json.RawMessage) (string, bool) {
	switch name {
	case "bash":
		return t.bash(ctx, input)
	case "read":
		return t.read(ctx, input)
	case "write":
		return t.write(ctx, input)
	case "edit":
		return t.edit(ctx, input)
	case "glob":
		return t.glob(ctx, input)
	case "grep":
		return t.grep(ctx, input)
	}
	return fmt.Sprintf("tool %q is not available", name), true
}

// abs roots a relative path at the working directory.
func (t *sandboxTools) abs(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(t.workDir, p)
}

// exec runs args in the sandbox with stdin and returns stdout+stderr (interleaved as
// written, capped) and the exit code.
func (t *sandboxTools) exec(ctx context.Context, args []string, stdin []byte) (string, int, bool, error) {
	env := []string{}
	if t.homeDir != "" {
		env = append(env, "HOME="+t.homeDir)
	}
	p, err := t.sb.Exec(ctx, provider.ExecSpec{Args: args, Env: env, Dir: t.workDir})
	if err != nil {
		return "", -1, false, err
	}
	if len(stdin) > 0 {
		p.Stdin().Write(stdin)
	}
	p.Stdin().Close()
	out := &capped{max: maxOutput}
	var wg sync.WaitGroup
	for _, r := range []io.Reader{p.Stdout(), p.Stderr()} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(out, r)
		}()
	}
	wg.Wait()
	code, err := p.Wait()
	return out.String(), code, out.over, err
}

// capped keeps the first max bytes written to it, from several writers.
type capped struct {
	mu   sync.Mutex
	max  int
	b    []byte
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - len(c.b); room < len(p) {
		c.b = append(c.b, p[:max(room, 0)]...)
		c.over = true
	} else {
		c.b = append(c.b, p...)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}

func (t *sandboxTools) bash(ctx context.Context, raw json.RawMessage) (string, bool) {
	var in struct {
		Command   string `json:"command"`
		Restart   bool   `json:"restart"`
		TimeoutMS int    `json:"timeout_ms"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return "invalid bash input: " + err.Error(), true
	}
	if in.Restart {
		// A fresh shell: forget the state (shell.go).
		if _, _, _, err := t.exec(ctx, []string{"rm", "-f", "--", t.statePath()}, nil); err != nil {
			return "bash: restart: " + err.Error(), true
		}
	}
	if strings.TrimSpace(in.Command) == "" {
		if in.Restart {
			return "shell restarted", false
		}
		return "bash: command is required", true
	}
	timeout := t.bashTimeout
	if in.TimeoutMS > 0 {
		timeout = time.Duration(min(in.TimeoutMS, maxBashMS)) * time.Millisecond
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, code, over, err := t.exec(cctx, []string{"bash", "--noprofile", "--norc", "-c", shellScript, "bash", t.statePath(), in.Command}, nil)
	switch {
	case errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return strings.TrimRight(out, "\n") + fmt.Sprintf("\ncommand timed out after %s", timeout), true
	case err != nil:
		return "bash: " + err.Error(), true
	}
	out = strings.TrimRight(out, "\n")
	if over {
		out += "\n(output truncated)"
	}
	if code != 0 {
		return strings.TrimLeft(out+fmt.Sprintf("\nexit status %d", code), "\n"), true
	}
	return out, false
}

func (t *sandboxTools) getFile(ctx context.Context, p string) ([]byte, error) {
	b, err := t.sb.GetFile(ctx, t.abs(p))
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil, errors.New("no such file")
	}
	return b, err
}

func (t *sandboxTools) read(ctx context.Context, raw json.RawMessage) (string, bool) {
	var in struct {
		FilePath  string  `json:"file_path"`
		ViewRange []int64 `json:"view_range"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return "invalid read input: " + err.Error(), true
	}
	if in.FilePath == "" {
		return "read: file_path is required", true
	}
	if len(in.ViewRange) != 0 && len(in.ViewRange) != 2 {
		return "read: view_range must be [start_line, end_line]", true
	}
	data, err := t.getFile(ctx, in.FilePath)
	if err != nil {
		return fmt.Sprintf("read %s: %v", in.FilePath, err), true
	}
	if len(in.ViewRange) == 0 {
		if len(data) > maxFileBytes {
			return fmt.Sprintf("read: %s is %d bytes, over the %d-byte limit; use view_range to read part of it", in.FilePath, len(data), maxFileBytes), true
		}
		return string(data), false
	}
	lines := strings.Split(string(data), "\n")
	start := max(0, int(in.ViewRange[0])-1)
	end := len(lines)
	if e := int(in.ViewRange[1]); e > 0 && e < end {
		end = e
	}
	if start >= len(lines) || end < start {
		return "", false
	}
	out := strings.Join(lines[start:end], "\n")
	if len(out) > maxFileBytes {
		return fmt.Sprintf("read: the selected lines of %s are over the %d-byte limit", in.FilePath, maxFileBytes), true
	}
	return out, false
}

func (t *sandboxTools) write(ctx context.Context, raw json.RawMessage) (string, bool) {
	var in struct {
		FilePath string  `json:"file_path"`
		Content  *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return "invalid write input: " + err.Error(), true
	}
	if in.FilePath == "" || in.Content == nil {
		return "write: file_path and content are required", true
	}
	if err := t.sb.PutFile(ctx, t.abs(in.FilePath), []byte(*in.Content), 0o644); err != nil {
		return fmt.Sprintf("write %s: %v", in.FilePath, err), true
	}
	return fmt.Sprintf("wrote %d bytes to %s", len(*in.Content), in.FilePath), false
}

func (t *sandboxTools) edit(ctx context.Context, raw json.RawMessage) (string, bool) {
	var in struct {
		FilePath   string `json:"file_path"`
		OldString  string `json:"old_string"`
		NewString  string `json:"new_string"`
		ReplaceAll bool   `json:"replace_all"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return "invalid edit input: " + err.Error(), true
	}
	if in.FilePath == "" || in.OldString == "" {
		return "edit: file_path and old_string are required", true
	}
	data, err := t.getFile(ctx, in.FilePath)
	if err != nil {
		return fmt.Sprintf("edit %s: %v", in.FilePath, err), true
	}
	if len(data) > maxFileBytes {
		return fmt.Sprintf("edit: %s is %d bytes, over the %d-byte limit", in.FilePath, len(data), maxFileBytes), true
	}
	content := string(data)
	n := strings.Count(content, in.OldString)
	switch {
	case n == 0:
		return fmt.Sprintf("edit: old_string not found in %s", in.FilePath), true
	case n > 1 && !in.ReplaceAll:
		return fmt.Sprintf("edit: old_string appears %d times in %s (must be unique, or set replace_all)", n, in.FilePath), true
	}
	content = strings.Replace(content, in.OldString, in.NewString, map[bool]int{true: -1, false: 1}[in.ReplaceAll])
	if err := t.sb.PutFile(ctx, t.abs(in.FilePath), []byte(content), 0o644); err != nil {
		return fmt.Sprintf("edit %s: %v", in.FilePath, err), true
	}
	return fmt.Sprintf("edited %s (%d replacement(s))", in.FilePath, map[bool]int{true: n, false: 1}[in.ReplaceAll]), false
}

func (t *sandboxTools) glob(ctx context.Context, raw json.RawMessage) (string, bool) {
	var in struct {
		Pattern string `json:"pattern"`
		Path    string `json:"path"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return "invalid glob input: " + err.Error(), true
	}
	if in.Pattern == "" {
		return "glob: pattern is required", true
	}
	root := t.workDir
	if in.Path != "" {
		root = t.abs(in.Path)
	}
	// %T@ is the modification time, %P the path below root.
	out, code, _, err := t.exec(ctx, []string{"find", root, "-type", "f", "-printf", `%T@ %P\n`}, nil)
	if err != nil || code != 0 && out == "" {
		return fmt.Sprintf("glob: cannot list %s: %v %s", root, err, strings.TrimSpace(out)), true
	}
	type hit struct {
		mtime float64
		path  string
	}
	var hits []hit
	for _, line := range strings.Split(out, "\n") {
		ts, p, ok := strings.Cut(line, " ")
		if !ok || !matchGlob(in.Pattern, p) {
			continue
		}
		mt, _ := strconv.ParseFloat(ts, 64)
		hits = append(hits, hit{mt, p})
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].mtime > hits[j].mtime })
	if len(hits) == 0 {
		return "no files match " + in.Pattern, false
	}
	var b strings.Builder
	for i, h := range hits {
		if i == maxGlobResults {
			fmt.Fprintf(&b, "(%d more not shown)\n", len(hits)-i)
			break
		}
		b.WriteString(h.path + "\n")
	}
	return strings.TrimRight(b.String(), "\n"), false
}

// matchGlob matches a slash-separated path against a pattern where ** matches any number
// of path segments and other segments follow path.Match.
func matchGlob(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchSegs(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// grepScript searches with ripgrep when the sandbox has it, else with grep.
const grepScript = `if command -v rg >/dev/null 2>&1; then exec rg --no-config --no-heading --line-number --color never -e "$1" -- "$2"; else exec grep -rnIE --color=never -e "$1" -- "$2"; fi`

func (t *sandboxTools) grep(ctx context.Context, raw json.RawMessage) (string, bool) {
	var in struct {
		Pattern string `json:"pattern"`
		Path    string `json:"path"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return "invalid grep input: " + err.Error(), true
	}
	if in.Pattern == "" {
		return "grep: pattern is required", true
	}
	root := t.workDir
	if in.Path != "" {
		root = t.abs(in.Path)
	}
	out, code, over, err := t.exec(ctx, []string{"bash", "-c", grepScript, "grep", in.Pattern, root}, nil)
	switch {
	case err != nil:
		return "grep: " + err.Error(), true
	case code == 1 && strings.TrimSpace(out) == "":
		return "no matches", false
	case code > 1:
		return "grep: " + strings.TrimSpace(out), true
	}
	out = strings.TrimRight(out, "\n")
	if over {
		out += "\n(output truncated)"
	}
	return string(bytes.ToValidUTF8([]byte(out), []byte("\uFFFD"))), false
}
