package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
)

const redacted = "[redacted]"

// Secret is a setting that must never be printed. Every way the standard
// library, zerolog or slog turn a value into text (fmt verbs, JSON, text,
// slog) yields "[redacted]", or "" when the secret is empty so that "not
// set" stays visible. Reveal is the only way to the value.
type Secret string

// Reveal returns the secret value, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Format implements fmt.Formatter, so that every verb (even a wrong one
// such as %d, which fmt would otherwise answer with the raw value) prints
// the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalJSON covers encoding/json and zerolog's Interface/Any.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText covers YAML encoders and any other text encoder.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
