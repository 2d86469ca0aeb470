package runner

import (
	"fmt"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Remote providers and buffered stdin (docs/egress.md, "Remote sandboxes").
//
// A remote provider's sandboxes (provider.Capabilities.Remote: the cloud providers,
// Kubernetes) cannot reach the session's egress socket or loopback listener. Their CLIs
// get the server's public egress endpoint as their model base URL instead, with the same
// session token, and no HTTP proxy: the public endpoint serves the model APIs only, and
// the sandbox's other traffic goes out through the vendor's network, under whatever the
// provider maps the environment's networking to.
//
// Both checks run when the turn first needs the sandbox, before it is created: the
// provider is the environment's, which may change between session creation and the turn
// (and a session's agent version fixes the engine), so this is the one place that knows
// both for certain. A refused pairing ends the turn with a session.error that says why.

// PublicURLVar is the server setting a remote provider needs (cmd/hangar's config).
const PublicURLVar = "HANGAR_PUBLIC_URL"

// checkPairing refuses an engine whose CLI reads stdin while it runs on a provider that
// delivers stdin only when it is closed: the CLI would wait for input that never comes.
func checkPairing(sess *hangar.Session, env *hangar.Environment, eng engine.Engine, caps provider.Capabilities) error {
	if eng == nil || !caps.BufferedStdin || !eng.Capabilities().InteractiveStdin {
		return nil
	}
	return &engine.Error{Type: "unknown_error", Message: fmt.Sprintf(
		"engine %q talks to its CLI over stdin while it runs, which provider %q cannot do (it delivers a command's stdin only up front); use another engine or provider (see docs/sandboxes.md)",
		sess.Agent.Engine, providerName(env))}
}

// checkPublicURL fails a remote provider's turn when the server has no public URL.
func checkPublicURL(att *EgressAttachment, caps provider.Capabilities, env *hangar.Environment) error {
	if att == nil || !caps.Remote || att.PublicURL != "" {
		return nil
	}
	return &engine.Error{Type: "unknown_error", Message: fmt.Sprintf(
		"provider %q runs sandboxes on remote machines, which reach the model API through the server's public URL: set %s (or --public-url) to a URL where those sandboxes can reach this server",
		providerName(env), PublicURLVar)}
}

// remoteEgress is what a remote sandbox's CLI is told: the public endpoint and the
// session token; no proxy.
func remoteEgress(att *EgressAttachment) engine.Egress {
	if att.PublicURL == "" {
		return engine.Egress{Token: att.Token}
	}
	return engine.Egress{ModelBaseURL: strings.TrimSuffix(att.PublicURL, "/"), Token: att.Token}
}

func providerName(env *hangar.Environment) string {
	if env == nil || env.Config.Provider == "" {
		return "default"
	}
	return env.Config.Provider
}
