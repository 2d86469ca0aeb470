package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/hangar-dev/hangar"
)

// Shared request validation. Every helper returns an invalid_request_error whose message
// starts with the field path ("tools[2].name: ..."), so clients can find the bad field.

// Metadata limits of the Managed Agents API (§1.3): 16 pairs, keys ≤64 and values ≤512 chars.
const (
	maxMetadataPairs  = 16
	maxMetadataKey    = 64
	maxMetadataValue  = 512
	maxNameChars      = 256
	maxIDParamChars   = 128
	maxURLChars       = 2048
	maxPackageEntries = 1000
)

// invalidf returns an invalid_request_error with a formatted message.
func invalidf(format string, args ...any) error {
	return hangar.Errorf(hangar.KindInvalidRequest, format, args...)
}

// conflictf returns a conflict_error (409) with a formatted message.
func conflictf(format string, args ...any) error {
	return hangar.Errorf(hangar.KindConflict, format, args...)
}

// charLen counts characters (code points), the unit of the API's length limits.
func charLen(s string) int { return utf8.RuneCountInString(s) }

// checkLen checks that s holds between min and max characters. Use min 1 for required
// non-empty strings.
func checkLen(field, s string, min, max int) error {
	n := charLen(s)
	switch {
	case n < min && min == 1:
		return invalidf("%s: must not be empty", field)
	case n < min:
		return invalidf("%s: must be at least %d characters", field, min)
	case n > max:
		return invalidf("%s: must be at most %d characters (got %d)", field, max, n)
	}
	return nil
}

// checkOptLen is checkLen on an optional string: nil passes.
func checkOptLen(field string, s *string, min, max int) error {
	if s == nil {
		return nil
	}
	return checkLen(field, *s, min, max)
}

// requireString checks a required string field decoded into a pointer: missing or null is
// "field required", otherwise its length must be within min..max.
func requireString(field string, s *string, min, max int) error {
	if s == nil {
		return invalidf("%s: field required", field)
	}
	return checkLen(field, *s, min, max)
}

// checkOneOf checks that v is one of allowed.
func checkOneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return invalidf("%s: must be one of %s (got %q)", field, quoteList(allowed), v)
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// checkURL checks an absolute http(s) URL of at most maxURLChars characters.
func checkURL(field, s string) error {
	if err := checkLen(field, s, 1, maxURLChars); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidf("%s: must be an absolute http or https URL", field)
	}
	return nil
}

// validateMetadata checks a whole metadata map (create, or the result of a patch): at most
// 16 pairs, non-empty keys of at most 64 characters and values of at most 512.
func validateMetadata(field string, m map[string]string) error {
	if len(m) > maxMetadataPairs {
		return invalidf("%s: at most %d key-value pairs are allowed (got %d)", field, maxMetadataPairs, len(m))
	}
	for k, v := range m {
		if err := checkMetadataPair(field, k, &v); err != nil {
			return err
		}
	}
	return nil
}

// validateMetadataPatch checks the keys and values of a metadata patch (null values delete).
// The pair count is checked on the patched result with validateMetadata.
func validateMetadataPatch(field string, patch map[string]*string) error {
	for k, v := range patch {
		if err := checkMetadataPair(field, k, v); err != nil {
			return err
		}
	}
	return nil
}

func checkMetadataPair(field, k string, v *string) error {
	if k == "" {
		return invalidf("%s: keys must not be empty", field)
	}
	if n := charLen(k); n > maxMetadataKey {
		return invalidf("%s: keys must be at most %d characters (got %d)", field, maxMetadataKey, n)
	}
	if v != nil && charLen(*v) > maxMetadataValue {
		return invalidf("%s.%s: value is longer than %d characters", field, k, maxMetadataValue)
	}
	return nil
}

// applyMetadataPatch returns cur with patch applied: a string value upserts its key, a nil
// value deletes it. cur is not modified; the result is never nil.
func applyMetadataPatch(cur map[string]string, patch map[string]*string) map[string]string {
	out := make(map[string]string, len(cur)+len(patch))
	maps.Copy(out, cur)
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	return out
}

// patchMetadata validates a metadata patch, applies it to cur and validates the result. With
// emptyDeletes, "" deletes a key like null does (the environments API).
func patchMetadata(field string, cur map[string]string, patch map[string]*string, emptyDeletes bool) (map[string]string, error) {
	if patch == nil {
		return orEmpty(cur), nil
	}
	if err := validateMetadataPatch(field, patch); err != nil {
		return nil, err
	}
	if emptyDeletes {
		p := make(map[string]*string, len(patch))
		for k, v := range patch {
			if v != nil && *v == "" {
				v = nil
			}
			p[k] = v
		}
		patch = p
	}
	out := applyMetadataPatch(cur, patch)
	if err := validateMetadata(field, out); err != nil {
		return nil, err
	}
	return out, nil
}

// orEmpty returns m, or an empty map when m is nil, so responses carry {} rather than null.
func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// isNull reports whether raw is absent or the JSON literal null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// present reports whether a JSON field was sent at all (null included). Decode nullable
// update fields into json.RawMessage: omitted leaves it nil, null gives "null".
func present(raw json.RawMessage) bool { return raw != nil }

// nullableString decodes an update field that may be omitted (keep), null or a string. It
// returns set=false when omitted, and value=nil for null.
func nullableString(field string, raw json.RawMessage) (value *string, set bool, err error) {
	if !present(raw) {
		return nil, false, nil
	}
	if isNull(raw) {
		return nil, true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, true, invalidf("%s: expected string or null", field)
	}
	return &s, true, nil
}

// decodeAt decodes raw (a JSON value found at field path) into v, rejecting unknown fields.
// Errors name the full path: "tools[1].default_config.enabled: expected boolean, got string".
func decodeAt(path string, raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	var he *hangar.Error
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &te):
		field := path
		if te.Field != "" {
			field = joinPath(path, te.Field)
		}
		return invalidf("%s: expected %s, got %s", field, jsonKind(te.Type.String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalidf("%s: extra inputs are not permitted", joinPath(path, name))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return invalidf("%s: invalid JSON", path)
	}
	return invalidf("%s: invalid value: %v", path, err)
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// jsonType names the JSON type of raw ("object", "array", "string", "number", "boolean",
// "null") for error messages and union dispatch.
func jsonType(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "null"
	}
	switch t[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// objectType reads the "type" discriminator of a JSON object at path. The object must be an
// object; a missing type gives "".
func objectType(path string, raw json.RawMessage) (string, error) {
	if jsonType(raw) != "object" {
		return "", invalidf("%s: expected object, got %s", path, jsonType(raw))
	}
	var head struct {
		Type json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", invalidf("%s: invalid object", path)
	}
	if isNull(head.Type) {
		return "", nil
	}
	var typ string
	if err := json.Unmarshal(head.Type, &typ); err != nil {
		return "", invalidf("%s.type: expected string, got %s", path, jsonType(head.Type))
	}
	return typ, nil
}

// mustJSON marshals v, which must be marshalable (a programming error otherwise).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("httpapi: marshal %T: %v", v, err))
	}
	return b
}
