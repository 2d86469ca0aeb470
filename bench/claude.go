package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/claudecode"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// The claude measurement runs the real Claude Code CLI against a fake model API in the
// bench process, once through Hangar (bubblewrap sandbox, forwarder, egress proxy, event
// store, SSE) and once bare on the host, and compares the two.

// claudeModel is the model of the bench agent (its engine is inferred from it).
const claudeModel = "claude-sonnet-4-6"

// claudePrompts are the measured prompts: a text-only turn (one model request) and a tool
// turn (a Bash tool_use, its result, and a second model request).
var claudePrompts = []struct{ Name, Text string }{
	{"text", "say hi"},
	{"tool", "TOOL:bash echo hi > f.txt"},
}

// claudeTurnTimeout bounds one turn, through Hangar or bare.
const claudeTurnTimeout = 90 * time.Second

// targetClaudeOverheadP50 is the target for Hangar − bare at p50.
const targetClaudeOverheadP50 = 50 * time.Millisecond

// claudeResult is the end-to-end turn latency of the claude engine against bare runs.
type claudeResult struct {
	Turns   int            `json:"turns"` // per prompt and kind of turn, on each side
	Binary  string         `json:"binary"`
	Version string         `json:"version"`
	Argv    []string       `json:"argv"`
	Cases   []claudeCase   `json:"cases"`
	Sandbox *sandboxResult `json:"sandbox,omitempty"`
	// Extra counts requests to the fake model API other than POST /v1/messages, by path.
	Extra  map[string]int `json:"other_model_api_requests,omitempty"`
	Warmup time.Duration  `json:"warmup_ns"`
	Notes  []string       `json:"notes,omitempty"`
}

// claudeCase is one prompt and kind of turn: "first" (a new session: the sandbox is
// created and the CLI starts a new conversation) or "resumed" (the second turn of that
// session: the CLI runs with --resume).
type claudeCase struct {
	Prompt string     `json:"prompt"`
	Text   string     `json:"text"`
	Turn   string     `json:"turn"`
	Hangar claudeSide `json:"hangar"`
	Bare   claudeSide `json:"bare"`
}

// claudeSide is one side's samples for a case.
type claudeSide struct {
	N          int    `json:"n"`
	Failed     int    `json:"failed"`
	FirstError string `json:"first_error,omitempty"`
	// Total is POST → session.status_idle through Hangar, start → `result` line bare.
	Total summary `json:"total"`
	// Exit (bare only) is start → the process has exited after stdin was closed on the
	// result line, which is what Hangar waits for before going idle.
	Exit summary `json:"exit,omitzero"`
	// Running (Hangar only) is POST → session.status_running on the stream.
	Running summary `json:"running,omitzero"`
	// Start is POST (or process start) → the first model request reaches the fake.
	Start summary `json:"start"`
	// Model is the first model request's arrival → the last model response's end: the
	// model requests themselves, the proxy hops and any tool run in between.
	Model summary `json:"model"`
	// Tail is the last model response's end → idle (Hangar) or the result line (bare).
	Tail summary `json:"tail"`
	// LastEvent (Hangar only) is the last model response's end → the last event before
	// session.status_idle on the stream: the CLI's output translated, stored and sent.
	// The rest of Tail is the CLI's exit, the sandbox's teardown and the idle event.
	LastEvent summary `json:"last_event,omitzero"`
	// ModelRequests is POST /v1/messages requests per turn (the last turn's count).
	ModelRequests int `json:"model_requests"`
	// OtherRequests counts the other requests to the fake model API over all turns.
	OtherRequests int `json:"other_requests"`

	total, exit, running, start, model, tail, lastEvent []time.Duration
}

func (s *claudeSide) fail(err error) {
	s.Failed++
	if s.FirstError == "" {
		s.FirstError = err.Error()
	}
}

func (s *claudeSide) summarize() {
	s.N = len(s.total)
	s.Total, s.Exit, s.Running = summarize(s.total), summarize(s.exit), summarize(s.running)
	s.Start, s.Model, s.Tail = summarize(s.start), summarize(s.model), summarize(s.tail)
	s.LastEvent = summarize(s.lastEvent)
}

// sample records one successful turn: t0 its start, end its end, reqs the model requests
// it made.
func (s *claudeSide) sample(t0, end time.Time, reqs []modelCall, other int) {
	s.OtherRequests += other
	s.total = append(s.total, end.Sub(t0))
	s.ModelRequests = len(reqs)
	if len(reqs) == 0 {
		return
	}
	first, last := reqs[0], reqs[len(reqs)-1]
	s.start = append(s.start, first.Start.Sub(t0))
	s.model = append(s.model, last.End.Sub(first.Start))
	s.tail = append(s.tail, end.Sub(last.End))
}

// modelCall is one request the fake model API served.
type modelCall struct {
	Method, Path string
	Start, End   time.Time // request headers in → handler returned (response written)
}

// modelLog wraps the fake model API and records when each request came and went.
type modelLog struct {
	mu    sync.Mutex
	calls []modelCall
	other map[string]int
}

func (l *modelLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		h.ServeHTTP(w, r)
		c := modelCall{Method: r.Method, Path: r.URL.Path, Start: t0, End: time.Now()}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.calls = append(l.calls, c)
		if !c.messages() {
			if l.other == nil {
				l.other = map[string]int{}
			}
			l.other[c.Method+" "+c.Path]++
		}
	})
}

func (c modelCall) messages() bool { return c.Method == http.MethodPost && c.Path == "/v1/messages" }

// take returns the POST /v1/messages calls recorded since the last take, and how many
// other requests came in that time.
func (l *modelLog) take() (msgs []modelCall, other int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if c.messages() {
			msgs = append(msgs, c)
		} else {
			other++
		}
	}
	l.calls = nil
	return msgs, other
}

// claudeReady reports whether the claude measurement can run: the pinned CLI installed in
// the cache dir and bubblewrap on PATH. It returns the CLI's path and the cache dir.
func claudeReady() (bin, cache string, err error) {
	cache = os.Getenv("HANGAR_CACHE_DIR")
	if cache == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return "", "", fmt.Errorf("no cache directory (set HANGAR_CACHE_DIR): %w", err)
		}
		cache = filepath.Join(d, "hangar")
	}
	if cache, err = filepath.Abs(cache); err != nil {
		return "", "", err
	}
	if bin, err = claudecode.Find(cache); err != nil {
		return "", "", fmt.Errorf("%w (or scripts/install-test-deps)", err)
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		return "", "", errors.New("bubblewrap (bwrap) is not on PATH")
	}
	return bin, cache, nil
}

// claudeEngineArgs returns the argv and environment the claude engine gives the CLI for a
// turn of agent, so the bare runs use exactly Hangar's flags.
func claudeEngineArgs(agent hangar.Agent, resume, baseURL, home string) (args, env []string, err error) {
	eng, err := claudecode.New(nil, engine.Deps{})
	if err != nil {
		return nil, nil, err
	}
	e := eng.(*claudecode.Engine)
	spec := engine.Spec{
		Session: &hangar.Session{Agent: agent},
		Resume:  resume,
		HomeDir: home,
		Egress:  engine.Egress{ModelBaseURL: baseURL, Token: "dummy"},
	}
	return e.Args(spec), e.Env(spec), nil
}

// runClaude measures turns turns of each prompt, first and resumed, through Hangar (bin,
// started here with its own data dir under tmp) and bare.
func runClaude(ctx context.Context, bin, tmp string, serverEnv []string, turns int, logf func(string, ...any)) (claudeResult, error) {
	res := claudeResult{Turns: turns}
	cli, cache, err := claudeReady()
	if err != nil {
		return res, err
	}
	res.Binary, res.Version = cli, claudecode.Version

	// The fake model API, on loopback in this process.
	fake := &fakemodel.Server{}
	mlog := &modelLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	hs := &http.Server{Handler: mlog.wrap(fake), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	fakeURL := "http://" + ln.Addr().String()

	env := append(append([]string(nil), serverEnv...),
		"ANTHROPIC_BASE_URL="+fakeURL, "ANTHROPIC_API_KEY=sk-ant-bench-dummy", "ANTHROPIC_AUTH_TOKEN=",
		"HANGAR_CACHE_DIR="+cache)
	srv, err := startServer(ctx, bin, filepath.Join(tmp, "claude"), filepath.Join(tmp, "claude.log"), env)
	if err != nil {
		return res, err
	}
	defer srv.stop()
	logf("claude: server pid %d on %s, fake model API on %s", srv.pid(), srv.addr, fakeURL)
	a := newAPI(srv.addr, srv.apiKey, 4)

	var agent struct {
		hangar.Agent
	}
	body := map[string]any{"name": "bench-claude", "model": claudeModel,
		"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}}
	if err := a.do(ctx, http.MethodPost, "/v1/agents", body, &agent); err != nil {
		return res, fmt.Errorf("create agent: %w", err)
	}
	if agent.Engine != "claude" {
		return res, fmt.Errorf("agent engine = %q, want claude (inferred from %s)", agent.Engine, claudeModel)
	}
	envID, err := a.createEnvironment(ctx, json.RawMessage(`{"name":"bench-claude"}`))
	if err != nil {
		return res, fmt.Errorf("create environment: %w", err)
	}
	res.Argv, _, err = claudeEngineArgs(agent.Agent, "", fakeURL, "")
	if err != nil {
		return res, err
	}

	h := &hangarSide{a: a, agentID: agent.ID, envID: envID, log: mlog}
	b := &bareSide{cli: cli, agent: agent.Agent, baseURL: fakeURL, dir: filepath.Join(tmp, "bare"), log: mlog}
	defer h.close()

	// Warm up both sides once (page cache for the CLI, the server's first sandbox), untimed.
	w0 := time.Now()
	if _, err := h.newSession(ctx); err != nil {
		return res, err
	}
	var scratch claudeSide
	h.turn(ctx, h.sessions[0], "say hi", &scratch)
	if _, err := b.turn(ctx, "warmup", "", "say hi", &scratch); err != nil {
		logf("claude: warm-up bare run: %v", err)
	}
	if scratch.Failed > 0 {
		return res, fmt.Errorf("warm-up turn failed: %s\nserver log %s:\n%s", scratch.FirstError, srv.logPath, tail(srv.logPath, 2000))
	}
	res.Warmup = time.Since(w0)

	for _, p := range claudePrompts {
		first := claudeCase{Prompt: p.Name, Text: p.Text, Turn: "first"}
		resumed := claudeCase{Prompt: p.Name, Text: p.Text, Turn: "resumed"}
		logf("claude: %d × %q, first and resumed turns, through Hangar and bare", turns, p.Text)
		for i := range turns {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			// Hangar: a new session (new sandbox), then a second turn in it.
			if s, err := h.newSession(ctx); err != nil {
				first.Hangar.fail(err)
			} else if h.turn(ctx, s, p.Text, &first.Hangar) {
				h.turn(ctx, s, p.Text, &resumed.Hangar)
			}
			// Bare: a new HOME and work dir, then a second run resuming the first.
			name := fmt.Sprintf("%s-%d", p.Name, i)
			if sid, err := b.turn(ctx, name, "", p.Text, &first.Bare); err == nil {
				b.turn(ctx, name, sid, p.Text, &resumed.Bare)
			}
		}
		for _, c := range []*claudeCase{&first, &resumed} {
			c.Hangar.summarize()
			c.Bare.summarize()
			res.Cases = append(res.Cases, *c)
		}
	}
	mlog.mu.Lock()
	res.Extra = mlog.other
	mlog.mu.Unlock()
	h.close()
	srv.stop()

	sb, err := runSandboxExec(ctx, bin, cli, filepath.Join(tmp, "sandbox"), turns)
	if err != nil {
		res.Notes = append(res.Notes, "sandbox exec measurement: "+err.Error())
	} else {
		res.Sandbox = &sb
	}
	return res, nil
}

// hangarSide drives turns through the server.
type hangarSide struct {
	a              *api
	agentID, envID string
	log            *modelLog
	sessions       []*claudeStream
}

// claudeStream is a session with its SSE stream read into ch.
type claudeStream struct {
	id   string
	conn *sseConn
	ch   chan frame
}

func (h *hangarSide) newSession(ctx context.Context) (*claudeStream, error) {
	id, err := h.a.createSession(ctx, h.agentID, h.envID)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	c, err := dialSSE(ctx, h.a.addr, h.a.key, id, 10*time.Second, false)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	s := &claudeStream{id: id, conn: c, ch: make(chan frame, 256)}
	h.sessions = append(h.sessions, s)
	go func() {
		defer close(s.ch)
		_ = c.readFrames(func(f frame) bool {
			if f.Event != "ping" {
				select {
				case s.ch <- f:
				default:
				}
			}
			return true
		})
	}()
	return s, nil
}

// turn sends text to s and waits for session.status_idle. It reports whether the turn
// succeeded (and was recorded in side).
func (h *hangarSide) turn(ctx context.Context, s *claudeStream, text string, side *claudeSide) bool {
	drain(s.ch)
	h.log.take()
	tool := strings.HasPrefix(text, "TOOL:")
	t0 := time.Now()
	if err := h.a.sendMessage(ctx, s.id, text); err != nil {
		side.fail(err)
		return false
	}
	timeout := time.NewTimer(claudeTurnTimeout)
	defer timeout.Stop()
	var running, last time.Time
	var seen []string
	for {
		select {
		case f, ok := <-s.ch:
			if !ok {
				side.fail(fmt.Errorf("stream on %s ended", s.id))
				return false
			}
			seen = append(seen, f.Event)
			switch f.Event {
			case "session.status_running":
				running = f.At
			case "session.status_idle":
				reqs, other := h.log.take()
				all := strings.Join(seen, " ")
				switch {
				case strings.Contains(all, "session.error"):
					side.fail(fmt.Errorf("session %s: session.error (events: %s)", s.id, all))
					return false
				case tool && !strings.Contains(all, "agent.tool_result"):
					side.fail(fmt.Errorf("session %s: no agent.tool_result (events: %s)", s.id, all))
					return false
				case !strings.Contains(all, "agent.message"):
					side.fail(fmt.Errorf("session %s: no agent.message (events: %s)", s.id, all))
					return false
				}
				side.sample(t0, f.At, reqs, other)
				if !running.IsZero() {
					side.running = append(side.running, running.Sub(t0))
				}
				if len(reqs) > 0 && last.After(reqs[len(reqs)-1].End) {
					side.lastEvent = append(side.lastEvent, last.Sub(reqs[len(reqs)-1].End))
				}
				return true
			}
			last = f.At
		case <-timeout.C:
			side.fail(fmt.Errorf("session %s: no session.status_idle within %v", s.id, claudeTurnTimeout))
			return false
		case <-ctx.Done():
			side.fail(ctx.Err())
			return false
		}
	}
}

func (h *hangarSide) close() {
	for _, s := range h.sessions {
		s.conn.close()
	}
	h.sessions = nil
}

// bareSide runs the CLI directly on the host: no sandbox, no proxy, no server.
type bareSide struct {
	cli     string
	agent   hangar.Agent
	baseURL string
	dir     string
	log     *modelLog
}

// turn runs the CLI once in dir/name (HOME and work dir kept across calls with the same
// name), resuming resume when not "", and returns the CLI's session ID. The process is
// started fresh, as Hangar does for every turn.
func (b *bareSide) turn(ctx context.Context, name, resume, text string, side *claudeSide) (string, error) {
	sid, err := b.run(ctx, name, resume, text, side)
	if err != nil {
		side.fail(err)
	}
	return sid, err
}

func (b *bareSide) run(ctx context.Context, name, resume, text string, side *claudeSide) (string, error) {
	root := filepath.Join(b.dir, name)
	home, work := filepath.Join(root, "home"), filepath.Join(root, "workspace")
	for _, d := range []string{home, work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", err
		}
	}
	args, env, err := claudeEngineArgs(b.agent, resume, b.baseURL, home)
	if err != nil {
		return "", err
	}
	input, err := json.Marshal(map[string]any{"type": "user", "message": map[string]any{
		"role": "user", "content": []any{map[string]any{"type": "text", "text": text}}}})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, claudeTurnTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.cli, args...)
	// What the sandbox gives the CLI besides the engine's environment (bwrap --clearenv).
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "USER=agent", "LANG=C.UTF-8"}, env...)
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	stderr := &tailBuf{max: 2048}
	cmd.Stderr = stderr

	b.log.take()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return "", err
	}
	if _, err := stdin.Write(append(input, '\n')); err != nil {
		stdin.Close()
		cmd.Wait()
		return "", fmt.Errorf("write stdin: %w", err)
	}
	var (
		tResult time.Time
		result  struct {
			Type      string `json:"type"`
			Subtype   string `json:"subtype"`
			IsError   bool   `json:"is_error"`
			SessionID string `json:"session_id"`
			Result    string `json:"result"`
		}
		tools int
	)
	rd := bufio.NewReaderSize(stdout, 64<<10)
	for range 100_000 { // bounded: a turn prints a few dozen lines
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 && tResult.IsZero() {
			if strings.Contains(string(line), `"tool_use"`) {
				tools++
			}
			var head struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(line, &head) == nil && head.Type == "result" {
				tResult = time.Now()
				_ = json.Unmarshal(line, &result)
				stdin.Close() // the turn is over: EOF lets the CLI exit, as Hangar does
			}
		}
		if err != nil {
			break
		}
	}
	stdin.Close()
	werr := cmd.Wait()
	tExit := time.Now()
	reqs, other := b.log.take()
	switch {
	case tResult.IsZero():
		return "", fmt.Errorf("bare claude: no result line (exit: %v); stderr: %s", werr, stderr.String())
	case result.IsError || result.Subtype != "success":
		return "", fmt.Errorf("bare claude: result %s is_error=%v: %s", result.Subtype, result.IsError, result.Result)
	case strings.HasPrefix(text, "TOOL:") && tools == 0:
		return "", fmt.Errorf("bare claude: no tool_use in the output")
	}
	side.sample(t0, tResult, reqs, other)
	side.exit = append(side.exit, tExit.Sub(t0))
	return result.SessionID, nil
}

// tailBuf keeps the last max bytes written to it.
type tailBuf struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuf) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuf) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

var _ io.Writer = (*tailBuf)(nil)
