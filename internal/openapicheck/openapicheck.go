// Package openapicheck validates JSON documents against OpenAPI 3.0 schema
// objects. It covers the keywords Sentry's published description uses for the
// endpoints sentrybot talks to (type, nullable, properties, required, items,
// enum, allOf/anyOf/oneOf, additionalProperties, format date-time, and the
// numeric and length bounds), so contract tests can hold fakes and request
// bodies to the real service's shapes.
package openapicheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ValidateJSON reports every place where body does not match schema, one
// problem per string, each starting with a JSON path like "$.project.id".
// A nil result means the body conforms.
func ValidateJSON(schema, body []byte) []string {
	return validate(schema, body, false)
}

// ValidatePatchJSON is ValidateJSON for partial update bodies: it ignores
// "required". Sentry's description marks every field of its update
// serializers as required, yet its PUT endpoints change only the fields sent.
func ValidatePatchJSON(schema, body []byte) []string {
	return validate(schema, body, true)
}

func validate(schemaJSON, body []byte, ignoreRequired bool) []string {
	var s Schema
	if err := json.Unmarshal(schemaJSON, &s); err != nil {
		return []string{"schema: " + err.Error()}
	}
	v, err := decode(body)
	if err != nil {
		return []string{"$: invalid JSON: " + err.Error()}
	}
	c := checker{ignoreRequired: ignoreRequired}
	c.check("$", &s, v)
	return c.problems
}

// decode keeps numbers as json.Number so integers and fractions stay apart.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

// Schema is the subset of an OpenAPI 3.0 schema object this package checks.
// Unknown keywords (description, title, examples...) are ignored.
type Schema struct {
	Type                 string             `json:"type"`
	Nullable             bool               `json:"nullable"`
	Format               string             `json:"format"`
	Properties           map[string]*Schema `json:"properties"`
	Required             []string           `json:"required"`
	Items                *Schema            `json:"items"`
	AdditionalProperties *Additional        `json:"additionalProperties"`
	Enum                 []json.RawMessage  `json:"enum"`
	AllOf                []*Schema          `json:"allOf"`
	AnyOf                []*Schema          `json:"anyOf"`
	OneOf                []*Schema          `json:"oneOf"`
	Minimum              *float64           `json:"minimum"`
	Maximum              *float64           `json:"maximum"`
	MinLength            *int               `json:"minLength"`
	MaxLength            *int               `json:"maxLength"`
}

// Additional is additionalProperties, which is either a boolean or a schema.
type Additional struct {
	Allowed bool
	Schema  *Schema
}

// UnmarshalJSON accepts both forms of additionalProperties.
func (a *Additional) UnmarshalJSON(b []byte) error {
	switch strings.TrimSpace(string(b)) {
	case "true":
		*a = Additional{Allowed: true}
		return nil
	case "false":
		*a = Additional{Allowed: false}
		return nil
	}
	var s Schema
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*a = Additional{Allowed: true, Schema: &s}
	return nil
}

type checker struct {
	ignoreRequired bool
	problems       []string
}

func (c *checker) add(path, format string, args ...any) {
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

func (c *checker) check(path string, s *Schema, v any) {
	if s == nil {
		return
	}
	if v == nil {
		// OpenAPI 3.0 admits null only through "nullable" (or an enum that
		// lists null). A schema with no type at all, like {}, accepts anything.
		if !s.Nullable && s.Type != "" && !enumHasNull(s.Enum) {
			c.add(path, "null is not allowed (want %s)", s.Type)
		}
		return
	}
	if s.Type != "" && !c.checkType(path, s.Type, v) {
		return // further keywords would only repeat the type problem
	}
	if len(s.Enum) > 0 && !inEnum(s.Enum, v) {
		c.add(path, "value %s is not one of %s", short(v), enumList(s.Enum))
	}
	c.checkFormat(path, s, v)
	c.checkBounds(path, s, v)
	switch val := v.(type) {
	case map[string]any:
		c.checkObject(path, s, val)
	case []any:
		for i, item := range val {
			c.check(fmt.Sprintf("%s[%d]", path, i), s.Items, item)
		}
	}
	for _, sub := range s.AllOf {
		c.check(path, sub, v)
	}
	if len(s.AnyOf) > 0 && c.matching(s.AnyOf, v) == 0 {
		c.add(path, "matches none of anyOf")
	}
	if len(s.OneOf) > 0 {
		if n := c.matching(s.OneOf, v); n != 1 {
			c.add(path, "matches %d of oneOf, want exactly 1", n)
		}
	}
}

// matching counts the alternatives that v satisfies without reporting the
// failures of the alternatives that do not.
func (c *checker) matching(alts []*Schema, v any) int {
	n := 0
	for _, alt := range alts {
		sub := checker{ignoreRequired: c.ignoreRequired}
		sub.check("$", alt, v)
		if len(sub.problems) == 0 {
			n++
		}
	}
	return n
}

func (c *checker) checkType(path, want string, v any) bool {
	got := jsonType(v)
	ok := got == want
	switch {
	case want == "number" && got == "integer":
		ok = true
	case want == "integer" && got == "number":
		ok = false
	}
	if !ok {
		c.add(path, "want %s, got %s %s", want, got, short(v))
	}
	return ok
}

func (c *checker) checkObject(path string, s *Schema, obj map[string]any) {
	if !c.ignoreRequired {
		for _, name := range s.Required {
			if _, ok := obj[name]; !ok {
				c.add(path, "missing required property %q", name)
			}
		}
	}
	for _, name := range sortedKeys(obj) {
		sub := path + "." + name
		if ps, ok := s.Properties[name]; ok {
			c.check(sub, ps, obj[name])
			continue
		}
		if s.AdditionalProperties == nil {
			continue // OpenAPI's default admits unlisted properties
		}
		if !s.AdditionalProperties.Allowed {
			c.add(sub, "property is not allowed")
			continue
		}
		c.check(sub, s.AdditionalProperties.Schema, obj[name])
	}
}

func (c *checker) checkFormat(path string, s *Schema, v any) {
	str, ok := v.(string)
	if !ok || s.Format != "date-time" {
		return
	}
	if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
		c.add(path, "%q is not an RFC 3339 date-time", str)
	}
}

func (c *checker) checkBounds(path string, s *Schema, v any) {
	switch val := v.(type) {
	case json.Number:
		f, err := val.Float64()
		if err != nil {
			return
		}
		if s.Minimum != nil && f < *s.Minimum {
			c.add(path, "%s is below the minimum %v", val, *s.Minimum)
		}
		if s.Maximum != nil && f > *s.Maximum {
			c.add(path, "%s is above the maximum %v", val, *s.Maximum)
		}
	case string:
		n := len([]rune(val))
		if s.MinLength != nil && n < *s.MinLength {
			c.add(path, "length %d is below minLength %d", n, *s.MinLength)
		}
		if s.MaxLength != nil && n > *s.MaxLength {
			c.add(path, "length %d is above maxLength %d", n, *s.MaxLength)
		}
	}
}

func jsonType(v any) string {
	switch val := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if isInteger(val) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func isInteger(n json.Number) bool {
	if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return true
	}
	f, err := n.Float64()
	return err == nil && !math.IsInf(f, 0) && f == math.Trunc(f)
}

func enumHasNull(enum []json.RawMessage) bool {
	for _, e := range enum {
		if strings.TrimSpace(string(e)) == "null" {
			return true
		}
	}
	return false
}

func inEnum(enum []json.RawMessage, v any) bool {
	for _, e := range enum {
		want, err := decode(e)
		if err == nil && equal(want, v) {
			return true
		}
	}
	return false
}

// equal compares two decoded JSON scalars; enums in the schema hold only
// scalars, so containers never compare equal.
func equal(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		fx, errx := x.Float64()
		fy, erry := y.Float64()
		return errx == nil && erry == nil && fx == fy
	case string, bool, nil:
		return a == b
	}
	return false
}

func enumList(enum []json.RawMessage) string {
	parts := make([]string, len(enum))
	for i, e := range enum {
		parts[i] = string(e)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// short renders a value for a problem message without flooding it.
func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const limit = 60
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
