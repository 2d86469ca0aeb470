package main

// Durability end to end: real `hangar serve` processes (this test binary re-executed as
// hangar, see TestMain) killed with SIGKILL or stopped with SIGTERM mid-turn, and started
// again on the same data dir. The scripted engine holds a turn open with a sleep step;
// every wait is on an SSE event or a poll with a deadline.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// testVaultKey is shared by the processes of one deployment (base64 of 32 bytes).
const testVaultKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// proc is one `hangar serve` process.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	URL    string
	Client anthropic.Client
	exited chan struct{}
	code   int

	mu  sync.Mutex
	log strings.Builder
}

// startProc runs `hangar serve` on dataDir with env added to the test's environment and
// waits until it listens. The process is killed when the test ends.
func startProc(t *testing.T, name, dataDir string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "info")
	cmd.Env = append(os.Environ(), cliExecEnv+"=1", "HANGAR_API_KEY="+testAPIKey, "HANGAR_VAULT_KEY="+testVaultKey)
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{t: t, name: name, cmd: cmd, exited: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if strings.Contains(line, `msg="hangar listening"`) {
				if _, rest, ok := strings.Cut(line, "url="); ok {
					url, _, _ := strings.Cut(rest, " ")
					select {
					case listening <- url:
					default:
					}
				}
			}
		}
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		if err != nil && p.code == 0 {
			p.code = -1
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, p.logs())
		}
	})
	select {
	case p.URL = <-listening:
	case <-p.exited:
		t.Fatalf("%s exited before listening:\n%s", name, p.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not listen in time:\n%s", name, p.logs())
	}
	p.Client = newClient(p.URL, option.WithAPIKey(testAPIKey))
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// kill ends the process with SIGKILL: no shutdown code runs.
func (p *proc) kill() {
	p.t.Helper()
	p.cmd.Process.Kill()
	<-p.exited
}

// terminate sends SIGTERM and returns the exit code.
func (p *proc) terminate(within time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
		return p.code
	case <-time.After(within):
		p.t.Fatalf("%s did not exit within %v of SIGTERM:\n%s", p.name, within, p.logs())
		return 0
	}
}

// storedEvent is the part of a listed event the durability tests check.
type storedEvent struct {
	Type        string          `json:"type"`
	ID          string          `json:"id"`
	ProcessedAt *string         `json:"processed_at"`
	Content     json.RawMessage `json:"content"`
	Seq         int64           `json:"-"`
}

func (e storedEvent) text() string {
	var blocks []struct {
		Text string `json:"text"`
	}
	json.Unmarshal(e.Content, &blocks)
	var b strings.Builder
	for _, c := range blocks {
		b.WriteString(c.Text)
	}
	return b.String()
}

// replay reads a session's whole log from the SSE stream (Last-Event-ID: 0), through the
// event done matches, checking that the ids (sequence numbers) are 1, 2, 3... in order.
func replay(t *testing.T, ctx context.Context, baseURL, sessionID string, done func(ev storedEvent, all []storedEvent) bool) []storedEvent {
	t.Helper()
	s := openRawStream(t, ctx, baseURL, sessionID, "", map[string]string{"Last-Event-ID": "0"})
	defer s.close()
	var out []storedEvent
	for {
		f, err := s.next()
		if err != nil {
			t.Fatalf("stream of %s ended: %v; got %v", sessionID, err, storedTypes(out))
		}
		var ev storedEvent
		if err := json.Unmarshal([]byte(f.Data), &ev); err != nil {
			t.Fatalf("frame: %v", err)
		}
		seq, err := strconv.ParseInt(f.ID, 10, 64)
		if err != nil {
			t.Fatalf("frame id %q: %v", f.ID, err)
		}
		if want := int64(len(out) + 1); seq != want {
			t.Fatalf("session %s: event %s has seq %d, want %d (events lost or duplicated); got %v", sessionID, ev.Type, seq, want, storedTypes(out))
		}
		ev.Seq = seq
		out = append(out, ev)
		if done(ev, out) {
			return out
		}
	}
}

// listEvents lists a session's stored events (up to 1000) over plain HTTP.
func listEvents(t *testing.T, ctx context.Context, baseURL, sessionID string) []storedEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/v1/sessions/"+sessionID+"/events?limit=1000", nil)
	req.Header.Set("x-api-key", testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Data []storedEvent `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list events of %s: status %d: %v", sessionID, resp.StatusCode, err)
	}
	return page.Data
}

func storedTypes(evs []storedEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
		if e.Type == "agent.message" {
			out[i] += "(" + e.text() + ")"
		}
	}
	return out
}

// countEvents returns how many events have type typ (and text, when not empty).
func countEvents(evs []storedEvent, typ, text string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ && (text == "" || e.text() == text) {
			n++
		}
	}
	return n
}

// checkAnswered fails unless every user.message is processed and the session ends idle.
func checkAnswered(t *testing.T, sessionID string, evs []storedEvent) {
	t.Helper()
	for _, e := range evs {
		if e.Type == "user.message" && e.ProcessedAt == nil {
			t.Errorf("session %s: user.message %s never processed", sessionID, e.ID)
		}
	}
	if len(evs) == 0 || evs[len(evs)-1].Type != "session.status_idle" {
		t.Errorf("session %s does not end idle: %v", sessionID, storedTypes(evs))
	}
}

// holdingScript is a two-turn agent: the first turn says "started", holds for holdMS,
// then says "finished"; the second says "second".
func holdingScript(t *testing.T, holdMS int) map[string]string {
	return scriptMetadata(t,
		[]scriptStep{{"message": "started"}, {"sleep_ms": holdMS}, {"message": "finished"}},
		[]scriptStep{{"message": "second"}},
	)
}

// waitText reads a stream until an agent.message with text.
func waitText(t *testing.T, stream *sdkStream, text string) {
	t.Helper()
	readUntil(t, stream, func(ev anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return ev.Type == "agent.message" && agentText(ev) == text
	})
}

// A SIGKILLed single-node server, started again on its data dir, retries the cut turn
// once (session.status_rescheduled) and then runs the message queued behind it.
func TestDurabilityCrashRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testContext(t)
	a := startProc(t, "first", dir)
	agent := newAgent(t, a.Client, "crash", holdingScript(t, 60_000))
	env := newEnvironment(t, a.Client, "crash-env")
	sess := newSession(t, a.Client, agent.ID, env.ID)
	stream := openStream(t, ctx, a.Client, sess.ID)
	send(t, a.Client, sess.ID, userMessage("one"))
	waitText(t, stream, "started")
	queued := send(t, a.Client, sess.ID, userMessage("two"))
	if !queued[0].ProcessedAt.IsZero() {
		t.Errorf("message sent during a turn processed_at %v, want null", queued[0].ProcessedAt)
	}
	a.kill()

	// The retried turn holds for a minute too: the test ends it through the second
	// process's SIGTERM grace period below only if it hangs, so check it got that far.
	b := startProc(t, "second", dir, "HANGAR_SHUTDOWN_GRACE=1ms")
	evs := replay(t, ctx, b.URL, sess.ID, func(ev storedEvent, all []storedEvent) bool {
		return ev.Type == "agent.message" && ev.text() == "started" && countEvents(all, "agent.message", "started") == 2
	})
	if n := countEvents(evs, "session.status_rescheduled", ""); n != 1 {
		t.Fatalf("%d session.status_rescheduled, want 1: %v", n, storedTypes(evs))
	}
	// Stop it mid-retry: the retry was the turn's last, so the next start abandons it and
	// runs the queued message.
	if code := b.terminate(30 * time.Second); code != 0 {
		t.Fatalf("SIGTERM exit code %d, want 0", code)
	}
	c := startProc(t, "third", dir)
	evs = replay(t, ctx, c.URL, sess.ID, func(ev storedEvent, all []storedEvent) bool {
		return ev.Type == "session.status_idle" && countEvents(all, "agent.message", "second") == 1
	})
	if n := countEvents(evs, "session.status_rescheduled", ""); n != 1 {
		t.Errorf("%d session.status_rescheduled, want 1 (one retry per turn): %v", n, storedTypes(evs))
	}
	if n := countEvents(evs, "agent.message", "started"); n != 2 {
		t.Errorf("%d agent.message \"started\", want 2 (the cut run and its one retry): %v", n, storedTypes(evs))
	}
	if n := countEvents(evs, "agent.message", "finished"); n != 0 {
		t.Errorf("the cut turn finished %d times, want 0", n)
	}
	checkAnswered(t, sess.ID, listEvents(t, ctx, c.URL, sess.ID))
}

// A turn cut by SIGKILL and retried after restart runs to its end, with the queued message
// after it; and the retry resumes from the stored turn state (the second message gets the
// script's second turn).
func TestDurabilityCrashRetryCompletes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testContext(t)
	a := startProc(t, "first", dir)
	// Long enough for the kill to land mid-turn, short enough for the retry to finish.
	agent := newAgent(t, a.Client, "crash-retry", holdingScript(t, 1500))
	env := newEnvironment(t, a.Client, "crash-retry-env")
	sess := newSession(t, a.Client, agent.ID, env.ID)
	stream := openStream(t, ctx, a.Client, sess.ID)
	send(t, a.Client, sess.ID, userMessage("one"))
	waitText(t, stream, "started")
	send(t, a.Client, sess.ID, userMessage("two"))
	a.kill()

	b := startProc(t, "second", dir)
	evs := replay(t, ctx, b.URL, sess.ID, func(ev storedEvent, all []storedEvent) bool {
		return ev.Type == "session.status_idle" && countEvents(all, "agent.message", "second") == 1
	})
	want := map[string]int{"session.status_rescheduled": 1}
	for typ, n := range want {
		if got := countEvents(evs, typ, ""); got != n {
			t.Errorf("%d %s, want %d: %v", got, typ, n, storedTypes(evs))
		}
	}
	if n := countEvents(evs, "agent.message", "finished"); n != 1 {
		t.Errorf("retried turn finished %d times, want 1: %v", n, storedTypes(evs))
	}
	checkAnswered(t, sess.ID, listEvents(t, ctx, b.URL, sess.ID))
	s, err := b.Client.Beta.Sessions.Get(ctx, sess.ID, anthropic.BetaSessionGetParams{})
	if err != nil || s.Status != "idle" {
		t.Errorf("session after recovery: status %v, err %v", s.Status, err)
	}
}

// SIGTERM: a running turn within the grace period finishes and the process exits 0; one
// longer than the grace period is handed over and retried by the next start.
func TestDurabilitySIGTERM(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		holdMS   int
		grace    string
		finishes bool
	}{
		{"finishes within grace", 1000, "60s", true},
		{"handed over after grace", 60_000, "100ms", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ctx := testContext(t)
			a := startProc(t, "first", dir, "HANGAR_SHUTDOWN_GRACE="+tc.grace)
			agent := newAgent(t, a.Client, "term", holdingScript(t, tc.holdMS))
			env := newEnvironment(t, a.Client, "term-env")
			sess := newSession(t, a.Client, agent.ID, env.ID)
			stream := openStream(t, ctx, a.Client, sess.ID)
			send(t, a.Client, sess.ID, userMessage("one"))
			waitText(t, stream, "started")
			start := time.Now()
			if code := a.terminate(30 * time.Second); code != 0 {
				t.Fatalf("exit code %d, want 0", code)
			}
			// The stream was closed cleanly by the server, not cut.
			for stream.Next() {
			}
			if err := stream.Err(); err != nil && !errors.Is(err, io.EOF) {
				t.Errorf("stream ended with %v", err)
			}
			b := startProc(t, "second", dir, "HANGAR_SHUTDOWN_GRACE=1ms")
			evs := listEvents(t, ctx, b.URL, sess.ID)
			if tc.finishes {
				if n := countEvents(evs, "agent.message", "finished"); n != 1 || countEvents(evs, "session.status_rescheduled", "") != 0 {
					t.Errorf("turn did not finish during the grace period: %v", storedTypes(evs))
				}
				checkAnswered(t, sess.ID, evs)
				return
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("shutdown took %v with a 100ms grace period", d)
			}
			evs = replay(t, ctx, b.URL, sess.ID, func(ev storedEvent, all []storedEvent) bool {
				return ev.Type == "session.status_rescheduled"
			})
			if n := countEvents(evs, "agent.message", "finished"); n != 0 {
				t.Errorf("handed-over turn finished before the restart: %v", storedTypes(evs))
			}
		})
	}
}

// Every process logs its lease owner ID, and SIGTERM with nothing running exits 0 at once.
func TestDurabilityInstanceLogged(t *testing.T) {
	t.Parallel()
	p := startProc(t, "only", t.TempDir())
	if !strings.Contains(p.logs(), "instance=inst_") {
		t.Errorf("no instance id in the log:\n%s", p.logs())
	}
	if code := p.terminate(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
