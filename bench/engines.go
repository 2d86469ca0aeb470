package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/claudecode"
	"github.com/hangar-dev/hangar/internal/engine/codex"
	"github.com/hangar-dev/hangar/internal/engine/factory"
	"github.com/hangar-dev/hangar/internal/engine/gemini"
	"github.com/hangar-dev/hangar/internal/engine/opencode"
	"github.com/hangar-dev/hangar/internal/engine/pi"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// The engines measurement runs one tool turn of every CLI engine against the fake model
// API in the bench process: through Hangar (a new session: bubblewrap sandbox, forwarder,
// egress proxy, event store, SSE) and bare (the engine's own Start, so the CLI gets exactly
// Hangar's flags, settings files and stdin protocol, on a host process: no sandbox, no
// proxy, no server).

// enginesPrompt is the measured turn: one shell tool call, its result, a final message.
const enginesPrompt = "TOOL:bash echo hi > f.txt"

// benchEngine is one engine of the measurement.
type benchEngine struct {
	Name, Model string
	// Shell is the CLI's shell tool on the Anthropic API and the extra input it requires;
	// engines on other APIs rely on the fake's defaults for those APIs.
	Shell      string
	ShellExtra map[string]any
	Package    engine.NPMPackage
	New        engine.Factory
}

var benchEngines = []benchEngine{
	{Name: "claude", Model: "claude-sonnet-4-6", Package: claudecode.NPM(), New: claudecode.New},
	{Name: "codex", Model: "gpt-5.1-codex", Package: codex.NPM(), New: codex.New},
	{Name: "gemini", Model: "gemini-2.5-flash", Package: gemini.NPM(), New: gemini.New},
	{Name: "opencode", Model: "claude-sonnet-4-6", Shell: "bash", ShellExtra: map[string]any{"description": "run the command"},
		Package: opencode.NPM(), New: opencode.New},
	{Name: "factory", Model: "claude-sonnet-4-6", Shell: "Execute", ShellExtra: map[string]any{
		"summary": "run the command", "riskLevel": "low", "riskLevelReason": "a bench command"},
		Package: factory.NPM(), New: factory.New},
	{Name: "pi", Model: "claude-sonnet-4-6", Shell: "bash", Package: pi.NPM(), New: pi.New},
}

// script answers like fakemodel.Default, but calls the engine's own shell tool.
func (be benchEngine) script(req fakemodel.Request) fakemodel.Response {
	if _, ok := req.LastToolResult(); ok || be.Shell == "" || !req.HasTool(be.Shell) {
		return fakemodel.Default(req)
	}
	text := req.LastUserText()
	i := strings.Index(text, fakemodel.ToolMarker)
	if i < 0 {
		return fakemodel.Default(req)
	}
	cmd, _, _ := strings.Cut(text[i+len(fakemodel.ToolMarker):], "\n")
	input := map[string]any{"command": strings.TrimSpace(cmd)}
	for k, v := range be.ShellExtra {
		input[k] = v
	}
	return fakemodel.ToolUse(be.Shell, input)
}

// enginesResult is the per-engine turn latency through Hangar and bare.
type enginesResult struct {
	Turns   int          `json:"turns"` // per engine and side
	Prompt  string       `json:"prompt"`
	Engines []engineCase `json:"engines"`
	Notes   []string     `json:"notes,omitempty"`
}

// engineCase is one engine's samples.
type engineCase struct {
	Name    string     `json:"name"`
	Package string     `json:"package"`
	Version string     `json:"version"`
	Skipped string     `json:"skipped,omitempty"`
	Hangar  claudeSide `json:"hangar"`
	Bare    claudeSide `json:"bare"`
}

// runEngines measures turns tool turns of every installed engine (of those named in the
// comma-separated names; "" names all) through Hangar (bin, started once per engine with
// its own data dir under tmp) and bare.
func runEngines(ctx context.Context, bin, tmp string, serverEnv []string, turns int, names string, logf func(string, ...any)) (enginesResult, error) {
	res := enginesResult{Turns: turns, Prompt: enginesPrompt}
	_, cache, err := claudeReady()
	if err != nil && !errors.Is(err, engine.ErrNotInstalled) {
		return res, err
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		return res, errors.New("bubblewrap (bwrap) is not on PATH")
	}
	for _, be := range benchEngines {
		if names != "" && !slices.Contains(strings.Split(names, ","), be.Name) {
			continue
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		c := engineCase{Name: be.Name, Package: be.Package.Package, Version: be.Package.Version}
		if _, err := be.Package.Find(cache); err != nil {
			c.Skipped = err.Error()
			logf("engines: %s: skipped: %v", be.Name, err)
		} else if err := runEngine(ctx, be, bin, cache, filepath.Join(tmp, "engines", be.Name), serverEnv, turns, &c, logf); err != nil {
			c.Skipped = err.Error()
			logf("engines: %s: %v", be.Name, err)
		}
		c.Hangar.summarize()
		c.Bare.summarize()
		res.Engines = append(res.Engines, c)
	}
	return res, nil
}

func runEngine(ctx context.Context, be benchEngine, bin, cache, dir string, serverEnv []string, turns int, c *engineCase, logf func(string, ...any)) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fake := &fakemodel.Server{} // each API's default script
	if be.Shell != "" {
		fake.Script = be.script
	}
	mlog := &modelLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mlog.wrap(fake), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	fakeURL := "http://" + ln.Addr().String()

	env := append(append([]string(nil), serverEnv...),
		"ANTHROPIC_BASE_URL="+fakeURL, "ANTHROPIC_API_KEY=sk-ant-bench-dummy", "ANTHROPIC_AUTH_TOKEN=",
		"OPENAI_BASE_URL="+fakeURL, "OPENAI_API_KEY=sk-bench-dummy",
		"GEMINI_BASE_URL="+fakeURL, "GEMINI_API_KEY=bench-dummy",
		"HANGAR_CACHE_DIR="+cache)
	srv, err := startServer(ctx, bin, filepath.Join(dir, "server"), filepath.Join(dir, "server.log"), env)
	if err != nil {
		return err
	}
	defer srv.stop()
	a := newAPI(srv.addr, srv.apiKey, 4)
	var agent struct{ hangar.Agent }
	body := map[string]any{"name": "bench-" + be.Name, "model": be.Model, "engine": be.Name,
		"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}}
	if err := a.do(ctx, http.MethodPost, "/v1/agents", body, &agent); err != nil {
		return fmt.Errorf("create agent: %w", err)
	}
	envID, err := a.createEnvironment(ctx, json.RawMessage(`{"name":"bench-engines"}`))
	if err != nil {
		return fmt.Errorf("create environment: %w", err)
	}
	eng, err := be.New(json.RawMessage(fmt.Sprintf(`{"cache_dir":%q}`, cache)), engine.Deps{})
	if err != nil {
		return err
	}
	h := &hangarSide{a: a, agentID: agent.ID, envID: envID, log: mlog}
	defer h.close()
	b := &engineBare{eng: eng, agent: agent.Agent, baseURL: fakeURL, dir: filepath.Join(dir, "bare"), log: mlog}

	// Warm up both sides once (page cache for the CLI, the server's first sandbox), untimed.
	// A failed warm-up is logged; the measured turns count their own failures.
	var scratch claudeSide
	if s, err := h.newSession(ctx); err != nil {
		return err
	} else if !h.turn(ctx, s, enginesPrompt, &scratch) {
		logf("engines: %s: warm-up turn through Hangar: %s\nserver log %s:\n%s", be.Name, scratch.FirstError, srv.logPath, tail(srv.logPath, 2000))
	}
	if err := b.turn(ctx, "warmup", &scratch); err != nil {
		logf("engines: %s: warm-up bare turn: %v", be.Name, err)
	}
	logf("engines: %s %s: %d × %q through Hangar and bare", be.Name, be.Package.Version, turns, enginesPrompt)
	for i := range turns {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s, err := h.newSession(ctx); err != nil {
			c.Hangar.fail(err)
		} else {
			h.turn(ctx, s, enginesPrompt, &c.Hangar)
			s.conn.close()
		}
		if err := b.turn(ctx, fmt.Sprint(i), &c.Bare); err != nil {
			c.Bare.fail(err)
		}
	}
	return nil
}

// engineBare runs the engine's turns on host processes.
type engineBare struct {
	eng     engine.Engine
	agent   hangar.Agent
	baseURL string
	dir     string
	log     *modelLog
}

// turn runs one first turn in a new HOME and work dir under dir/name, timed from Start to
// the run's end (its events closed: the CLI has exited), as Hangar's turn ends at idle.
func (b *engineBare) turn(ctx context.Context, name string, side *claudeSide) error {
	root := filepath.Join(b.dir, name)
	sb := hostSandbox{}
	home, work := filepath.Join(root, "home"), filepath.Join(root, "workspace")
	for _, d := range []string{home, work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	content, _ := json.Marshal(engine.TextContent(enginesPrompt))
	spec := engine.Spec{
		Session: &hangar.Session{Type: "session", ID: "sesn_bench_" + name, Status: hangar.StatusRunning, Agent: b.agent},
		Message: hangar.NewEvent(hangar.EventUserMessage, map[string]any{"content": json.RawMessage(content)}),
		Content: content, WorkDir: work, HomeDir: home,
		Egress: engine.Egress{ModelBaseURL: b.baseURL, Token: "bench-dummy"},
	}
	ctx, cancel := context.WithTimeout(ctx, claudeTurnTimeout)
	defer cancel()
	b.log.take()
	t0 := time.Now()
	run, err := b.eng.Start(ctx, sb, spec)
	if err != nil {
		return err
	}
	var types []string
	for ev := range run.Events() {
		types = append(types, ev.Type)
	}
	end := time.Now()
	if err := run.Wait(); err != nil {
		return err
	}
	all := strings.Join(types, " ")
	if !strings.Contains(all, hangar.EventAgentToolResult) || !strings.Contains(all, hangar.EventAgentMessage) {
		return fmt.Errorf("bare turn events: %s", all)
	}
	reqs, other := b.log.take()
	side.sample(t0, end, reqs, other)
	return nil
}
