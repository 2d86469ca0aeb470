package httpapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// User profiles (docs/user-profiles.md): records of the end customers of an application
// built on Hangar. Enrollment and action URLs open this server's enrollment page
// (enroll.go) with a sealed, expiring token; completing it activates the profile's
// "end_user_enrollment" trust grant. The Google data controls are stored and reported, but
// a self-hosted server applies no Google Cloud key or bucket (each configured region
// reports "failed" saying so).

const (
	maxProfileString = 255
	// enrollmentGrant is the trust grant an enrollment activates.
	enrollmentGrant = "end_user_enrollment"
)

var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

// profileHeaderMode reads the user-profiles beta version: the two legacy versions show
// external_id (and, on 2026-08-18, external_user_onboarded_at) instead of
// external_user_details; 2026-03-24 also hides access_type.
type profileHeaderMode struct{ legacy, v0324 bool }

func profileMode(r *http.Request) profileHeaderMode {
	h := strings.Join(r.Header.Values("anthropic-beta"), ",")
	return profileHeaderMode{
		legacy: strings.Contains(h, "user-profiles-2026-03-24") || strings.Contains(h, "user-profiles-2026-08-18"),
		v0324:  strings.Contains(h, "user-profiles-2026-03-24") && !strings.Contains(h, "user-profiles-2026-08-18"),
	}
}

type trustGrantWire struct {
	Status string `json:"status"`
}

func profileOut(p *hangar.UserProfile, mode profileHeaderMode) map[string]any {
	grants := map[string]trustGrantWire{}
	for k, v := range p.TrustGrants {
		grants[k] = trustGrantWire{Status: v}
	}
	w := map[string]any{
		"type": "user_profile", "id": p.ID, "created_at": p.CreatedAt, "updated_at": p.UpdatedAt,
		"metadata": orEmpty(p.Metadata), "name": p.Name, "trust_grants": grants,
	}
	if !mode.v0324 {
		w["access_type"] = p.AccessType
	}
	if mode.legacy {
		w["external_id"] = p.External.ReferenceID
		if !mode.v0324 {
			w["external_user_onboarded_at"] = p.External.OnboardedAt
		}
	} else {
		w["external_user_details"] = p.External
	}
	return w
}

type profileRequest struct {
	Name                    json.RawMessage   `json:"name"`
	ExternalID              json.RawMessage   `json:"external_id"`
	ExternalUserOnboardedAt json.RawMessage   `json:"external_user_onboarded_at"`
	AccessType              *string           `json:"access_type"`
	ExternalUserDetails     json.RawMessage   `json:"external_user_details"`
	Metadata                map[string]string `json:"metadata"`
}

// applyProfile validates req and applies it to p (create: p is new; update: only the
// fields sent change).
func (s *Server) applyProfile(req *profileRequest, p *hangar.UserProfile, mode profileHeaderMode, create bool) error {
	if v, set, err := nonNullString("name", req.Name, create); err != nil {
		return err
	} else if set {
		p.Name = v
	}
	if present(req.ExternalID) {
		if !mode.legacy {
			return invalidf("external_id: send external_user_details.reference_id (external_id needs a legacy user-profiles beta header)")
		}
		v, _, err := nonNullString("external_id", req.ExternalID, create)
		if err != nil {
			return err
		}
		p.External.ReferenceID = v
	}
	if present(req.ExternalUserOnboardedAt) {
		if !mode.legacy || mode.v0324 {
			return invalidf("external_user_onboarded_at: send external_user_details.onboarded_at (this field needs the user-profiles-2026-08-18 beta header)")
		}
		t, err := s.onboardedAt("external_user_onboarded_at", req.ExternalUserOnboardedAt, create)
		if err != nil {
			return err
		}
		if t != nil {
			p.External.OnboardedAt = t
		}
	}
	if req.AccessType != nil {
		if err := checkOneOf("access_type", *req.AccessType, "application", "passthrough"); err != nil {
			return err
		}
		p.AccessType = *req.AccessType
	}
	if present(req.ExternalUserDetails) {
		if mode.legacy {
			return invalidf("external_user_details: not accepted under a legacy user-profiles beta header; send external_id")
		}
		if err := s.applyExternalDetails(req.ExternalUserDetails, &p.External); err != nil {
			return err
		}
	}
	if req.Metadata != nil {
		if create {
			for k, v := range req.Metadata {
				if v == "" {
					return invalidf("metadata.%s: values must be non-empty strings", k)
				}
			}
			if err := validateMetadata("metadata", req.Metadata); err != nil {
				return err
			}
			p.Metadata = req.Metadata
		} else {
			patch := map[string]*string{}
			for k, v := range req.Metadata {
				patch[k] = &v
			}
			m, err := patchMetadata("metadata", p.Metadata, patch, true)
			if err != nil {
				return err
			}
			p.Metadata = m
		}
	}
	return nil
}

// nonNullString reads an optional string of 1 to 255 characters; null is refused on
// update ("once set, a value cannot be cleared") and means unset on create.
func nonNullString(field string, raw json.RawMessage, create bool) (*string, bool, error) {
	v, set, err := nullableString(field, raw)
	if err != nil || !set {
		return nil, false, err
	}
	if v == nil {
		if create {
			return nil, false, nil
		}
		return nil, false, invalidf("%s: null is not accepted; omit the field to leave it unchanged", field)
	}
	if err := checkLen(field, *v, 1, maxProfileString); err != nil {
		return nil, false, err
	}
	return v, true, nil
}

func (s *Server) onboardedAt(field string, raw json.RawMessage, create bool) (*time.Time, error) {
	if isNull(raw) {
		if create {
			return nil, nil
		}
		return nil, invalidf("%s: null is not accepted; omit the field to leave it unchanged", field)
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return nil, invalidf("%s: expected an RFC 3339 timestamp", field)
	}
	t, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		return nil, invalidf("%s: expected a complete RFC 3339 timestamp", field)
	}
	if t.After(s.now().Add(time.Minute)) {
		return nil, invalidf("%s: must be no more than 1 minute in the future", field)
	}
	t = t.UTC()
	return &t, nil
}

func (s *Server) applyExternalDetails(raw json.RawMessage, d *hangar.UserProfileExternal) error {
	if isNull(raw) {
		return invalidf("external_user_details: expected object")
	}
	var in struct {
		AccountStatus json.RawMessage `json:"account_status"`
		Country       json.RawMessage `json:"country"`
		EmailHash     json.RawMessage `json:"email_hash"`
		EntityType    json.RawMessage `json:"entity_type"`
		NameHash      json.RawMessage `json:"name_hash"`
		OnboardedAt   json.RawMessage `json:"onboarded_at"`
		ReferenceID   json.RawMessage `json:"reference_id"`
	}
	if err := decodeAt("external_user_details", raw, &in); err != nil {
		return err
	}
	str := func(name string, raw json.RawMessage, dst **string, check func(string) error) error {
		if !present(raw) {
			return nil
		}
		field := "external_user_details." + name
		v, _, err := nullableString(field, raw)
		if err != nil {
			return err
		}
		if v == nil {
			return invalidf("%s: null is not accepted; omit the field to leave it unchanged", field)
		}
		if err := check(*v); err != nil {
			return err
		}
		*dst = v
		return nil
	}
	length := func(name string) func(string) error {
		return func(v string) error { return checkLen("external_user_details."+name, v, 1, maxProfileString) }
	}
	for _, f := range []struct {
		name  string
		raw   json.RawMessage
		dst   **string
		check func(string) error
	}{
		{"account_status", in.AccountStatus, &d.AccountStatus, func(v string) error {
			return checkOneOf("external_user_details.account_status", v, "active", "suspended", "blocked")
		}},
		{"country", in.Country, &d.Country, func(v string) error {
			if !countryCode.MatchString(v) {
				return invalidf("external_user_details.country: must be two uppercase ASCII letters (ISO 3166-1 alpha-2)")
			}
			return nil
		}},
		{"email_hash", in.EmailHash, &d.EmailHash, length("email_hash")},
		{"entity_type", in.EntityType, &d.EntityType, func(v string) error {
			return checkOneOf("external_user_details.entity_type", v, "individual", "business", "non_profit", "government")
		}},
		{"name_hash", in.NameHash, &d.NameHash, length("name_hash")},
		{"reference_id", in.ReferenceID, &d.ReferenceID, length("reference_id")},
	} {
		if err := str(f.name, f.raw, f.dst, f.check); err != nil {
			return err
		}
	}
	if present(in.OnboardedAt) {
		t, err := s.onboardedAt("external_user_details.onboarded_at", in.OnboardedAt, false)
		if err != nil {
			return err
		}
		d.OnboardedAt = t
	}
	return nil
}

func (s *Server) createUserProfile(w http.ResponseWriter, r *http.Request) error {
	var req profileRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	now := s.now()
	p := &hangar.UserProfile{ID: s.newID(hangar.PrefixUserProfile), AccessType: "application", Metadata: map[string]string{},
		TrustGrants: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	mode := profileMode(r)
	if err := s.applyProfile(&req, p, mode, true); err != nil {
		return err
	}
	if err := s.store.CreateUserProfile(r.Context(), p); err != nil {
		return err
	}
	encode(w, http.StatusOK, profileOut(p, mode))
	return nil
}

func (s *Server) getUserProfile(w http.ResponseWriter, r *http.Request) error {
	p, err := s.store.GetUserProfile(r.Context(), pathID(r, "user_profile_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, profileOut(p, profileMode(r)))
	return nil
}

func (s *Server) updateUserProfile(w http.ResponseWriter, r *http.Request) error {
	var req profileRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	mode := profileMode(r)
	p, err := s.store.UpdateUserProfile(r.Context(), pathID(r, "user_profile_id"), func(p *hangar.UserProfile) error {
		if err := s.applyProfile(&req, p, mode, false); err != nil {
			return err
		}
		p.UpdatedAt = s.now()
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, profileOut(p, mode))
	return nil
}

func (s *Server) deleteUserProfile(w http.ResponseWriter, r *http.Request) error {
	id := pathID(r, "user_profile_id")
	if err := s.store.DeleteUserProfile(r.Context(), id); err != nil {
		return err
	}
	encode(w, http.StatusOK, map[string]string{"type": "user_profile_deleted", "id": id})
	return nil
}

// listUserProfiles lists by creation through the store's cursor, or by name (case-folded,
// unnamed last in either direction) by sorting every profile: a cursor then holds an
// offset.
func (s *Server) listUserProfiles(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, true)
	if err != nil {
		return err
	}
	orderBy := q.Get("order_by")
	if orderBy != "" {
		if err := checkOneOf("order_by", orderBy, "created_at", "name"); err != nil {
			return err
		}
	}
	mode := profileMode(r)
	data := []map[string]any{}
	if orderBy != "name" {
		ps, pr, err := s.store.ListUserProfiles(r.Context(), hangar.UserProfileFilter{Page: page})
		if err != nil {
			return err
		}
		for _, p := range ps {
			data = append(data, profileOut(p, mode))
		}
		encode(w, http.StatusOK, listEnvelope[map[string]any]{Data: data, NextPage: strOrNil(pr.Next)})
		return nil
	}
	var all []*hangar.UserProfile
	for p := (hangar.Page{Limit: 100}); ; {
		ps, pr, err := s.store.ListUserProfiles(r.Context(), hangar.UserProfileFilter{Page: p})
		if err != nil {
			return err
		}
		all = append(all, ps...)
		if pr.Next == "" {
			break
		}
		c, _ := hangar.DecodeCursor(pr.Next)
		p.Cursor = &c
	}
	slices.SortStableFunc(all, func(a, b *hangar.UserProfile) int {
		switch {
		case a.Name == nil && b.Name == nil:
			return 0
		case a.Name == nil:
			return 1
		case b.Name == nil:
			return -1
		}
		c := strings.Compare(strings.ToLower(*a.Name), strings.ToLower(*b.Name))
		if page.Desc {
			c = -c
		}
		return c
	})
	start := 0
	if page.Cursor != nil {
		start = min(int(page.Cursor.Pos), len(all))
	}
	end := min(start+page.Limit, len(all))
	for _, p := range all[start:end] {
		data = append(data, profileOut(p, mode))
	}
	var next string
	if end < len(all) {
		next = hangar.Cursor{Pos: int64(end), Desc: page.Desc}.Encode()
	}
	encode(w, http.StatusOK, listEnvelope[map[string]any]{Data: data, NextPage: strOrNil(next)})
	return nil
}
