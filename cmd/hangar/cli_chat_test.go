package main

// Tests of `hangar chat`: in a pseudo-terminal (the test binary re-executed as hangar, see
// TestMain), through pipes as a script would use it, and across a dropped stream. Output
// is awaited with expect, which reads until a string appears or a deadline passes; nothing
// sleeps.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/creack/pty"
)

// cliExecEnv makes the test binary run as the hangar binary (TestMain).
const cliExecEnv = "HANGAR_CLI_TEST_EXEC"

// expectTimeout bounds every wait for output.
const expectTimeout = 30 * time.Second

// watchBuffer collects output and lets a test wait for a string to appear in it.
type watchBuffer struct {
	mu      sync.Mutex
	b       []byte
	mark    int // expect searches from here
	changed chan struct{}
}

func newWatchBuffer() *watchBuffer { return &watchBuffer{changed: make(chan struct{}, 1)} }

func (w *watchBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.b = append(w.b, p...)
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *watchBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}

// expect waits until s appears after the previous match and moves past it.
func (w *watchBuffer) expect(t *testing.T, s string) {
	t.Helper()
	deadline := time.NewTimer(expectTimeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		i := strings.Index(string(w.b[w.mark:]), s)
		if i >= 0 {
			w.mark += i + len(s)
		}
		w.mu.Unlock()
		if i >= 0 {
			return
		}
		select {
		case <-w.changed:
		case <-deadline.C:
			w.mu.Lock()
			rest := string(w.b[w.mark:])
			w.mu.Unlock()
			t.Fatalf("output never showed %q; after the last match it is:\n%q", s, rest)
		}
	}
}

// ptyCLI is the hangar binary running in a pseudo-terminal.
type ptyCLI struct {
	*watchBuffer
	t    *testing.T
	tty  *os.File
	cmd  *exec.Cmd
	read chan struct{} // closed when the terminal's output is drained
}

func startPTY(t *testing.T, srv *testServer, args ...string) *ptyCLI {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NO_COLOR=") && !strings.HasPrefix(kv, "HANGAR_") && !strings.HasPrefix(kv, "TERM=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, cliExecEnv+"=1", "TERM=xterm-256color", "HANGAR_URL="+srv.URL, "HANGAR_API_KEY="+testAPIKey)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 120})
	if err != nil {
		t.Fatalf("start in a pty: %v", err)
	}
	p := &ptyCLI{watchBuffer: newWatchBuffer(), t: t, tty: tty, cmd: cmd, read: make(chan struct{})}
	go func() {
		defer close(p.read)
		io.Copy(p.watchBuffer, tty) // ends with EIO once the process has exited
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		tty.Close()
		<-p.read
		if t.Failed() {
			t.Logf("terminal output:\n%s", p.String())
		}
	})
	return p
}

// send types s into the terminal.
func (p *ptyCLI) send(s string) {
	p.t.Helper()
	if _, err := p.tty.Write([]byte(s)); err != nil {
		p.t.Fatalf("type %q: %v", s, err)
	}
}

// wait returns the process's exit code, failing the test if it does not exit in time.
func (p *ptyCLI) wait() int {
	p.t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			p.t.Fatalf("wait: %v", err)
		}
		return 0
	case <-time.After(expectTimeout):
		p.t.Fatalf("hangar did not exit; output:\n%s", p.String())
		return -1
	}
}

// chatScript is the scripted agent of the chat tests. Turns cycle in this order:
// markdown and a bash call awaiting confirmation; a custom tool; with hold, a turn held
// until interrupted.
func chatScript(t *testing.T, hold bool) map[string]string {
	turns := [][]scriptStep{
		{
			{"thinking": true},
			{"message": "# Plan\n\nUse **bold** and `code`:\n\n```sh\nls -la\n```\n\n- one\n- two\n1. first"},
			{"tool_use": map[string]any{"name": "bash", "input": map[string]any{"command": "ls"}}, "result": "file.txt\nother.txt"},
			{"message": "listed"},
		},
		{
			{"custom_tool_use": map[string]any{"name": "get_weather", "input": map[string]any{"city": "Paris"}}},
			{"message": "weather noted"},
		},
	}
	if hold {
		turns = append(turns, []scriptStep{
			{"message": "working"},
			{"sleep_ms": 10 * 60 * 1000},
			{"message": "never shown"},
		})
	}
	return scriptMetadata(t, turns...)
}

// newChatSession creates a session of the chat tests' agent.
func newChatSession(t *testing.T, srv *testServer, hold bool) string {
	t.Helper()
	a := newToolAgent(t, srv.Client, "chatty", chatScript(t, hold))
	return newSession(t, srv.Client, a.ID, newEnvironment(t, srv.Client, "env").ID).ID
}

// TestCLIChatPTY types into hangar chat in a terminal: markdown rendered in color, a tool
// confirmation answered, a custom tool's result typed, a held turn interrupted with
// Ctrl-C, and Ctrl-C at the prompt quitting.
func TestCLIChatPTY(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	p := startPTY(t, srv, "chat", newChatSession(t, srv, true))
	prompt := ansiBold + ansiGreen + "> " + ansiReset
	p.expect(t, "chat with sesn_")
	p.expect(t, prompt)

	p.send("make a plan\r")
	p.expect(t, ansiDim+ansiItalic+"✻ thinking…")
	p.expect(t, ansiBold+ansiUnder+"Plan"+ansiReset)
	p.expect(t, "Use "+ansiBold+"bold"+ansiReset+" and "+ansiCyan+"code"+ansiReset)
	p.expect(t, "    "+ansiCyan+"ls -la"+ansiReset)
	p.expect(t, "  • one")
	p.expect(t, "  1. first")
	p.expect(t, "⏺ "+ansiReset+ansiBold+"bash"+ansiReset+" "+ansiDim+`{"command":"ls"}`)
	p.expect(t, "allow bash? [y/n] ")
	p.send("y\r")
	p.expect(t, "⎿ file.txt (+1 lines)")
	p.expect(t, "listed")
	p.expect(t, "── end_turn")
	p.expect(t, prompt)

	p.send("weather?\r")
	p.expect(t, `get_weather`+ansiReset+" "+ansiDim+`{"city":"Paris"}`)
	p.expect(t, "result of get_weather (text or JSON): ")
	p.send("sunny\r")
	p.expect(t, "weather noted")
	p.expect(t, "── end_turn")
	p.expect(t, prompt)

	p.send("hold on\r")
	p.expect(t, "working")
	p.send("\x03")
	p.expect(t, "interrupting… (Ctrl-C again to quit)")
	p.expect(t, "── ")
	p.expect(t, prompt)
	if strings.Contains(p.String(), "never shown") {
		t.Errorf("the interrupted turn went on:\n%s", p.String())
	}

	p.send("\x03")
	if code := p.wait(); code != 130 {
		t.Errorf("Ctrl-C at the prompt: exit %d, want 130", code)
	}
}

// TestCLIChatPiped drives chat as a script would: every line from stdin, answers
// included, and exit 0 when input ends after the last turn.
func TestCLIChatPiped(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := newChatSession(t, srv, false)
	out := mustCLI(t, srv, "plan\nn\nweather?\nrain\n", "chat", s)
	for _, want := range []string{
		"> plan", "# Plan", "⏺ bash {\"command\":\"ls\"}", "? allow bash? [y/n] n", "── end_turn",
		"> weather?", "⚙ get_weather {\"city\":\"Paris\"}", "? result of get_weather (text or JSON): rain", "weather noted",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colors written to a pipe:\n%q", out)
	}
	// The denied call's result was never produced.
	if strings.Contains(out, "file.txt") {
		t.Errorf("a denied tool ran:\n%s", out)
	}

	// Input that ends while the agent awaits an answer is an error.
	r := runCLI(t, srv, "plan\n", "chat", s)
	if r.code != 1 || !strings.Contains(r.stderr, "input ended while the agent awaits an answer") {
		t.Errorf("input ending at a prompt: exit %d, stderr %q", r.code, r.stderr)
	}
	// The next chat finds the pending confirmation and asks again.
	out = mustCLI(t, srv, "y\n", "chat", s)
	if !strings.Contains(out, "allow bash? [y/n] y") || !strings.Contains(out, "file.txt") {
		t.Errorf("pending confirmation not asked on start:\n%s", out)
	}
	// --history replays the conversation.
	out = mustCLI(t, srv, "", "chat", s, "--history")
	if !strings.Contains(out, "> plan") || !strings.Contains(out, "weather noted") {
		t.Errorf("--history:\n%s", out)
	}
}

// streamCutter proxies to a server and lets the test drop the event stream and hold
// reconnections, recording each stream request's Last-Event-ID.
type streamCutter struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	cut   context.CancelFunc
	gate  chan struct{} // stream requests wait for it to close
	ids   []string
	seen  chan string
}

func (s *streamCutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/events/stream") {
		s.proxy.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	<-gate
	ctx, cancel := context.WithCancel(r.Context())
	s.mu.Lock()
	s.cut = cancel
	s.ids = append(s.ids, r.Header.Get("Last-Event-ID"))
	s.mu.Unlock()
	s.seen <- r.Header.Get("Last-Event-ID")
	s.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// TestCLIChatReconnect drops chat's event stream while another client talks to the
// session, and checks that chat resumes with Last-Event-ID and shows what it missed.
func TestCLIChatReconnect(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	a := newAgent(t, c, "echo", nil)
	sess := newSession(t, c, a.ID, newEnvironment(t, c, "env").ID)
	target, _ := url.Parse(srv.URL)
	cutter := &streamCutter{proxy: httputil.NewSingleHostReverseProxy(target), gate: make(chan struct{}), seen: make(chan string, 4)}
	cutter.proxy.FlushInterval = -1
	close(cutter.gate)
	front := httptest.NewServer(cutter)
	t.Cleanup(front.Close)

	stdin, typing := io.Pipe()
	out := newWatchBuffer()
	exited := make(chan int, 1)
	env := cliTestEnv(srv, map[string]string{"HANGAR_URL": front.URL})
	go func() {
		exited <- runClient(testContext(t), []string{"chat", sess.ID}, cliEnv{getenv: env, stdin: stdin, stdout: out, stderr: out})
	}()
	if id := <-cutter.seen; id != "0" {
		t.Errorf("first stream Last-Event-ID = %q, want 0 (a new session)", id)
	}
	io.WriteString(typing, "first\n")
	out.expect(t, "echo: first")
	out.expect(t, "── end_turn")

	// Cut the stream and hold the reconnection while another client has a turn.
	cutter.mu.Lock()
	cutter.gate = make(chan struct{})
	cutter.cut()
	cutter.mu.Unlock()
	out.expect(t, "connection lost")
	stream := openStream(t, testContext(t), c, sess.ID)
	send(t, c, sess.ID, userMessage("from elsewhere"))
	readUntil(t, stream, isIdle)
	events, err := c.Beta.Sessions.Events.List(testContext(t), sess.ID, anthropic.BetaSessionEventListParams{})
	if err != nil {
		t.Fatal(err)
	}
	close(cutter.gate)
	resumed := <-cutter.seen
	out.expect(t, "> from elsewhere")
	out.expect(t, "echo: from elsewhere")
	missed := 0
	for _, ev := range events.Data {
		if ev.Type == "user.message" && strings.Contains(ev.RawJSON(), "from elsewhere") {
			break
		}
		missed++
	}
	if resumed == "0" || resumed == "" || resumed != strconv.Itoa(missed) {
		t.Errorf("reconnect Last-Event-ID = %q, want %d (the events before the cut)", resumed, missed)
	}
	typing.Close()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("exit %d at end of input; output:\n%s", code, out.String())
		}
	case <-time.After(expectTimeout):
		t.Fatalf("chat did not exit at end of input; output:\n%s", out.String())
	}
	if strings.Count(out.String(), "echo: first") != 1 {
		t.Errorf("an event was shown twice after the reconnect:\n%s", out.String())
	}
}
