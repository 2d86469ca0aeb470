package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// Enrollment and action URLs (docs/user-profiles.md). A URL carries a token: the profile
// ID, the action and the expiry, sealed with the vault keyring (AES-256-GCM), so that it
// cannot be forged or altered and needs no table. It opens GET /enroll/{token} on this
// server — outside /v1, without an API key, since it goes to the end customer — where the
// end customer confirms; POST /enroll/{token} then activates the profile's
// end_user_enrollment trust grant. Tokens are not single-use: completing twice is a no-op.

// enrollmentTTL is how long an enrollment or action URL works.
const enrollmentTTL = time.Hour

type enrollToken struct {
	ProfileID string    `json:"p"`
	Action    string    `json:"a"`
	Expires   time.Time `json:"e"`
}

func (s *Server) sealEnrollToken(t enrollToken) (string, error) {
	if s.cfg.Sealer == nil {
		return "", errors.New("enrollment URLs need the vault keyring")
	}
	b, _ := json.Marshal(t)
	sealed, keyID, err := s.cfg.Sealer.Seal(b)
	if err != nil {
		return "", err
	}
	return keyID + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openEnrollToken returns the token's content, or a not_found_error for anything that is
// not a live token this server sealed.
func (s *Server) openEnrollToken(tok string) (enrollToken, error) {
	bad := hangar.Errorf(hangar.KindNotFound, "this enrollment link is invalid or has expired")
	keyID, body, ok := strings.Cut(tok, ".")
	if !ok || s.cfg.Sealer == nil {
		return enrollToken{}, bad
	}
	sealed, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return enrollToken{}, bad
	}
	plain, err := s.cfg.Sealer.Open(sealed, keyID)
	if err != nil {
		return enrollToken{}, bad
	}
	var t enrollToken
	if json.Unmarshal(plain, &t) != nil || !s.now().Before(t.Expires) {
		return enrollToken{}, bad
	}
	return t, nil
}

// publicBase is where end customers reach this server: Config.PublicURL, or else the
// host the API request came to.
func (s *Server) publicBase(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type enrollURLWire struct {
	Type      string    `json:"type"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) enrollURL(r *http.Request, action, typ string) (enrollURLWire, error) {
	p, err := s.store.GetUserProfile(r.Context(), pathID(r, "user_profile_id"))
	if err != nil {
		return enrollURLWire{}, err
	}
	exp := s.now().Add(enrollmentTTL)
	tok, err := s.sealEnrollToken(enrollToken{ProfileID: p.ID, Action: action, Expires: exp})
	if err != nil {
		return enrollURLWire{}, err
	}
	return enrollURLWire{Type: typ, URL: s.publicBase(r) + "/enroll/" + tok, ExpiresAt: exp}, nil
}

func (s *Server) createEnrollmentURL(w http.ResponseWriter, r *http.Request) error {
	out, err := s.enrollURL(r, "enroll_end_user", "enrollment_url")
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, out)
	return nil
}

func (s *Server) createActionURL(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Action json.RawMessage `json:"action"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if isNull(req.Action) {
		return invalidf("action: field required")
	}
	typ, err := objectType("action", req.Action)
	if err != nil {
		return err
	}
	if typ != "enroll_end_user" {
		return invalidf("action.type: must be \"enroll_end_user\" (got %q)", typ)
	}
	var a struct {
		Type string `json:"type"`
	}
	if err := decodeAt("action", req.Action, &a); err != nil {
		return err
	}
	out, err := s.enrollURL(r, typ, "user_profile_action_url")
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, out)
	return nil
}

var enrollPage = template.Must(template.New("enroll").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Enrollment</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}button{font-size:1rem;padding:.5rem 1rem}</style></head>
<body>{{if .Done}}<h1>You are enrolled</h1><p>{{.Who}} is enrolled. You can close this page.</p>
{{else}}<h1>Confirm enrollment</h1><p>The application that sent you this link asks you to enroll {{.Who}}. Enrolling records your consent on this server; it shares nothing with anyone else.</p>
<form method="post"><button type="submit">Enroll</button></form><p><small>This link works until {{.Expires}}.</small></p>{{end}}
</body></html>`))

// enrollment serves GET and POST /enroll/{token}: HTML for the end customer; errors are
// pages too, not the API's JSON envelope.
func (s *Server) enrollment(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	t, err := s.openEnrollToken(r.PathValue("token"))
	if err != nil {
		http.Error(w, "This enrollment link is invalid or has expired.", http.StatusNotFound)
		return
	}
	p, err := s.store.GetUserProfile(r.Context(), t.ProfileID)
	if err != nil {
		http.Error(w, "This enrollment link is invalid or has expired.", http.StatusNotFound)
		return
	}
	done := p.TrustGrants[enrollmentGrant] == "active"
	if r.Method == http.MethodPost && !done {
		_, err = s.store.UpdateUserProfile(r.Context(), p.ID, func(p *hangar.UserProfile) error {
			if p.TrustGrants == nil {
				p.TrustGrants = map[string]string{}
			}
			p.TrustGrants[enrollmentGrant] = "active"
			p.UpdatedAt = s.now()
			return nil
		})
		if err != nil {
			s.log.Error("complete enrollment", "user_profile", p.ID, "err", err)
			http.Error(w, "Enrollment failed; try again.", http.StatusInternalServerError)
			return
		}
		done = true
	}
	who := "your account"
	if p.Name != nil {
		who = *p.Name
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	enrollPage.Execute(w, map[string]any{"Done": done, "Who": who, "Expires": t.Expires.Format(time.RFC1123)})
}
