package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// defaultLimit is the page size when Page.Limit is 0.
const defaultLimit = 20

// listQuery is a SELECT whose first column is the ordering position, filtered by where.
// Conditions are written with ? placeholders, numbered $1, $2... when the query is built.
type listQuery struct {
	selectFrom string // "SELECT pos, data FROM t"
	posCol     string // the ordering column, e.g. "pos" or "a.pos"
	where      []string
	args       []any
}

func (q *listQuery) add(cond string, args ...any) {
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

// addIn adds "col = ANY(?)" for vals (nothing when vals is empty).
func addIn[T any](q *listQuery, col string, vals []T) {
	if len(vals) == 0 {
		return
	}
	q.add(col+" = ANY(?)", vals)
}

// addTimeRange adds bounds on a BIGINT unix-nanosecond column.
func addTimeRange(q *listQuery, col string, tr hangar.TimeRange) {
	if tr.GT != nil {
		q.add(col+" > ?", tr.GT.UnixNano())
	}
	if tr.GTE != nil {
		q.add(col+" >= ?", tr.GTE.UnixNano())
	}
	if tr.LT != nil {
		q.add(col+" < ?", tr.LT.UnixNano())
	}
	if tr.LTE != nil {
		q.add(col+" <= ?", tr.LTE.UnixNano())
	}
}

// number rewrites ? placeholders as $1, $2... Queries never contain ? otherwise.
func number(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// list runs q for page p and returns the page in display order with its cursors. scan
// reads one row and returns the item and its position. The paging rules are
// internal/sqlstore's, so cursors behave the same on both stores:
//
// a forward page takes the Limit items after the cursor in display order; a backward page
// (prev_page) takes the Limit items before it, read nearest-first and then reversed. One
// extra row tells whether more items lie beyond the page.
func list[T any](ctx context.Context, c querier, q listQuery, p hangar.Page, scan func(pgx.Row) (T, int64, error)) ([]T, hangar.PageResult, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	desc, backward := p.Desc, false
	if p.Cursor != nil {
		desc, backward = p.Cursor.Desc, p.Cursor.Backward
		// Forward in ascending order, or backward in descending order, walks up.
		if desc == backward {
			q.add(q.posCol+" > ?", p.Cursor.Pos)
		} else {
			q.add(q.posCol+" < ?", p.Cursor.Pos)
		}
	}
	readDesc := desc != backward
	var sb strings.Builder
	sb.WriteString(q.selectFrom)
	if len(q.where) > 0 {
		sb.WriteString(" WHERE ")
		sb.WriteString(strings.Join(q.where, " AND "))
	}
	sb.WriteString(" ORDER BY " + q.posCol)
	if readDesc {
		sb.WriteString(" DESC")
	}
	sb.WriteString(" LIMIT ?")
	args := append(q.args, limit+1)

	rows, err := c.Query(ctx, number(sb.String()), args...)
	if err != nil {
		return nil, hangar.PageResult{}, err
	}
	defer rows.Close()
	var items []T
	var pos []int64
	for rows.Next() {
		item, n, err := scan(rows)
		if err != nil {
			return nil, hangar.PageResult{}, err
		}
		items = append(items, item)
		pos = append(pos, n)
	}
	if err := rows.Err(); err != nil {
		return nil, hangar.PageResult{}, err
	}
	more := len(items) > limit
	if more {
		items, pos = items[:limit], pos[:limit]
	}
	if backward {
		slices.Reverse(items)
		slices.Reverse(pos)
	}
	var res hangar.PageResult
	if len(items) == 0 {
		return items, res, nil
	}
	first, last := pos[0], pos[len(pos)-1]
	next := hangar.Cursor{Pos: last, Desc: desc}
	prev := hangar.Cursor{Pos: first, Desc: desc, Backward: true}
	if backward {
		// Reached from a later page: there is always a next page; a previous one only if
		// more rows were found.
		res.Next = next.Encode()
		if more {
			res.Prev = prev.Encode()
		}
	} else {
		if more {
			res.Next = next.Encode()
		}
		if p.Cursor != nil {
			res.Prev = prev.Encode()
		}
	}
	return items, res, nil
}

// Time columns are BIGINT unix nanoseconds.

func nanos(t time.Time) int64 { return t.UnixNano() }

func nanosPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func timePtr(n *int64) *time.Time {
	if n == nil {
		return nil
	}
	t := time.Unix(0, *n).UTC()
	return &t
}

func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode %T: %w", v, err)
	}
	return string(b), nil
}

func decode(data string, v any) error {
	if err := json.Unmarshal([]byte(data), v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
