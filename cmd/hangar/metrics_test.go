package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// GET /metrics needs the admin key and reports turns, sessions by status and streams.
func TestMetrics(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)
	agent := newAgent(t, srv.Client, "metrics", nil)
	env := newEnvironment(t, srv.Client, "metrics-env")
	sess := newSession(t, srv.Client, agent.ID, env.ID)
	stream := openStream(t, ctx, srv.Client, sess.ID)
	send(t, srv.Client, sess.ID, userMessage("hi"))
	readUntil(t, stream, isIdle)

	get := func(key string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/metrics", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(""); code != http.StatusUnauthorized || !strings.Contains(body, "authentication_error") {
		t.Errorf("without a key: %d %s", code, body)
	}
	if code, _ := get("wrong"); code != http.StatusUnauthorized {
		t.Errorf("with a wrong key: %d", code)
	}
	code, body := get(testAPIKey)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	for _, want := range []string{
		`hangar_turns_total{outcome="end_turn"} 1`,
		`hangar_turn_duration_seconds_count{outcome="end_turn"} 1`,
		`hangar_sessions{status="idle"} 1`,
		`hangar_sessions{status="running"} 0`,
		`hangar_sse_subscribers 1`,
		`hangar_lease_takeovers_total 0`,
		`hangar_egress_bytes_total{direction="sent"} 0`,
		`hangar_instance_info{instance_id="inst_`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

// HANGAR_OTEL_EXPORTER=stdout writes one hangar.turn span per turn to stdout.
func TestTracingStdout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	cfg := Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), APIKey: testAPIKey, LogFormat: "text", LogLevel: "error", OTelExporter: "stdout"}
	app, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler), &out)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Serve(ctx, ln) }()
	c := newClient("http://"+ln.Addr().String(), option.WithAPIKey(testAPIKey))
	agent := newAgent(t, c, "traced", nil)
	sess := newSession(t, c, agent.ID, newEnvironment(t, c, "traced-env").ID)
	stream := openStream(t, testContext(t), c, sess.ID)
	msg := send(t, c, sess.ID, userMessage("hi"))[0]
	readUntil(t, stream, isIdle)
	cancel()
	<-served
	if err := app.Close(); err != nil { // flushes the spans
		t.Fatal(err)
	}
	var span struct {
		Name       string
		Attributes []struct {
			Key   string
			Value struct{ Value any }
		}
	}
	if err := json.NewDecoder(&out).Decode(&span); err != nil {
		t.Fatalf("no span on stdout: %v (%q)", err, out.String())
	}
	attrs := map[string]any{}
	for _, a := range span.Attributes {
		attrs[a.Key] = a.Value.Value
	}
	if span.Name != "hangar.turn" || attrs["hangar.session.id"] != sess.ID || attrs["hangar.message.id"] != msg.ID ||
		attrs["hangar.turn.outcome"] != "end_turn" || attrs["hangar.turn.attempts"] != float64(1) {
		t.Errorf("span %s %v", span.Name, attrs)
	}
}
