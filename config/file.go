package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parseFile reads the YAML document in data into values.
//
// The document is walked as a yaml.Node rather than decoded into a struct:
// that lets ${VAR} be expanded inside scalar values only (an environment
// value containing ": " or "#" cannot change the document's structure),
// reports unknown keys with their line, and keeps yaml's own type errors,
// which quote the offending value, away from secrets.
func parseFile(path string, data []byte, getenv func(string) string, values map[string]value) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: everything from the environment
		}
		return fmt.Errorf("config: parse %s: %w", path, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return fmt.Errorf("config: parse %s: %w", path, err)
	default:
		return fmt.Errorf("config: %s:%d: a second YAML document; the file must hold one", path, next.Line)
	}
	p := fileParser{path: path, getenv: getenv, values: values}
	if len(doc.Content) == 0 {
		return nil
	}
	return p.walk(doc.Content[0], "")
}

type fileParser struct {
	path   string
	getenv func(string) string
	values map[string]value
}

func (p *fileParser) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("config: %s:%d: %s", p.path, n.Line, fmt.Sprintf(format, args...))
}

// walk reads the mapping at prefix ("" for the document root).
func (p *fileParser) walk(n *yaml.Node, prefix string) error {
	n = resolveAlias(n)
	if isNull(n) {
		return nil // "slack:" with nothing under it
	}
	if n.Kind != yaml.MappingNode {
		if prefix == "" {
			return p.errorf(n, "the document must be a mapping of sections (%s)", strings.Join(children(""), ", "))
		}
		return p.errorf(n, "%s must be a mapping of %s", prefix, strings.Join(children(prefix), ", "))
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return p.errorf(k, "a key must be a plain name")
		}
		full := join(prefix, k.Value)
		if line, dup := seen[k.Value]; dup {
			return p.errorf(k, "key %q is repeated (first at line %d)", full, line)
		}
		seen[k.Value] = k.Line
		known := children(prefix)
		if !slices.Contains(known, k.Value) {
			where := "at the top level"
			if prefix != "" {
				where = "under " + prefix
			}
			return p.errorf(k, "unknown key %q; known keys %s: %s", full, where, strings.Join(known, ", "))
		}
		if isLeaf(full) {
			if err := p.leaf(v, lookup(full)); err != nil {
				return err
			}
			continue
		}
		if err := p.walk(v, full); err != nil {
			return err
		}
	}
	return nil
}

// leaf reads one setting's value.
func (p *fileParser) leaf(n *yaml.Node, s row) error {
	n = resolveAlias(n)
	if isNull(n) {
		return nil // "app_token:" with no value is unset
	}
	var v value
	switch {
	case n.Kind == yaml.ScalarNode:
		text, unset := p.expand(n.Value)
		v.unset = unset
		if s.list {
			v.items = splitList(text)
		} else {
			v.text = strings.TrimSpace(text)
		}
	case n.Kind == yaml.SequenceNode && s.list:
		for _, item := range n.Content {
			item = resolveAlias(item)
			if item.Kind != yaml.ScalarNode {
				return p.errorf(item, "%s must be a list of strings", s.key)
			}
			text, unset := p.expand(item.Value)
			v.unset = append(v.unset, unset...)
			if text = strings.TrimSpace(text); text != "" {
				v.items = append(v.items, text)
			}
		}
	case s.list:
		return p.errorf(n, "%s must be a list of strings or a comma list", s.key)
	default:
		return p.errorf(n, "%s must be a string", s.key)
	}
	p.values[s.key] = v
	return nil
}

// expand replaces ${NAME} with getenv(NAME) and reports the names that
// expanded to nothing. Anything else, "$NAME" included, is left as it is:
// tokens and secrets may contain '$'.
func (p *fileParser) expand(s string) (string, []string) {
	var b strings.Builder
	var unset []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 || !isEnvName(s[i+2:i+2+end]) {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		name := s[i+2 : i+2+end]
		val := p.getenv(name)
		if val == "" {
			unset = append(unset, name)
		}
		b.WriteString(s[:i])
		b.WriteString(val)
		s = s[i+2+end+1:]
	}
	return b.String(), unset
}

func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// children lists the names directly under prefix in the YAML layout, in
// table order.
func children(prefix string) []string {
	var out []string
	for _, s := range table {
		if s.envOnly {
			continue
		}
		rest, ok := s.key, prefix == ""
		if !ok {
			rest, ok = strings.CutPrefix(s.key, prefix+".")
		}
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, ".")
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func isLeaf(key string) bool {
	for _, s := range table {
		if s.key == key && !s.envOnly {
			return true
		}
	}
	return false
}
