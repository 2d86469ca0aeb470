// Package grader scores an agent's work against an outcome's rubric with one call to the
// Anthropic Messages API (the server's upstream model credential), for the outcome loop of
// internal/runner (docs/outcomes.md). The grader is a separate model call with its own
// context: it sees the task, the rubric and a transcript of what the agent did, never the
// agent's own reasoning, and answers with a JSON verdict.
package grader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// DefaultModel grades when Config.Model is empty.
const DefaultModel = "claude-sonnet-4-5"

// DefaultBaseURL is the Messages API used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.anthropic.com"

// Config configures a Client.
type Config struct {
	BaseURL string // Messages API base URL (ANTHROPIC_BASE_URL)
	// APIKey (x-api-key) or, without it, AuthToken (Authorization: Bearer) authenticates.
	APIKey    string
	AuthToken string
	Model     string
	HTTP      *http.Client
}

// Client grades outcomes.
type Client struct{ cfg Config }

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if cfg.HTTP == nil {
		cfg.HTTP = http.DefaultClient
	}
	return &Client{cfg: cfg}
}

// Request is what to grade.
type Request struct {
	Description string // the outcome's task
	Rubric      string // the outcome's rubric text
	Transcript  string // what the agent did, as text
	Iteration   int    // 0-based revision cycle
}

// Verdict is the grader's answer.
type Verdict struct {
	// Result is satisfied, needs_revision or failed (the rubric does not apply).
	Result      string
	Explanation string
	Usage       Usage
}

// Usage is the token usage of the grader's model requests.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

// system instructs the grader. The verdict must be the only output so it parses.
const system = `You are a strict, fair grader. You are given a task description, a rubric and a transcript of what an agent did. Decide whether the agent's work satisfies every criterion of the rubric.
Answer with exactly one JSON object and nothing else:
{"result": "satisfied" | "needs_revision" | "failed", "explanation": "<why; for needs_revision, list each unmet criterion and what to change>"}
Use "failed" only when the rubric cannot apply to this task at all.`

// maxTranscript bounds the transcript sent to the grader (bytes, keeping the end).
const maxTranscript = 200_000

// Grade asks the model for a verdict. A reply that is not a valid verdict is an error.
func (c *Client) Grade(ctx context.Context, req Request) (Verdict, error) {
	tr := req.Transcript
	if len(tr) > maxTranscript {
		tr = "…(earlier transcript omitted)…\n" + tr[len(tr)-maxTranscript:]
	}
	prompt := fmt.Sprintf("<task>\n%s\n</task>\n\n<rubric>\n%s\n</rubric>\n\n<transcript iteration=\"%d\">\n%s\n</transcript>\n\nGrade the agent's work against the rubric.",
		req.Description, req.Rubric, req.Iteration, tr)
	body, _ := json.Marshal(map[string]any{
		"model":      c.cfg.Model,
		"max_tokens": 2048,
		"system":     system,
		"messages":   []any{map[string]any{"role": "user", "content": prompt}},
	})
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.cfg.BaseURL, "/")+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return Verdict{}, fmt.Errorf("grader request: %w", err)
	}
	hreq.Header.Set("content-type", "application/json")
	hreq.Header.Set("anthropic-version", "2023-06-01")
	switch {
	case c.cfg.APIKey != "":
		hreq.Header.Set("x-api-key", c.cfg.APIKey)
	case c.cfg.AuthToken != "":
		hreq.Header.Set("authorization", "Bearer "+c.cfg.AuthToken)
	}
	resp, err := c.cfg.HTTP.Do(hreq)
	if err != nil {
		return Verdict{}, fmt.Errorf("grader request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return Verdict{}, fmt.Errorf("grader response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Verdict{}, fmt.Errorf("grader: model API answered %d: %s", resp.StatusCode, truncate(string(raw), 300))
	}
	var msg struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		Usage Usage `json:"usage"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil {
		return Verdict{}, fmt.Errorf("grader response: %w", err)
	}
	var text strings.Builder
	for _, b := range msg.Content {
		if b.Type == "text" {
			text.WriteString(b.Text)
		}
	}
	v, err := parseVerdict(text.String())
	v.Usage = msg.Usage
	return v, err
}

// parseVerdict extracts the JSON verdict from the model's text (models sometimes wrap it
// in prose or a code fence: the outermost object is taken).
func parseVerdict(text string) (Verdict, error) {
	i, j := strings.Index(text, "{"), strings.LastIndex(text, "}")
	if i < 0 || j < i {
		return Verdict{}, fmt.Errorf("grader: no JSON verdict in reply %q", truncate(text, 200))
	}
	var v struct {
		Result      string `json:"result"`
		Explanation string `json:"explanation"`
	}
	if err := json.Unmarshal([]byte(text[i:j+1]), &v); err != nil {
		return Verdict{}, fmt.Errorf("grader: verdict: %w", err)
	}
	switch v.Result {
	case "satisfied", "needs_revision", "failed":
	default:
		return Verdict{}, errors.New("grader: verdict result must be satisfied, needs_revision or failed, got " + fmt.Sprintf("%q", v.Result))
	}
	return Verdict{Result: v.Result, Explanation: v.Explanation}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
