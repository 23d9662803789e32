package handlers

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"

	"keydesk/views"
)

// openAPI is the part of an OpenAPI 3 document the reference page shows.
type openAPI struct {
	Info struct {
		Title       string `yaml:"title"`
		Summary     string `yaml:"summary"`
		Description string `yaml:"description"`
	} `yaml:"info"`
	Paths      yaml.Node `yaml:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type        string `yaml:"type"`
			In          string `yaml:"in"`
			Name        string `yaml:"name"`
			Scheme      string `yaml:"scheme"`
			Description string `yaml:"description"`
		} `yaml:"securitySchemes"`
		Responses map[string]openAPIResponse `yaml:"responses"`
	} `yaml:"components"`
}

type openAPIOperation struct {
	Summary     string                     `yaml:"summary"`
	Description string                     `yaml:"description"`
	Security    *[]map[string][]string     `yaml:"security"`
	Parameters  []openAPIParameter         `yaml:"parameters"`
	RequestBody *struct{ Required bool }   `yaml:"requestBody"`
	Responses   map[string]openAPIResponse `yaml:"responses"`
}

type openAPIParameter struct {
	Name        string `yaml:"name"`
	In          string `yaml:"in"`
	Required    bool   `yaml:"required"`
	Description string `yaml:"description"`
}

type openAPIResponse struct {
	Ref         string `yaml:"$ref"`
	Description string `yaml:"description"`
}

var openAPIMethods = []string{"get", "post", "put", "patch", "delete"}

// ParseAPIReference turns the OpenAPI document into the API reference
// page's data, operations in the document's order.
func ParseAPIReference(doc []byte) (views.APIReference, error) {
	var spec openAPI
	if err := yaml.Unmarshal(doc, &spec); err != nil {
		return views.APIReference{}, fmt.Errorf("api reference: unable to parse the OpenAPI document: %w", err)
	}
	ref := views.APIReference{Title: spec.Info.Title, Summary: spec.Info.Summary, Description: spec.Info.Description}
	for name, s := range spec.Components.SecuritySchemes {
		how := s.Name + " " + s.In
		if s.Type == "http" {
			how = "Authorization: " + s.Scheme
		}
		ref.Auth = append(ref.Auth, views.APIAuth{Name: name, How: strings.TrimSpace(how), Description: s.Description})
	}
	slices.SortFunc(ref.Auth, func(a, b views.APIAuth) int { return strings.Compare(a.Name, b.Name) })
	for i := 0; i+1 < len(spec.Paths.Content); i += 2 {
		path, item := spec.Paths.Content[i].Value, spec.Paths.Content[i+1]
		for j := 0; j+1 < len(item.Content); j += 2 {
			method := item.Content[j].Value
			if !slices.Contains(openAPIMethods, method) {
				continue
			}
			var op openAPIOperation
			if err := item.Content[j+1].Decode(&op); err != nil {
				return views.APIReference{}, fmt.Errorf("api reference: unable to read %s %s: %w", method, path, err)
			}
			out := views.APIOperation{Method: strings.ToUpper(method), Path: path, Summary: op.Summary, Description: op.Description, Auth: "none"}
			if op.Security == nil || len(*op.Security) > 0 {
				var schemes []string
				if op.Security != nil {
					for _, alt := range *op.Security {
						var names []string
						for n := range alt {
							names = append(names, n)
						}
						slices.Sort(names)
						schemes = append(schemes, strings.Join(names, " + "))
					}
				}
				out.Auth = strings.Join(schemes, " or ")
			}
			for _, p := range op.Parameters {
				out.Parameters = append(out.Parameters, views.APIParameter{Name: p.Name, In: p.In, Required: p.Required, Description: p.Description})
			}
			out.HasBody = op.RequestBody != nil
			codes := make([]string, 0, len(op.Responses))
			for code := range op.Responses {
				codes = append(codes, code)
			}
			slices.Sort(codes)
			for _, code := range codes {
				r := op.Responses[code]
				if name, ok := strings.CutPrefix(r.Ref, "#/components/responses/"); ok {
					r = spec.Components.Responses[name]
				}
				out.Responses = append(out.Responses, views.APIResponse{Code: code, Description: r.Description})
			}
			ref.Operations = append(ref.Operations, out)
		}
	}
	return ref, nil
}

// APIReference serves the API reference page, parsed once from doc.
func (h *Handler) APIReference(doc []byte) (echo.HandlerFunc, error) {
	ref, err := ParseAPIReference(doc)
	if err != nil {
		return nil, err
	}
	return func(c echo.Context) error {
		return render(c, http.StatusOK, views.APIReferencePage(h.shell(c, "API reference", views.NavAPIReference), ref))
	}, nil
}
