package hangar

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Page asks for one page of a list. Lists are ordered by insertion (a monotonically
// increasing row number, Cursor.Pos); Desc reverses that.
type Page struct {
	Limit  int
	Desc   bool
	Cursor *Cursor // nil: first page
}

// Cursor is a decoded page token: a position and a direction. Backward cursors (prev_page)
// walk towards the start of the order.
type Cursor struct {
	Pos      int64
	Desc     bool
	Backward bool
}

// PageResult carries the cursors of the pages around a returned page ("" when none).
type PageResult struct {
	Next string
	Prev string
}

// Encode returns the opaque "page_..." token of c.
func (c Cursor) Encode() string {
	s := fmt.Sprintf("v1:%d:%t:%t", c.Pos, c.Desc, c.Backward)
	return PrefixPage + base64.RawURLEncoding.EncodeToString([]byte(s))
}

// DecodeCursor parses a page token. It returns an invalid_request_error for anything that
// Encode did not produce.
func DecodeCursor(token string) (Cursor, error) {
	bad := Errorf(KindInvalidRequest, "page: invalid cursor %q", token)
	raw, ok := strings.CutPrefix(token, PrefixPage)
	if !ok {
		return Cursor{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return Cursor{}, bad
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 4 || parts[0] != "v1" {
		return Cursor{}, bad
	}
	var c Cursor
	if c.Pos, err = strconv.ParseInt(parts[1], 10, 64); err != nil || c.Pos < 0 {
		return Cursor{}, bad
	}
	if c.Desc, err = strconv.ParseBool(parts[2]); err != nil {
		return Cursor{}, bad
	}
	if c.Backward, err = strconv.ParseBool(parts[3]); err != nil {
		return Cursor{}, bad
	}
	return c, nil
}
