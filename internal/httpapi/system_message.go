package httpapi

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/hangar-dev/hangar"
)

// system.message (§4.2, docs/streaming.md): text-only system content appended to the
// session as a system turn. It must be the last event of its request and immediately
// follow the event it accompanies; a session whose engine cannot take a system turn
// refuses it (EngineFeatures.SystemMessages).

// maxSystemBlocks bounds the content blocks of a system.message.
const maxSystemBlocks = 1000

// accompanied are the event types a system.message may accompany.
var accompanied = []string{hangar.EventUserMessage, hangar.EventUserToolResult, hangar.EventUserCustomToolResult}

type systemMessageParams struct {
	Type    string            `json:"type"`
	Content []json.RawMessage `json:"content"`
}

type systemMessageBody struct {
	Content []any `json:"content"`
}

func decodeSystemMessage(path string, raw json.RawMessage) (systemMessageBody, error) {
	var p systemMessageParams
	if err := decodeAt(path, raw, &p); err != nil {
		return systemMessageBody{}, err
	}
	if p.Content == nil {
		return systemMessageBody{}, invalidf("%s.content: field required", path)
	}
	if len(p.Content) < 1 || len(p.Content) > maxSystemBlocks {
		return systemMessageBody{}, invalidf("%s.content: must contain between 1 and %d text blocks (got %d)", path, maxSystemBlocks, len(p.Content))
	}
	blocks, err := decodeBlocks(path+".content", p.Content, "text")
	if err != nil {
		return systemMessageBody{}, err
	}
	return systemMessageBody{Content: blocks}, nil
}

// checkSystemMessageOrder enforces the ordering rules of a request's system.message: at
// most one, last, right after the event it accompanies.
func checkSystemMessageOrder(path string, evs []clientEvent) error {
	for i, ev := range evs {
		if ev.Type != hangar.EventSystemMessage {
			continue
		}
		at := path + "[" + strconv.Itoa(i) + "]"
		switch {
		case i != len(evs)-1:
			return invalidf("%s: a system.message must be the last event of the request (at most one per request)", at)
		case i == 0 || !contains(accompanied, evs[i-1].Type):
			return invalidf("%s: a system.message must immediately follow the %s event it accompanies", at, orList(accompanied))
		}
	}
	return nil
}

// orList renders a, b or c.
func orList(list []string) string {
	s := ""
	for i, v := range list {
		switch {
		case i == 0:
		case i == len(list)-1:
			s += " or "
		default:
			s += ", "
		}
		s += v
	}
	return s
}

// checkSystemMessages refuses a system.message for a session whose engine cannot take a
// system turn. Engines missing from Config.EngineFeatures are not checked.
func (s *Server) checkSystemMessages(ctx context.Context, sess *hangar.Session, evs []clientEvent) error {
	i := slices.IndexFunc(evs, func(ev clientEvent) bool { return ev.Type == hangar.EventSystemMessage })
	if i < 0 {
		return nil
	}
	name := sess.Agent.Engine
	if name != hangar.EngineScripted {
		// Self-hosted sessions run Hangar's native loop whatever the agent names
		// (runner/selfhosted.go), and native takes system turns.
		env, err := s.store.GetEnvironment(ctx, sess.EnvironmentID)
		if err != nil && !hangar.IsKind(err, hangar.KindNotFound) {
			return err
		}
		if env != nil && env.Config.Type == "self_hosted" {
			name = hangar.EngineNative
		}
	}
	f, ok := s.cfg.EngineFeatures[name]
	if !ok || f.SystemMessages {
		return nil
	}
	return invalidf("events[%d]: engine %q cannot take system.message events (mid-conversation system turns); %s", i, name,
		s.enginesWith(func(f EngineFeatures) bool { return f.SystemMessages }))
}
