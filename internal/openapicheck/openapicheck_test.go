package openapicheck

import (
	"strings"
	"testing"
)

// issueSchema mirrors the shape of Sentry's issue schema in miniature: a
// string count, an integer userCount, a nullable object, a nullable enum that
// lists null, and a free-form map of number series.
const issueSchema = `{
  "type": "object",
  "properties": {
    "id": {"type": "string"},
    "count": {"type": "string"},
    "userCount": {"type": "integer"},
    "culprit": {"type": "string", "nullable": true},
    "lastSeen": {"type": "string", "format": "date-time", "nullable": true},
    "level": {"type": "string", "enum": ["error", "warning"]},
    "substatus": {"type": "string", "nullable": true, "enum": ["ongoing", "new", null]},
    "assignedTo": {
      "type": "object", "nullable": true,
      "properties": {"type": {"type": "string", "enum": ["user", "team"]}, "id": {"type": "string"}, "email": {"type": "string"}},
      "required": ["type", "id"]
    },
    "project": {
      "type": "object",
      "properties": {"id": {"type": "string"}, "platform": {"type": "string", "nullable": true}},
      "required": ["id", "platform"]
    },
    "stats": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}},
    "metadata": {"type": "object", "additionalProperties": {}},
    "tags": {"type": "array", "items": {"type": "object", "additionalProperties": {}}},
    "ignoreWindow": {"type": "integer", "maximum": 10080},
    "closed": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}
  },
  "required": ["id", "count", "userCount", "culprit", "project", "substatus"]
}`

const validIssue = `{
  "id": "1", "count": "150", "userCount": 12, "culprit": null,
  "lastSeen": "2018-12-06T21:19:55Z", "level": "error", "substatus": null,
  "assignedTo": null,
  "project": {"id": "2", "platform": null},
  "stats": {"24h": [[1541451600, 557], [1541455200, 473.5]]},
  "metadata": {"type": "ValueError", "anything": [1, {"x": null}]},
  "tags": [{"key": "browser", "totalValues": 150}],
  "ignoreWindow": 60,
  "closed": {"a": "b"},
  "unlisted": "extra properties are allowed by default"
}`

func TestValidateJSON_Accepts(t *testing.T) {
	if problems := ValidateJSON([]byte(issueSchema), []byte(validIssue)); problems != nil {
		t.Fatalf("valid body rejected:\n%s", strings.Join(problems, "\n"))
	}
	// The same body with the nullable fields filled in.
	filled := strings.NewReplacer(
		`"culprit": null`, `"culprit": "app.main"`,
		`"substatus": null`, `"substatus": "ongoing"`,
		`"assignedTo": null`, `"assignedTo": {"type": "team", "id": "4"}`,
	).Replace(validIssue)
	if problems := ValidateJSON([]byte(issueSchema), []byte(filled)); problems != nil {
		t.Fatalf("filled body rejected:\n%s", strings.Join(problems, "\n"))
	}
}

func TestValidateJSON_Rejects(t *testing.T) {
	tests := []struct {
		name    string
		old     string // replaced in validIssue
		new     string
		problem string // expected substring of one problem
	}{
		{"MissingRequired", `"count": "150", `, ``, `$: missing required property "count"`},
		{"CountAsInteger", `"count": "150"`, `"count": 150`, "$.count: want string, got integer"},
		{"UserCountAsFraction", `"userCount": 12`, `"userCount": 12.5`, "$.userCount: want integer, got number"},
		{"NullNotNullable", `"id": "1"`, `"id": null`, "$.id: null is not allowed"},
		{"NestedNullNotNullable", `"project": {"id": "2"`, `"project": {"id": null`, "$.project.id: null is not allowed"},
		{"NestedMissingRequired", `"project": {"id": "2", "platform": null}`, `"project": {"id": "2"}`, `$.project: missing required property "platform"`},
		{"EnumValue", `"level": "error"`, `"level": "critical"`, `$.level: value "critical" is not one of`},
		{"NullableEnumValue", `"substatus": null`, `"substatus": "resolved"`, `$.substatus: value "resolved"`},
		{"AssigneeMissingID", `"assignedTo": null`, `"assignedTo": {"type": "user"}`, `$.assignedTo: missing required property "id"`},
		{"ItemType", `[1541455200, 473.5]`, `[1541455200, "473"]`, "$.stats.24h[1][1]: want number, got string"},
		{"ArrayForObject", `"tags": [{"key": "browser", "totalValues": 150}]`, `"tags": ["browser"]`, "$.tags[0]: want object, got string"},
		{"DateTime", `"lastSeen": "2018-12-06T21:19:55Z"`, `"lastSeen": "06/12/2018"`, "$.lastSeen: \"06/12/2018\" is not an RFC 3339 date-time"},
		{"Maximum", `"ignoreWindow": 60`, `"ignoreWindow": 20000`, "$.ignoreWindow: 20000 is above the maximum 10080"},
		{"AdditionalFalse", `"closed": {"a": "b"}`, `"closed": {"a": "b", "z": 1}`, "$.closed.z: property is not allowed"},
		{"RootType", validIssue, `[]`, "$: want object, got array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(validIssue, tt.old) {
				t.Fatalf("test setup: %q not in body", tt.old)
			}
			body := strings.Replace(validIssue, tt.old, tt.new, 1)
			problems := ValidateJSON([]byte(issueSchema), []byte(body))
			if !containsProblem(problems, tt.problem) {
				t.Fatalf("want a problem containing %q, got:\n%s", tt.problem, strings.Join(problems, "\n"))
			}
		})
	}
}

func TestValidateJSON_Combinators(t *testing.T) {
	schema := `{
	  "type": "object",
	  "properties": {
	    "all": {"allOf": [{"type": "object", "properties": {"commit": {"type": "string"}}, "required": ["commit"]}]},
	    "any": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
	    "one": {"oneOf": [{"type": "integer"}, {"type": "number"}]}
	  }
	}`
	tests := []struct {
		name, body, problem string
	}{
		{"AllOfOK", `{"all": {"commit": "abc"}}`, ""},
		{"AllOfMissing", `{"all": {}}`, `$.all: missing required property "commit"`},
		{"AnyOfString", `{"any": "x"}`, ""},
		{"AnyOfInteger", `{"any": 3}`, ""},
		{"AnyOfNone", `{"any": true}`, "$.any: matches none of anyOf"},
		{"OneOfExactlyOne", `{"one": 1.5}`, ""},
		{"OneOfTwo", `{"one": 2}`, "$.one: matches 2 of oneOf, want exactly 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := ValidateJSON([]byte(schema), []byte(tt.body))
			if tt.problem == "" {
				if problems != nil {
					t.Fatalf("unexpected problems: %v", problems)
				}
				return
			}
			if !containsProblem(problems, tt.problem) {
				t.Fatalf("want %q, got %v", tt.problem, problems)
			}
		})
	}
}

func TestValidatePatchJSON(t *testing.T) {
	// Sentry's update schema lists every field as required; a partial body
	// is what its PUT endpoints expect.
	schema := `{
	  "type": "object",
	  "properties": {
	    "status": {"type": "string", "enum": ["resolved", "unresolved", "ignored"]},
	    "substatus": {"type": "string", "nullable": true, "enum": ["archived_forever", null]},
	    "statusDetails": {"allOf": [{"type": "object", "properties": {"inNextRelease": {"type": "boolean"}, "ignoreCount": {"type": "integer"}}, "required": ["inNextRelease", "ignoreCount"]}]}
	  },
	  "required": ["status", "substatus", "statusDetails", "assignedTo"]
	}`
	partial := `{"status": "resolved", "statusDetails": {"inNextRelease": true}}`
	if problems := ValidatePatchJSON([]byte(schema), []byte(partial)); problems != nil {
		t.Fatalf("partial body rejected: %v", problems)
	}
	if problems := ValidateJSON([]byte(schema), []byte(partial)); !containsProblem(problems, `missing required property "assignedTo"`) {
		t.Fatalf("strict validation should report missing fields, got %v", problems)
	}
	bad := `{"status": "closed", "statusDetails": {"inNextRelease": "yes"}}`
	problems := ValidatePatchJSON([]byte(schema), []byte(bad))
	if !containsProblem(problems, `$.status: value "closed"`) || !containsProblem(problems, "$.statusDetails.inNextRelease: want boolean, got string") {
		t.Fatalf("patch validation missed type/enum problems: %v", problems)
	}
}

func TestValidateJSON_InvalidInput(t *testing.T) {
	if p := ValidateJSON([]byte(`{"type":`), []byte(`{}`)); !containsProblem(p, "schema:") {
		t.Fatalf("broken schema not reported: %v", p)
	}
	if p := ValidateJSON([]byte(`{"type":"object"}`), []byte(`{"a":`)); !containsProblem(p, "$: invalid JSON") {
		t.Fatalf("broken body not reported: %v", p)
	}
	if p := ValidateJSON([]byte(`{"type":"object"}`), []byte(`{} {}`)); !containsProblem(p, "trailing data") {
		t.Fatalf("trailing data not reported: %v", p)
	}
}

func containsProblem(problems []string, want string) bool {
	for _, p := range problems {
		if strings.Contains(p, want) {
			return true
		}
	}
	return false
}
