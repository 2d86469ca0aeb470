package claudecode_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"context"
)

func TestZZProbe(t *testing.T) {
	bin := claudeBinary(t)
	_, url := newFake(t)
	sb := newHostSandbox(t, url)
	extra := strings.Fields(os.Getenv("PROBE_ARGS"))
	prompt := os.Getenv("PROBE_PROMPT")
	args := append([]string{"-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose", "--include-partial-messages", "--model", "claude-sonnet-4-6", "--permission-prompt-tool", "stdio"}, extra...)
	if s := os.Getenv("PROBE_SETTINGS"); s != "" {
		args = append(args, "--settings", s)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = sb.paths["/workspace"]
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "ANTHROPIC_BASE_URL=" + url, "ANTHROPIC_API_KEY=x", "IS_SANDBOX=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "HOME=" + sb.paths["/home/agent"], "CLAUDE_CONFIG_DIR=" + sb.paths["/home/agent"] + "/.claude"}
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	msg, _ := json.Marshal(map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": []map[string]string{{"type": "text", "text": prompt}}}})
	stdin.Write(append(msg, '\n'))
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, `"stream_event"`) {
			t.Logf("OUT %s", l)
		}
		var m struct {
			Type      string          `json:"type"`
			RequestID string          `json:"request_id"`
			Request   json.RawMessage `json:"request"`
		}
		json.Unmarshal([]byte(l), &m)
		if m.Type == "control_request" {
			var rq struct{ Input json.RawMessage `json:"input"` }
			json.Unmarshal(m.Request, &rq)
			var resp map[string]any
			if os.Getenv("PROBE_DENY") != "" {
				resp = map[string]any{"behavior": "deny", "message": "nope from user"}
			} else {
				resp = map[string]any{"behavior": "allow", "updatedInput": rq.Input}
			}
			b, _ := json.Marshal(map[string]any{"type": "control_response", "response": map[string]any{"subtype": "success", "request_id": m.RequestID, "response": resp}})
			t.Logf("IN  %s", b)
			stdin.Write(append(b, '\n'))
		}
		if m.Type == "result" {
			stdin.Close()
		}
	}
	t.Log("exit", cmd.Wait())
	b, err := os.ReadFile(sb.paths["/workspace"] + "/f.txt")
	t.Logf("f.txt=%q %v", b, err)
}
