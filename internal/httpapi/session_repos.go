package httpapi

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// github_repository session resources (§3.4). The authorization token is sealed with the
// vault key (Config.Sealer) and kept in the stored resource beside its public fields; it is
// never returned. The runner opens it on the host to clone the repository, so it never
// enters the sandbox (internal/runner/repos.go).

const (
	maxRepoURLChars = 2048
	maxRepoToken    = 8192
)

var commitSHA = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)

// repoResource is a github_repository resource as stored.
type repoResource struct {
	Type        string          `json:"type"`
	ID          string          `json:"id"`
	URL         string          `json:"url"`
	MountPath   string          `json:"mount_path"`
	Checkout    json.RawMessage `json:"checkout"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	SealedToken []byte          `json:"sealed_token,omitempty"`
	TokenKeyID  string          `json:"token_key_id,omitempty"`
}

// repoResourceWire is its wire form: the stored form without the token.
type repoResourceWire struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	URL       string          `json:"url"`
	MountPath string          `json:"mount_path"`
	Checkout  json.RawMessage `json:"checkout"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func (r *repoResource) wire() repoResourceWire {
	co := r.Checkout
	if isNull(co) {
		co = json.RawMessage(`null`)
	}
	return repoResourceWire{Type: r.Type, ID: r.ID, URL: r.URL, MountPath: r.MountPath, Checkout: co, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// publicResource returns a stored resource as clients see it: without a repository's
// sealed token. Other resources are returned as stored.
func publicResource(raw json.RawMessage) json.RawMessage {
	if headOf(raw).Type != "github_repository" {
		return raw
	}
	var r repoResource
	if err := json.Unmarshal(raw, &r); err != nil {
		return raw
	}
	return mustJSON(r.wire())
}

// publicResources applies publicResource to a stored resources list.
func publicResources(raw json.RawMessage) json.RawMessage {
	if !strings.Contains(string(raw), `"github_repository"`) {
		return raw
	}
	list, err := storedResources(raw)
	if err != nil {
		return raw
	}
	for i := range list {
		list[i] = publicResource(list[i])
	}
	return mustJSON(list)
}

// newRepoResource validates a github_repository param and seals its token. The URL is a
// GitHub repository URL; any HTTPS git host works the same way (GitHub Enterprise, Gitea),
// and plain http is accepted for loopback hosts only (local mirrors, tests).
func (s *Server) newRepoResource(field string, raw json.RawMessage, now time.Time) (*repoResource, error) {
	var p struct {
		Type               string          `json:"type"`
		URL                *string         `json:"url"`
		AuthorizationToken *string         `json:"authorization_token"`
		MountPath          *string         `json:"mount_path"`
		Checkout           json.RawMessage `json:"checkout"`
	}
	if err := decodeAt(field, raw, &p); err != nil {
		return nil, err
	}
	if err := requireString(field+".url", p.URL, 1, maxRepoURLChars); err != nil {
		return nil, err
	}
	name, err := repoName(field+".url", *p.URL)
	if err != nil {
		return nil, err
	}
	if err := requireString(field+".authorization_token", p.AuthorizationToken, 1, maxRepoToken); err != nil {
		return nil, err
	}
	mount := "/workspace/" + name
	if p.MountPath != nil {
		if mount, err = checkMountPath(field+".mount_path", *p.MountPath); err != nil {
			return nil, err
		}
	}
	checkout, err := repoCheckout(field+".checkout", p.Checkout)
	if err != nil {
		return nil, err
	}
	res := &repoResource{Type: "github_repository", ID: s.newID(hangar.PrefixResource), URL: *p.URL, MountPath: mount, Checkout: checkout, CreatedAt: now, UpdatedAt: now}
	if err := s.sealRepoToken(res, *p.AuthorizationToken); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Server) sealRepoToken(res *repoResource, token string) error {
	if s.cfg.Sealer == nil {
		return hangar.Errorf(hangar.KindInternal, "vault sealer is not configured")
	}
	sealed, keyID, err := s.cfg.Sealer.Seal([]byte(token))
	if err != nil {
		return &hangar.Error{Kind: hangar.KindInternal, Message: "seal repository token", Err: err}
	}
	res.SealedToken, res.TokenKeyID = sealed, keyID
	return nil
}

// repoName checks a repository URL and returns the repository's name (its last path
// segment without .git).
func repoName(field, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", invalidf("%s: must be a repository URL such as https://github.com/owner/repo", field)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", invalidf("%s: must use https", field)
		}
	default:
		return "", invalidf("%s: must use https", field)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", invalidf("%s: must not carry credentials, a query or a fragment (pass the token as authorization_token)", field)
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	name := strings.TrimSuffix(segs[len(segs)-1], ".git")
	if len(segs) < 2 || name == "" || name == "." || name == ".." {
		return "", invalidf("%s: must name a repository: https://github.com/<owner>/<repo>", field)
	}
	return name, nil
}

// repoCheckout validates checkout: null, {type:"branch",name} or {type:"commit",sha}.
func repoCheckout(field string, raw json.RawMessage) (json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, err := objectType(field, raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "branch":
		var p struct {
			Type string  `json:"type"`
			Name *string `json:"name"`
		}
		if err := decodeAt(field, raw, &p); err != nil {
			return nil, err
		}
		if err := requireString(field+".name", p.Name, 1, 255); err != nil {
			return nil, err
		}
		if strings.HasPrefix(*p.Name, "-") {
			return nil, invalidf("%s.name: must not start with -", field)
		}
		return mustJSON(p), nil
	case "commit":
		var p struct {
			Type string  `json:"type"`
			SHA  *string `json:"sha"`
		}
		if err := decodeAt(field, raw, &p); err != nil {
			return nil, err
		}
		if p.SHA == nil || !commitSHA.MatchString(*p.SHA) {
			return nil, invalidf("%s.sha: must be 7 to 64 hexadecimal characters", field)
		}
		return mustJSON(p), nil
	case "":
		return nil, invalidf("%s.type: field required", field)
	default:
		return nil, invalidf("%s.type: must be one of \"branch\", \"commit\" (got %q)", field, typ)
	}
}

// rotateRepoToken replaces a github_repository resource's token.
func (s *Server) rotateRepoToken(ctx context.Context, w http.ResponseWriter, sessionID, id, token string) error {
	now := s.now()
	var out repoResourceWire
	_, err := s.store.UpdateSession(ctx, sessionID, func(sess *hangar.Session) error {
		if sess.ArchivedAt != nil {
			return conflictf("session %s is archived and cannot be updated", sess.ID)
		}
		list, err := storedResources(sess.Resources)
		if err != nil {
			return err
		}
		for i, e := range list {
			h := headOf(e)
			if h.ID != id {
				continue
			}
			if h.Type != "github_repository" {
				return invalidf("authorization_token: only github_repository resources support token rotation (resource %s is a %s resource)", id, h.Type)
			}
			var r repoResource
			if err := json.Unmarshal(e, &r); err != nil {
				return hangar.Errorf(hangar.KindInternal, "stored resource %s: %v", id, err)
			}
			if err := s.sealRepoToken(&r, token); err != nil {
				return err
			}
			r.UpdatedAt = now
			list[i] = mustJSON(&r)
			sess.Resources = mustJSON(list)
			sess.UpdatedAt = now
			out = r.wire()
			return nil
		}
		return hangar.Errorf(hangar.KindNotFound, "session resource %s not found in session %s", id, sess.ID)
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, out)
	return nil
}
