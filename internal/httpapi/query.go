package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hangar-dev/hangar"
)

// listEnvelope is the Managed Agents list shape {data, next_page}.
type listEnvelope[T any] struct {
	Data     []T     `json:"data"`
	NextPage *string `json:"next_page"`
}

// bidiEnvelope adds prev_page (sessions list).
type bidiEnvelope[T any] struct {
	Data     []T     `json:"data"`
	NextPage *string `json:"next_page"`
	PrevPage *string `json:"prev_page"`
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// queryValues returns the values of key, accepting both "key" and the SDKs' "key[]".
func queryValues(q url.Values, key string) []string {
	return append(append([]string(nil), q[key]...), q[key+"[]"]...)
}

// parsePage reads limit, page and order. def/max bound limit; descDefault is the order
// when none is given.
func parsePage(q url.Values, def, max int, descDefault bool) (hangar.Page, error) {
	p := hangar.Page{Limit: def, Desc: descDefault}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			return p, hangar.Errorf(hangar.KindInvalidRequest, "limit: must be an integer between 1 and %d", max)
		}
		p.Limit = n
	}
	switch q.Get("order") {
	case "":
	case "asc":
		p.Desc = false
	case "desc":
		p.Desc = true
	default:
		return p, hangar.Errorf(hangar.KindInvalidRequest, "order: must be asc or desc")
	}
	if v := q.Get("page"); v != "" {
		c, err := hangar.DecodeCursor(v)
		if err != nil {
			return p, err
		}
		if q.Get("order") != "" && c.Desc != p.Desc {
			return p, hangar.Errorf(hangar.KindInvalidRequest, "page: cursor was issued for a different order")
		}
		p.Desc = c.Desc
		p.Cursor = &c
	}
	return p, nil
}

// parseBool reads an optional boolean query parameter.
func parseBool(q url.Values, key string) (bool, error) {
	v := q.Get(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, hangar.Errorf(hangar.KindInvalidRequest, "%s: must be true or false", key)
	}
	return b, nil
}

// parseTimeRange reads key[gt], key[gte], key[lt], key[lte] as RFC 3339 times.
func parseTimeRange(q url.Values, key string) (hangar.TimeRange, error) {
	var tr hangar.TimeRange
	for op, dst := range map[string]**time.Time{"gt": &tr.GT, "gte": &tr.GTE, "lt": &tr.LT, "lte": &tr.LTE} {
		v := q.Get(key + "[" + op + "]")
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return tr, hangar.Errorf(hangar.KindInvalidRequest, "%s[%s]: must be an RFC 3339 timestamp", key, op)
		}
		*dst = &t
	}
	return tr, nil
}

// pathID returns the {name} path value.
func pathID(r *http.Request, name string) string { return r.PathValue(name) }
