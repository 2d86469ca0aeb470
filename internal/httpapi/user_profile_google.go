package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/hangar-dev/hangar"
)

// Google data controls of a user profile (docs/user-profiles.md): which Cloud KMS key
// (cmek) and Cloud Storage bucket (storage) each region should use for the profile's data
// on Google Cloud's Agent Platform. Hangar stores the controls, retires replaced keys and
// buckets as the API does, and reports every configured region as "failed" with the
// reason: a self-hosted server keeps its data on its own disks and cannot apply them.

// retiredFor is how long a replaced key or bucket stays listed as retired.
const retiredFor = 30 * 24 * time.Hour

const notApplied = "Hangar is self-hosted: it stores this setting but keeps the profile's data on the server's own storage and applies no Google Cloud key or bucket"

var regionCode = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

type bucketRef struct {
	BucketName    string `json:"bucket_name"`
	ProjectNumber string `json:"project_number"`
}

type retiredKey struct {
	ExpiresAt     time.Time `json:"expires_at"`
	ExternalKeyID string    `json:"external_key_id"`
	Region        string    `json:"region"`
}

type retiredBucket struct {
	ExpiresAt     time.Time `json:"expires_at"`
	BucketName    string    `json:"bucket_name"`
	ProjectNumber string    `json:"project_number"`
	Region        string    `json:"region"`
}

// googleControls is the stored state (hangar.UserProfile.DataControls).
type googleControls struct {
	Keys           map[string]string    `json:"keys"`
	RetiredKeys    []retiredKey         `json:"retired_keys"`
	Buckets        map[string]bucketRef `json:"buckets"`
	RetiredBuckets []retiredBucket      `json:"retired_buckets"`
	UpdatedAt      time.Time            `json:"updated_at"`
}

func loadGoogleControls(p *hangar.UserProfile) googleControls {
	c := googleControls{UpdatedAt: p.CreatedAt}
	if len(p.DataControls) > 0 {
		json.Unmarshal(p.DataControls, &c)
	}
	if c.Keys == nil {
		c.Keys = map[string]string{}
	}
	if c.Buckets == nil {
		c.Buckets = map[string]bucketRef{}
	}
	return c
}

func (s *Server) googleControlsOut(p *hangar.UserProfile) map[string]any {
	c := loadGoogleControls(p)
	now := s.now()
	rk := []retiredKey{}
	for _, k := range c.RetiredKeys {
		if k.ExpiresAt.After(now) {
			rk = append(rk, k)
		}
	}
	rb := []retiredBucket{}
	for _, b := range c.RetiredBuckets {
		if b.ExpiresAt.After(now) {
			rb = append(rb, b)
		}
	}
	cmek := map[string]any{"type": "disabled", "retired_keys": rk}
	if len(c.Keys) > 0 {
		status := map[string]any{}
		for region := range c.Keys {
			status[region] = map[string]any{"type": "failed", "effective_external_key_id": nil, "error": notApplied}
		}
		cmek = map[string]any{"type": "enabled", "external_key_ids": c.Keys, "retired_keys": rk, "status": status}
	}
	storage := map[string]any{"type": "disabled", "retired_buckets": rb}
	if len(c.Buckets) > 0 {
		buckets, status := map[string]any{}, map[string]any{}
		for region, b := range c.Buckets {
			buckets[region] = map[string]any{"bucket_name": b.BucketName, "project_number": b.ProjectNumber,
				"kms_key_name": nil, "location": nil, "project_id": nil}
			status[region] = map[string]any{"type": "failed", "effective_bucket": nil,
				"failed_checks": []any{map[string]any{"check": "probe_failed", "message": notApplied, "role": nil}}}
		}
		storage = map[string]any{"type": "enabled", "buckets": buckets, "retired_buckets": rb, "status": status}
	}
	sum := sha256.Sum256([]byte(p.ID))
	return map[string]any{"type": "google_managed_data_controls", "user_profile_id": p.ID,
		"bucket_label_value": "hangar-" + hex.EncodeToString(sum[:8]), "cmek": cmek, "storage": storage, "updated_at": c.UpdatedAt}
}

func (s *Server) getGoogleDataControls(w http.ResponseWriter, r *http.Request) error {
	p, err := s.store.GetUserProfile(r.Context(), pathID(r, "user_profile_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, s.googleControlsOut(p))
	return nil
}

func (s *Server) updateGoogleDataControls(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		CMEK    json.RawMessage `json:"cmek"`
		Storage json.RawMessage `json:"storage"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	p, err := s.store.UpdateUserProfile(r.Context(), pathID(r, "user_profile_id"), func(p *hangar.UserProfile) error {
		c := loadGoogleControls(p)
		now := s.now()
		changed := false
		if !isNull(req.CMEK) {
			ch, err := applyCMEK(req.CMEK, &c, now)
			if err != nil {
				return err
			}
			changed = changed || ch
		}
		if !isNull(req.Storage) {
			ch, err := applyStorage(req.Storage, &c, now)
			if err != nil {
				return err
			}
			changed = changed || ch
		}
		if changed {
			c.UpdatedAt = now
		}
		raw, err := json.Marshal(c)
		if err != nil {
			return err
		}
		p.DataControls = raw
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, s.googleControlsOut(p))
	return nil
}

func applyCMEK(raw json.RawMessage, c *googleControls, now time.Time) (bool, error) {
	typ, err := objectType("cmek", raw)
	if err != nil {
		return false, err
	}
	var in struct {
		Type           string             `json:"type"`
		ExternalKeyIDs map[string]*string `json:"external_key_ids"`
	}
	if err := decodeAt("cmek", raw, &in); err != nil {
		return false, err
	}
	retire := func(region string) {
		c.RetiredKeys = append(c.RetiredKeys, retiredKey{ExpiresAt: now.Add(retiredFor), ExternalKeyID: c.Keys[region], Region: region})
		delete(c.Keys, region)
	}
	before := len(c.Keys)
	switch typ {
	case "disabled":
		if in.ExternalKeyIDs != nil {
			return false, invalidf("cmek.external_key_ids: extra inputs are not permitted")
		}
		for _, region := range sortedKeys(c.Keys) {
			retire(region)
		}
		return before > 0, nil
	case "enabled":
		next := map[string]string{}
		for k, v := range c.Keys {
			next[k] = v
		}
		changed := false
		for _, region := range sortedKeys(in.ExternalKeyIDs) {
			id := in.ExternalKeyIDs[region]
			if !regionCode.MatchString(region) {
				return false, invalidf("cmek.external_key_ids: %q is not a region code", region)
			}
			if id != nil && (len(*id) < 6 || (*id)[:5] != "ekey_") {
				return false, invalidf("cmek.external_key_ids.%s: must be an External Key ID (ekey_...)", region)
			}
			if id == nil {
				if _, ok := next[region]; ok {
					delete(next, region)
					changed = true
				}
				continue
			}
			if next[region] != *id {
				next[region] = *id
				changed = true
			}
		}
		if len(next) == 0 {
			return false, invalidf("cmek: while the control is enabled, at least one region must have a key")
		}
		for _, region := range sortedKeys(c.Keys) {
			if next[region] != c.Keys[region] {
				c.RetiredKeys = append(c.RetiredKeys, retiredKey{ExpiresAt: now.Add(retiredFor), ExternalKeyID: c.Keys[region], Region: region})
			}
		}
		c.Keys = next
		return changed || before == 0, nil
	}
	return false, invalidf("cmek.type: must be one of \"disabled\", \"enabled\" (got %q)", typ)
}

func applyStorage(raw json.RawMessage, c *googleControls, now time.Time) (bool, error) {
	typ, err := objectType("storage", raw)
	if err != nil {
		return false, err
	}
	var in struct {
		Type    string                `json:"type"`
		Buckets map[string]*bucketRef `json:"buckets"`
	}
	if err := decodeAt("storage", raw, &in); err != nil {
		return false, err
	}
	retired := func(region string, b bucketRef) retiredBucket {
		return retiredBucket{ExpiresAt: now.Add(retiredFor), BucketName: b.BucketName, ProjectNumber: b.ProjectNumber, Region: region}
	}
	before := len(c.Buckets)
	switch typ {
	case "disabled":
		if in.Buckets != nil {
			return false, invalidf("storage.buckets: extra inputs are not permitted")
		}
		for _, region := range sortedKeys(c.Buckets) {
			c.RetiredBuckets = append(c.RetiredBuckets, retired(region, c.Buckets[region]))
		}
		c.Buckets = map[string]bucketRef{}
		return before > 0, nil
	case "enabled":
		next := map[string]bucketRef{}
		for k, v := range c.Buckets {
			next[k] = v
		}
		changed := false
		for _, region := range sortedKeys(in.Buckets) {
			b := in.Buckets[region]
			if !regionCode.MatchString(region) {
				return false, invalidf("storage.buckets: %q is not a region code", region)
			}
			if b == nil {
				if _, ok := next[region]; ok {
					delete(next, region)
					changed = true
				}
				continue
			}
			if b.BucketName == "" || b.ProjectNumber == "" {
				return false, invalidf("storage.buckets.%s: bucket_name and project_number are required", region)
			}
			if next[region] != *b {
				next[region] = *b
				changed = true
			}
		}
		if len(next) == 0 {
			return false, invalidf("storage: while the control is enabled, at least one region must have a bucket")
		}
		seen := map[bucketRef]string{}
		for _, region := range sortedKeys(next) {
			if other, ok := seen[next[region]]; ok {
				return false, invalidf("storage.buckets: bucket %s serves both %s and %s; a bucket can serve only one region", next[region].BucketName, other, region)
			}
			seen[next[region]] = region
		}
		for _, region := range sortedKeys(c.Buckets) {
			if next[region] != c.Buckets[region] {
				c.RetiredBuckets = append(c.RetiredBuckets, retired(region, c.Buckets[region]))
			}
		}
		c.Buckets = next
		return changed || before == 0, nil
	}
	return false, invalidf("storage.type: must be one of \"disabled\", \"enabled\" (got %q)", typ)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
