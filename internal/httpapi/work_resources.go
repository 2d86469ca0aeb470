package httpapi

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/hangar-dev/hangar"
)

// What a self_hosted session may carry (CMA §6.2; docs/self-hosted.md). Its tools run in
// the customer's worker, which receives only the session (and its skills and memory
// stores) through the work queue: nothing would mount a file or clone a repository there.
// So file and github_repository resources are rejected on self_hosted sessions, at create
// and when added later, with a 400 naming the resource. environment_variable vault
// credentials are "unsupported" rather than rejected in the contract: a session may still
// name vaults that hold them (for MCP credentials, or the model key Hangar's server-side
// loop uses), and they are simply never delivered to a worker.

// selfHostedResourceTypes are the resource types a self_hosted session rejects.
var selfHostedResourceTypes = map[string]bool{"file": true, "github_repository": true}

// rejectSelfHostedResources returns a 400 naming the first file or github_repository
// resource of raws when env is self_hosted.
func rejectSelfHostedResources(env *hangar.Environment, raws []json.RawMessage) error {
	if env.Config.Type != "self_hosted" {
		return nil
	}
	for i, raw := range raws {
		var head struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(raw, &head) // malformed resources fail their own validation later
		if selfHostedResourceTypes[head.Type] {
			return invalidf("resources[%d].type: %q resources are not supported on self_hosted environments (environment %s); only memory_store resources are", i, head.Type, env.ID)
		}
	}
	return nil
}

// rejectSelfHostedAdd refuses adding a resource of type typ to session sessionID when its
// environment is self_hosted.
func (s *Server) rejectSelfHostedAdd(ctx context.Context, sessionID, typ string) error {
	sess, err := s.store.GetSession(ctx, sessionID)
	if err != nil {
		return err
	}
	env, err := s.store.GetEnvironment(ctx, sess.EnvironmentID)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if env.Config.Type == "self_hosted" && selfHostedResourceTypes[typ] {
		return invalidf("type: %s resources cannot be added to session %s: its environment %s is self_hosted", strconv.Quote(typ), sess.ID, env.ID)
	}
	return nil
}
