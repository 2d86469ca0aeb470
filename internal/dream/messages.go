package dream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hangar-dev/hangar"
)

// MessagesConfig configures Messages.
type MessagesConfig struct {
	BaseURL string // Messages API base URL; "" means https://api.anthropic.com
	// APIKey (x-api-key) or, without it, AuthToken (Authorization: Bearer) authenticates.
	APIKey    string
	AuthToken string
	HTTP      *http.Client
}

// Messages is the Model of a server: one Anthropic Messages API request per dream, with
// the model the dream names, at the server's upstream.
type Messages struct{ cfg MessagesConfig }

// NewMessages returns a Messages model.
func NewMessages(cfg MessagesConfig) *Messages {
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.anthropic.com"
	}
	if cfg.HTTP == nil {
		cfg.HTTP = http.DefaultClient
	}
	return &Messages{cfg: cfg}
}

// System instructs the model; the reply must be the JSON object only so that it parses.
const System = `You consolidate an AI agent's long-term memory. You are given the current memory store (files addressed by absolute paths) and transcripts of the agent's recent sessions. Produce the complete new content of the memory store: keep what is still true and useful, add durable lessons, preferences and facts the transcripts reveal, merge duplicates, fix contradictions in favour of the most recent evidence, drop what is stale or one-off, and organize the files under clear paths (one topic per file). Never invent facts.
Answer with exactly one JSON object and nothing else:
{"memories": [{"path": "/topic/file.md", "content": "<markdown>"}, ...]}
Paths start with "/" and every file you leave out is deleted.`

// Prompt renders a request as the user message.
func Prompt(req Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<memory_store name=%q>\n", req.StoreName)
	for _, f := range req.Memories {
		fmt.Fprintf(&b, "<memory path=%q>\n%s\n</memory>\n", f.Path, f.Content)
	}
	b.WriteString("</memory_store>\n\n")
	for _, t := range req.Transcripts {
		fmt.Fprintf(&b, "<transcript session_id=%q>\n%s</transcript>\n\n", t.SessionID, t.Text)
	}
	if req.Instructions != "" {
		fmt.Fprintf(&b, "<instructions>\n%s\n</instructions>\n\n", req.Instructions)
	}
	b.WriteString("Write the reorganized memory store.")
	return b.String()
}

// Dream asks the model for the reorganized memories.
func (m *Messages) Dream(ctx context.Context, req Request) (Reply, error) {
	body, _ := json.Marshal(map[string]any{
		"model":      req.Model,
		"max_tokens": 16384,
		"system":     System,
		"messages":   []any{map[string]any{"role": "user", "content": Prompt(req)}},
	})
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(m.cfg.BaseURL, "/")+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return Reply{}, fmt.Errorf("dream model request: %w", err)
	}
	hreq.Header.Set("content-type", "application/json")
	hreq.Header.Set("anthropic-version", "2023-06-01")
	switch {
	case m.cfg.APIKey != "":
		hreq.Header.Set("x-api-key", m.cfg.APIKey)
	case m.cfg.AuthToken != "":
		hreq.Header.Set("authorization", "Bearer "+m.cfg.AuthToken)
	}
	resp, err := m.cfg.HTTP.Do(hreq)
	if err != nil {
		return Reply{}, fmt.Errorf("dream model request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return Reply{}, fmt.Errorf("dream model response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Reply{}, failf("api_error", "the model API answered %d: %s", resp.StatusCode, clip(string(raw), 300))
	}
	var msg struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		Usage hangar.DreamUsage `json:"usage"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil {
		return Reply{}, fmt.Errorf("dream model response: %w", err)
	}
	var text strings.Builder
	for _, b := range msg.Content {
		if b.Type == "text" {
			text.WriteString(b.Text)
		}
	}
	files, err := parseReply(text.String())
	return Reply{Memories: files, Usage: msg.Usage}, err
}

// parseReply takes the outermost JSON object of the model's text (models sometimes wrap it
// in prose or a code fence).
func parseReply(text string) ([]File, error) {
	i, j := strings.Index(text, "{"), strings.LastIndex(text, "}")
	if i < 0 || j < i {
		return nil, failf("api_error", "the model's reply holds no JSON object: %q", clip(text, 200))
	}
	var v struct {
		Memories *[]File `json:"memories"`
	}
	if err := json.Unmarshal([]byte(text[i:j+1]), &v); err != nil {
		return nil, failf("api_error", "the model's reply: %v", err)
	}
	if v.Memories == nil {
		return nil, failf("api_error", "the model's reply has no \"memories\" array")
	}
	return *v.Memories, nil
}
