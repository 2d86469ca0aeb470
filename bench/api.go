package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// api is a small JSON client for the Hangar server under test. It keeps connections alive
// and speaks HTTP/1.1 only.
type api struct {
	addr   string // host:port
	base   string // http://host:port
	key    string
	client *http.Client
}

func newAPI(addr, key string, conns int) *api {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &api{
		addr:   addr,
		base:   "http://" + addr,
		key:    key,
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}
}

// statusError is a non-2xx answer.
type statusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

// do sends body (marshalled as JSON when not nil) and decodes a 2xx answer into out when
// out is not nil. The body is always drained so the connection is reused.
func (a *api) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("x-api-key", a.key)
	req.Header.Set("anthropic-version", "2023-06-01")
	if body != nil {
		req.Header.Set("content-type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		if len(b) > 300 {
			b = b[:300]
		}
		return &statusError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// Bodies and answers of the few endpoints the bench drives.

type idObject struct {
	ID string `json:"id"`
}

func agentBody(name string) map[string]any {
	return map[string]any{"name": name, "model": "claude-sonnet-4-6", "engine": "scripted"}
}

func sessionBody(agentID, envID string) map[string]any {
	return map[string]any{"agent": agentID, "environment_id": envID}
}

func userMessage(text string) map[string]any {
	return map[string]any{"events": []any{map[string]any{
		"type":    "user.message",
		"content": []any{map[string]any{"type": "text", "text": text}},
	}}}
}

func (a *api) createAgent(ctx context.Context, name string) (string, error) {
	var o idObject
	err := a.do(ctx, http.MethodPost, "/v1/agents", agentBody(name), &o)
	return o.ID, err
}

// createEnvironment creates an environment from body, which must hold at least "name".
func (a *api) createEnvironment(ctx context.Context, body json.RawMessage) (string, error) {
	var o idObject
	err := a.do(ctx, http.MethodPost, "/v1/environments", body, &o)
	return o.ID, err
}

func (a *api) createSession(ctx context.Context, agentID, envID string) (string, error) {
	var o idObject
	err := a.do(ctx, http.MethodPost, "/v1/sessions", sessionBody(agentID, envID), &o)
	return o.ID, err
}

func (a *api) sendMessage(ctx context.Context, sessionID, text string) error {
	return a.do(ctx, http.MethodPost, "/v1/sessions/"+sessionID+"/events", userMessage(text), nil)
}

// fixture is what every measurement needs: a scripted agent and an environment.
type fixture struct {
	agentID string
	envID   string
}

// setup creates the fixture. envBody is the environment create body to try first; when
// creating a session in it fails, a few alternatives naming the in-memory sandbox
// provider are tried, so the bench keeps working while environment defaults change.
func setup(ctx context.Context, a *api, envBody string) (fixture, error) {
	agentID, err := a.createAgent(ctx, "bench-turns")
	if err != nil {
		return fixture{}, fmt.Errorf("create agent: %w", err)
	}
	candidates := []string{
		envBody,
		`{"name":"bench","config":{"type":"cloud","provider":"memory"}}`,
		`{"name":"bench","config":{"type":"self_hosted","provider":"memory"}}`,
		`{"name":"bench","config":{"provider":"memory"}}`,
	}
	var errs []error
	for _, body := range candidates {
		envID, err := a.createEnvironment(ctx, json.RawMessage(body))
		if err != nil {
			errs = append(errs, fmt.Errorf("create environment %s: %w", body, err))
			continue
		}
		if _, err := a.createSession(ctx, agentID, envID); err != nil {
			errs = append(errs, fmt.Errorf("create session in environment %s: %w", body, err))
			continue
		}
		return fixture{agentID: agentID, envID: envID}, nil
	}
	return fixture{}, fmt.Errorf("no environment works: %v", errs)
}
