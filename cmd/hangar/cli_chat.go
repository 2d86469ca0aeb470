package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
)

func chatCommand() *command {
	var history bool
	return &command{name: "chat", args: "SESSION_ID", summary: "Chat with a session: send messages, watch the agent work, answer its questions.",
		details: `Each line you type is sent as a user.message; the agent's events stream back as they
happen: text rendered from markdown, thinking dimmed, each tool call and its result on one
line. When the agent asks to run a tool (always_ask permission) answer y or n; when it calls
a custom tool, type the result. Each turn ends with its stop reason and token usage.

Ctrl-C during a turn interrupts it (user.interrupt); a second Ctrl-C, Ctrl-C at the prompt,
Ctrl-D or /exit quits. A dropped stream reconnects and resumes without losing events.
When stdin is not a terminal, lines are read from it (answers included) and chat exits
after the last turn, so it can be scripted:

  printf 'hello\n' | hangar chat sesn_...
`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&history, "history", false, "show the session's past events first")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := positional(args, "SESSION_ID"); err != nil {
				return err
			}
			return c.chat(ctx, args[0], history)
		}}
}

// chatState is one interactive chat.
type chatState struct {
	c         *cli
	sessionID string
	r         *renderer
	inTTY     bool
	lines     <-chan string // stdin lines; closed at end of input
	ints      <-chan os.Signal
	frames    chan frame
	seen      map[string]map[string]any // events of this chat by ID, for requires_action
	usage     [2]int64                  // input and output tokens at the end of the last turn
}

// chat runs the interactive loop until the user quits or input ends.
func (c *cli) chat(ctx context.Context, sessionID string, history bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &chatState{c: c, sessionID: sessionID, inTTY: isTerminal(c.env.stdin), seen: map[string]map[string]any{},
		r: &renderer{w: c.env.stdout, color: wantColor(c.env.stdout, c.env.getenv), width: termWidth(c.env.getenv)}}
	ints := c.env.interrupts
	if c.env.signals {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, os.Interrupt)
		defer signal.Stop(ch)
		ints = ch
	}
	s.ints = ints

	sess, err := c.call(ctx, http.MethodGet, "/v1/sessions/"+url.PathEscape(sessionID), nil, nil)
	if err != nil {
		return err
	}
	var info map[string]any
	if err := jsonUnmarshal(sess, &info); err != nil {
		return fmt.Errorf("decode session: %w", err)
	}
	s.usage = usageOf(info)
	past, err := s.pastEvents(ctx)
	if err != nil {
		return err
	}
	if history {
		for _, ev := range past {
			s.render(ev)
		}
	}
	// Sequence numbers are gap-free from 1, so the count of stored events is the stream
	// position to resume after: nothing between this list and the stream is lost.
	s.frames = make(chan frame)
	opened := make(chan error, 1)
	go c.streamEvents(ctx, sessionID, int64(len(past)), s.frames, opened)
	if err := <-opened; err != nil {
		return err
	}
	s.lines = readLines(ctx, c.env.stdin)

	fmt.Fprintln(c.env.stdout, s.r.style(ansiDim, fmt.Sprintf("chat with %s (%s) — Ctrl-C interrupts a turn, Ctrl-D quits", sessionID, cell(info["status"]))))
	// Decided from the listed events, not info's status: a turn that ended between the
	// two requests has its idle event in past, and the stream starts after it.
	inTurn := turnInProgress(past)
	interrupted := false
	if !inTurn {
		if pending := pendingActions(past); len(pending) > 0 {
			inTurn = true
			if err := s.answer(ctx, pending); errors.Is(err, errInterrupted) {
				interrupted = true
			} else if err != nil {
				return err
			}
		}
	}
	for {
		if !inTurn {
			if s.inTTY {
				fmt.Fprint(c.env.stdout, s.r.style(ansiBold+ansiGreen, "> "))
			}
			select {
			case line, ok := <-s.lines:
				if !ok {
					if s.inTTY {
						fmt.Fprintln(c.env.stdout)
					}
					return nil
				}
				line = strings.TrimSpace(line)
				if line == "" {
					continue
				}
				if line == "/exit" || line == "/quit" {
					return nil
				}
				if !s.inTTY {
					fmt.Fprintln(c.env.stdout, s.r.style(ansiBold, "> "+line))
				}
				if _, err := c.sendEvents(ctx, sessionID, userMessageEvent(line)); err != nil {
					return err
				}
				inTurn, interrupted = true, false
			case <-s.ints:
				fmt.Fprintln(c.env.stdout)
				return exitError(130)
			case <-ctx.Done():
				return ctx.Err()
			case f := <-s.frames:
				if err := s.frameError(f); err != nil {
					return err
				}
				if f.event != nil { // another client is talking to the session
					if s.inTTY {
						fmt.Fprint(c.env.stdout, "\r\x1b[K") // over the prompt, reprinted below
					}
					s.render(f.event)
					if t := cell(f.event["type"]); t == "session.status_running" {
						inTurn = true
					}
				}
			}
			continue
		}
		select {
		case f := <-s.frames:
			if err := s.frameError(f); err != nil {
				return err
			}
			if f.event == nil {
				continue
			}
			ev := f.event
			s.seen[cell(ev["id"])] = ev
			switch cell(ev["type"]) {
			case "session.status_idle":
				stop := cell(lookup(ev, "stop_reason.type"))
				if stop == "requires_action" && !interrupted {
					var pending []map[string]any
					ids, _ := lookup(ev, "stop_reason.event_ids").([]any)
					for _, id := range ids {
						if p := s.seen[cell(id)]; p != nil {
							pending = append(pending, p)
						}
					}
					if err := s.answer(ctx, pending); err != nil {
						if errors.Is(err, errInterrupted) {
							interrupted = true
							continue
						}
						return err
					}
					continue
				}
				s.footer(ctx, stop)
				inTurn = false
			case "session.status_terminated":
				s.render(ev)
				return exitError(1)
			case "session.deleted":
				return errors.New("the session was deleted")
			case "user.message": // shown as it was typed
			default:
				s.render(ev)
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ints:
			if interrupted {
				fmt.Fprintln(c.env.stdout)
				return exitError(130)
			}
			interrupted = true
			if err := s.interrupt(ctx); err != nil {
				return err
			}
		}
	}
}

// errInterrupted is how answer reports Ctrl-C at a tool prompt (the turn was interrupted).
var errInterrupted = errors.New("interrupted")

func (s *chatState) interrupt(ctx context.Context) error {
	fmt.Fprintln(s.c.env.stdout, s.r.style(ansiDim, "\n⏹ interrupting… (Ctrl-C again to quit)"))
	_, err := s.c.sendEvents(ctx, s.sessionID, map[string]any{"type": "user.interrupt"})
	return err
}

// frameError turns a stream failure into the chat's error and shows reconnect notes.
func (s *chatState) frameError(f frame) error {
	if f.err != nil {
		return f.err
	}
	if f.note != "" {
		fmt.Fprintln(s.c.env.stdout, s.r.style(ansiDim, "… "+f.note))
	}
	return nil
}

// render shows one event, echoing user messages only when they were not typed here.
func (s *chatState) render(ev map[string]any) {
	switch cell(ev["type"]) {
	case "user.message":
		fmt.Fprintln(s.c.env.stdout, s.r.style(ansiBold, "> "+contentText(ev["content"])))
		return
	case "error":
		fmt.Fprintln(s.c.env.stdout, s.r.style(ansiRed, "✗ stream error: "+cell(lookup(ev, "error.type"))+": "+cell(lookup(ev, "error.message"))))
		return
	case "user.custom_tool_result", "user.tool_confirmation":
		return
	}
	s.r.event(ev)
}

// answer asks the user about each event awaiting an answer and sends the answers:
// a confirmation for agent.tool_use, a result for agent.custom_tool_use.
func (s *chatState) answer(ctx context.Context, pending []map[string]any) error {
	out := s.c.env.stdout
	for _, ev := range pending {
		id := cell(ev["id"])
		switch cell(ev["type"]) {
		case "agent.tool_use", "agent.mcp_tool_use":
			for {
				line, err := s.ask(ctx, fmt.Sprintf("allow %s? [y/n] ", cell(ev["name"])))
				if err != nil {
					return err
				}
				var result string
				switch strings.ToLower(strings.TrimSpace(line)) {
				case "y", "yes":
					result = "allow"
				case "n", "no":
					result = "deny"
				default:
					fmt.Fprintln(out, "answer y or n")
					continue
				}
				if _, err := s.c.sendEvents(ctx, s.sessionID, map[string]any{"type": "user.tool_confirmation", "tool_use_id": id, "result": result}); err != nil {
					return err
				}
				break
			}
		case "agent.custom_tool_use":
			line, err := s.ask(ctx, fmt.Sprintf("result of %s (text or JSON): ", cell(ev["name"])))
			if err != nil {
				return err
			}
			ev := map[string]any{"type": "user.custom_tool_result", "custom_tool_use_id": id,
				"content": []any{map[string]any{"type": "text", "text": line}}}
			if _, err := s.c.sendEvents(ctx, s.sessionID, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// ask prompts and reads one line. Ctrl-C interrupts the turn instead.
func (s *chatState) ask(ctx context.Context, prompt string) (string, error) {
	fmt.Fprint(s.c.env.stdout, s.r.style(ansiBold+ansiYellow, "? ")+prompt)
	select {
	case line, ok := <-s.lines:
		if !ok {
			fmt.Fprintln(s.c.env.stdout)
			return "", errors.New("input ended while the agent awaits an answer")
		}
		if !s.inTTY {
			fmt.Fprintln(s.c.env.stdout, line)
		}
		return line, nil
	case <-s.ints:
		if err := s.interrupt(ctx); err != nil {
			return "", err
		}
		return "", errInterrupted
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// footer ends a turn: its stop reason and the tokens it used.
func (s *chatState) footer(ctx context.Context, stop string) {
	line := "── " + stop
	if raw, err := s.c.call(ctx, http.MethodGet, "/v1/sessions/"+url.PathEscape(s.sessionID), nil, nil); err == nil {
		var info map[string]any
		if jsonUnmarshal(raw, &info) == nil {
			u := usageOf(info)
			line += fmt.Sprintf(" · %s in · %s out tokens", tokens(u[0]-s.usage[0]), tokens(u[1]-s.usage[1]))
			s.usage = u
		}
	}
	code := ansiDim
	if stop != "end_turn" {
		code = ansiYellow
	}
	fmt.Fprintln(s.c.env.stdout, s.r.style(code, line))
}

// usageOf reads a session's cumulative input and output tokens.
func usageOf(session map[string]any) [2]int64 {
	var u [2]int64
	for i, k := range []string{"usage.input_tokens", "usage.output_tokens"} {
		if n, ok := lookup(session, k).(json.Number); ok {
			u[i], _ = n.Int64()
		}
	}
	return u
}

func tokens(n int64) string {
	if n >= 10000 {
		return strconv.FormatFloat(float64(n)/1000, 'f', 1, 64) + "k"
	}
	return strconv.FormatInt(n, 10)
}

// pastEvents lists every stored event of the session, oldest first.
func (s *chatState) pastEvents(ctx context.Context) ([]map[string]any, error) {
	var all []map[string]any
	page := ""
	for {
		q := url.Values{"limit": {"1000"}}
		if page != "" {
			q.Set("page", page)
		}
		raw, err := s.c.call(ctx, http.MethodGet, "/v1/sessions/"+url.PathEscape(s.sessionID)+"/events", q, nil)
		if err != nil {
			return nil, err
		}
		var res struct {
			Data     []map[string]any `json:"data"`
			NextPage *string          `json:"next_page"`
		}
		if err := jsonUnmarshal(raw, &res); err != nil {
			return nil, fmt.Errorf("decode events: %w", err)
		}
		all = append(all, res.Data...)
		for _, ev := range res.Data {
			s.seen[cell(ev["id"])] = ev
		}
		if res.NextPage == nil || *res.NextPage == "" {
			return all, nil
		}
		page = *res.NextPage
	}
}

// pendingActions returns the events the session's last turn awaits answers to.
// turnInProgress reports whether the session, after events, is running a turn or has a
// message waiting for one: its last status event is running or rescheduled, or a user
// message came after the last idle. The turn's idle event is then still to come.
func turnInProgress(events []map[string]any) bool {
	for i := len(events) - 1; i >= 0; i-- {
		switch cell(events[i]["type"]) {
		case "session.status_running", "session.status_rescheduled", "user.message":
			return true
		case "session.status_idle", "session.status_terminated":
			return false
		}
	}
	return false
}

func pendingActions(events []map[string]any) []map[string]any {
	byID := map[string]map[string]any{}
	for _, ev := range events {
		byID[cell(ev["id"])] = ev
	}
	for i := len(events) - 1; i >= 0; i-- {
		ev := events[i]
		switch cell(ev["type"]) {
		case "session.status_running":
			return nil
		case "session.status_idle":
			if cell(lookup(ev, "stop_reason.type")) != "requires_action" {
				return nil
			}
			var out []map[string]any
			ids, _ := lookup(ev, "stop_reason.event_ids").([]any)
			for _, id := range ids {
				if p := byID[cell(id)]; p != nil {
					out = append(out, p)
				}
			}
			return out
		}
	}
	return nil
}

// readLines delivers stdin lines until input ends (then closes the channel) or ctx ends.
// The reading goroutine belongs to the process: a read from a terminal cannot be
// cancelled, so it may outlive the chat, blocked until the process exits.
func readLines(ctx context.Context, r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case ch <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// isTerminal reports whether r is a character device (a terminal).
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// wantColor reports whether to style output: a terminal, and neither NO_COLOR nor
// TERM=dumb.
func wantColor(w io.Writer, getenv func(string) string) bool {
	return isTerminal(w) && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

// termWidth is $COLUMNS, else 100.
func termWidth(getenv func(string) string) int {
	if n, err := strconv.Atoi(getenv("COLUMNS")); err == nil && n > 20 {
		return n
	}
	return 100
}
