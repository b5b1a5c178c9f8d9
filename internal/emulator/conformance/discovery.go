package conformance

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

// docs are Google's discovery documents of the REST APIs the emulator
// serves, as the client libraries in go.mod ship them (see
// discovery/README.md).
//
//go:embed discovery/*.json
var docs embed.FS

// document is the part of a discovery document the checks read.
type document struct {
	Name        string             `json:"name"`
	Version     string             `json:"version"`
	ServicePath string             `json:"servicePath"`
	Parameters  map[string]*param  `json:"parameters"` // the system parameters
	Schemas     map[string]*schema `json:"schemas"`
	Resources   map[string]*resource
	Methods     map[string]*method
}

type resource struct {
	Methods   map[string]*method   `json:"methods"`
	Resources map[string]*resource `json:"resources"`
}

type method struct {
	ID         string            `json:"id"`
	Path       string            `json:"path"`
	FlatPath   string            `json:"flatPath"`
	HTTPMethod string            `json:"httpMethod"`
	Deprecated bool              `json:"deprecated"`
	Parameters map[string]*param `json:"parameters"`
	Request    *schema           `json:"request"`
	Response   *schema           `json:"response"`

	doc     *document
	prefix  string // the path before its first variable, to skip the regexp of most methods
	pattern *regexp.Regexp
	literal int // literal characters of the path, to prefer the most specific match
}

type param struct {
	Type     string   `json:"type"`
	Format   string   `json:"format"`
	Location string   `json:"location"`
	Required bool     `json:"required"`
	Repeated bool     `json:"repeated"`
	Enum     []string `json:"enum"`
}

type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Format               string             `json:"format"`
	Description          string             `json:"description"`
	Properties           map[string]*schema `json:"properties"`
	AdditionalProperties *schema            `json:"additionalProperties"`
	Items                *schema            `json:"items"`
	Enum                 []string           `json:"enum"`
	Annotations          struct {
		Required []string `json:"required"`
	} `json:"annotations"`
}

// required reports whether Google's schema marks a property as required:
// its description starts "Required." (the convention of the generated
// documents) or it is annotated required for the method.
func (s *schema) required(methodID string) bool {
	d := strings.TrimSpace(s.Description)
	if strings.HasPrefix(d, "Required.") || strings.HasPrefix(d, "REQUIRED:") {
		return true
	}
	for _, m := range s.Annotations.Required {
		if m == methodID {
			return true
		}
	}
	return false
}

// loadDocuments parses every embedded discovery document and indexes its
// methods by HTTP verb and path.
func loadDocuments() ([]*document, []*method, error) {
	files, err := docs.ReadDir("discovery")
	if err != nil {
		return nil, nil, fmt.Errorf("read discovery documents: %w", err)
	}
	var (
		out     []*document
		methods []*method
	)
	for _, f := range files {
		if path.Ext(f.Name()) != ".json" {
			continue
		}
		raw, err := docs.ReadFile("discovery/" + f.Name())
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", f.Name(), err)
		}
		var d document
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, nil, fmt.Errorf("parse %s: %w", f.Name(), err)
		}
		out = append(out, &d)
		var walk func(map[string]*method, map[string]*resource)
		walk = func(ms map[string]*method, rs map[string]*resource) {
			for _, m := range ms {
				m.doc = &d
				tmpl := "/" + d.ServicePath + cmpOr(m.FlatPath, m.Path)
				m.prefix, _, _ = strings.Cut(tmpl, "{")
				m.pattern, m.literal = pathPattern(d.ServicePath, cmpOr(m.FlatPath, m.Path))
				methods = append(methods, m)
			}
			for _, r := range rs {
				walk(r.Methods, r.Resources)
			}
		}
		walk(d.Methods, d.Resources)
	}
	// The most specific path first: "v1/groups:lookup" before "v1/groups/{id}".
	// Between equally specific paths, a method Google deprecated comes
	// last: IAM v1's projects.serviceAccounts.signJwt has the path of IAM
	// Credentials' signJwt, which replaces it and which the emulator serves
	// (at Google the two differ by host, which the emulator shares).
	sort.SliceStable(methods, func(i, j int) bool {
		if methods[i].literal != methods[j].literal {
			return methods[i].literal > methods[j].literal
		}
		return !methods[i].Deprecated && methods[j].Deprecated
	})
	return out, methods, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var templateVar = regexp.MustCompile(`\{\+?[^}]+\}`)

// pathPattern turns a discovery path template into a regexp: {x} is one
// path segment, {+x} any run of characters.
func pathPattern(servicePath, tmpl string) (*regexp.Regexp, int) {
	full := "/" + servicePath + tmpl
	var b strings.Builder
	literal := 0
	last := 0
	for _, loc := range templateVar.FindAllStringIndex(full, -1) {
		b.WriteString(regexp.QuoteMeta(full[last:loc[0]]))
		literal += loc[0] - last
		if full[loc[0]+1] == '+' {
			b.WriteString(`.+`)
		} else {
			b.WriteString(`[^/]+`)
		}
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(full[last:]))
	literal += len(full) - last
	return regexp.MustCompile("^" + b.String() + "$"), literal
}

// resolve follows a $ref.
func (d *document) resolve(s *schema) *schema {
	for i := 0; s != nil && s.Ref != "" && i < 8; i++ {
		s = d.Schemas[s.Ref]
	}
	return s
}
