package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// fieldKind says how a body flag's values become JSON.
type fieldKind int

const (
	kindString fieldKind = iota // the last value, as a string
	kindInt                     // the last value, as an integer
	kindList                    // every value, as an array (conv maps each one)
	kindMap                     // KEY=VALUE values, as an object ("KEY=" is null: deletes on update)
)

// field is a flag that sets one field of a request body.
type field struct {
	flag, arg, usage string
	path             string // dotted JSON path in the body, e.g. "config.provider"
	kind             fieldKind
	conv             func(string) (any, error) // kindList only; nil keeps strings
}

// body builds a JSON request body from --file (or -f -, stdin) and then field flags,
// which override what the file says.
type body struct {
	fields []field
	file   string
	values map[string][]string
}

func newBody(fields ...field) *body { return &body{fields: fields, values: map[string][]string{}} }

func (b *body) register(fs *flag.FlagSet) {
	usage := "read the JSON request body from `FILE` (- for stdin); flags override its fields"
	fs.StringVar(&b.file, "file", "", usage)
	fs.StringVar(&b.file, "f", "", "`FILE` shorthand for --file")
	for _, f := range b.fields {
		name := f.flag
		fs.Func(name, "`"+f.arg+"` "+f.usage, func(s string) error {
			b.values[name] = append(b.values[name], s)
			return nil
		})
	}
}

// build returns the body. It is an error for the result to be empty when required.
func (b *body) build(stdin io.Reader) (map[string]any, error) {
	out := map[string]any{}
	if b.file != "" {
		var raw []byte
		var err error
		if b.file == "-" {
			raw, err = io.ReadAll(stdin)
		} else {
			raw, err = os.ReadFile(b.file)
		}
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&out); err != nil || out == nil {
			return nil, usagef("--file %s: want a JSON object: %v", b.file, err)
		}
	}
	for _, f := range b.fields {
		vs, ok := b.values[f.flag]
		if !ok {
			continue
		}
		var v any
		switch f.kind {
		case kindString:
			v = vs[len(vs)-1]
		case kindInt:
			n, err := strconv.ParseInt(vs[len(vs)-1], 10, 64)
			if err != nil {
				return nil, usagef("--%s: want an integer, got %q", f.flag, vs[len(vs)-1])
			}
			v = n
		case kindList:
			list := make([]any, 0, len(vs))
			for _, s := range vs {
				var item any = s
				if f.conv != nil {
					var err error
					if item, err = f.conv(s); err != nil {
						return nil, usagef("--%s %s: %v", f.flag, s, err)
					}
				}
				list = append(list, item)
			}
			v = list
		case kindMap:
			m, _ := lookup(out, f.path).(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			for _, s := range vs {
				k, val, ok := strings.Cut(s, "=")
				if !ok || k == "" {
					return nil, usagef("--%s: want KEY=VALUE, got %q", f.flag, s)
				}
				if val == "" {
					m[k] = nil
				} else {
					m[k] = val
				}
			}
			v = m
		}
		setPath(out, f.path, v)
	}
	return out, nil
}

// setPath sets a dotted path in m, creating objects on the way.
func setPath(m map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// parseTool turns a --tool value into an agent tool:
//
//	toolset            the built-in agent toolset (bash, read, write, edit, glob, grep…)
//	toolset:ask        the same, every call awaiting the user's confirmation
//	custom:NAME[:DESC] a custom tool answered by the client, taking any object
//	{...}              any tool, as JSON
func parseTool(s string) (any, error) {
	switch {
	case strings.HasPrefix(s, "{"):
		var v map[string]any
		if err := jsonUnmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		return v, nil
	case s == "toolset":
		return map[string]any{"type": "agent_toolset_20260401"}, nil
	case s == "toolset:ask":
		return map[string]any{"type": "agent_toolset_20260401", "default_config": map[string]any{
			"permission_policy": map[string]any{"type": "always_ask"}}}, nil
	case strings.HasPrefix(s, "custom:"):
		name, desc, _ := strings.Cut(strings.TrimPrefix(s, "custom:"), ":")
		if name == "" {
			return nil, fmt.Errorf("custom tool needs a name: custom:NAME[:DESCRIPTION]")
		}
		if desc == "" {
			desc = name
		}
		return map[string]any{"type": "custom", "name": name, "description": desc,
			"input_schema": map[string]any{"type": "object"}}, nil
	}
	return nil, fmt.Errorf("want toolset, toolset:ask, custom:NAME[:DESCRIPTION] or a JSON tool")
}
