package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// call sends one API request through the SDK (its base URL, auth, retries and error type)
// and returns the raw JSON response. body is marshaled unless it is nil or already []byte.
func (c *cli) call(ctx context.Context, method, path string, query url.Values, body any) (json.RawMessage, error) {
	var opts []option.RequestOption
	for k, vs := range query {
		for _, v := range vs {
			opts = append(opts, option.WithQueryAdd(k, v))
		}
	}
	var params any
	switch b := body.(type) {
	case nil:
	case []byte:
		params = b
	case json.RawMessage:
		params = []byte(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		params = raw
	}
	var res json.RawMessage
	if err := c.sdk.Execute(ctx, method, strings.TrimPrefix(path, "/"), params, &res, opts...); err != nil {
		return nil, err
	}
	return res, nil
}

// column is one column of a table: a header and a JSON path into each row (dots
// separate object keys), or a function of the row.
type column struct {
	header string
	path   string
	fn     func(row map[string]any) string
}

// printObject prints one resource: as indented JSON, or as a one-row table.
func (c *cli) printObject(raw json.RawMessage, cols []column) error {
	if c.output == "json" {
		return c.printJSON(raw)
	}
	var row map[string]any
	if err := jsonUnmarshal(raw, &row); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	c.printTable([]map[string]any{row}, cols)
	return nil
}

// printList prints a list response ({data, next_page…}) and, in table mode, how to get
// the next page.
func (c *cli) printList(raw json.RawMessage, cols []column, nextHint string) error {
	if c.output == "json" {
		return c.printJSON(raw)
	}
	var page struct {
		Data     []map[string]any `json:"data"`
		NextPage *string          `json:"next_page"`
	}
	if err := jsonUnmarshal(raw, &page); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	c.printTable(page.Data, cols)
	if page.NextPage != nil && *page.NextPage != "" && nextHint != "" {
		fmt.Fprintf(c.env.stderr, "more: %s --page %s\n", nextHint, *page.NextPage)
	}
	return nil
}

func (c *cli) printJSON(raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("response is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := c.env.stdout.Write(buf.Bytes())
	return err
}

func (c *cli) printTable(rows []map[string]any, cols []column) {
	tw := tabwriter.NewWriter(c.env.stdout, 0, 0, 2, ' ', 0)
	for i, col := range cols {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, col.header)
	}
	fmt.Fprintln(tw)
	for _, row := range rows {
		for i, col := range cols {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			v := ""
			if col.fn != nil {
				v = col.fn(row)
			} else {
				v = cell(lookup(row, col.path))
			}
			if v == "" {
				v = "-"
			}
			fmt.Fprint(tw, oneLine(v, 60))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// lookup follows a dotted path of object keys.
func lookup(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// cell formats a JSON value for a table: times shortened, everything else as text.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC().Format("2006-01-02 15:04:05")
		}
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// oneLine collapses whitespace and cuts s to at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// jsonUnmarshal decodes keeping numbers exact (token counts, versions).
func jsonUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}
