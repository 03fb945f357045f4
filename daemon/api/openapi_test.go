package api

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/xcloud-dev/xcloud/daemon/access"
)

func loadDoc(t *testing.T, a *API) *openapi3.T {
	t.Helper()
	b, err := json.Marshal(a.Document())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("load the document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI 3: %v", err)
	}
	return doc
}

// TestOpenAPIMatchesRoutes: the document is valid, lists exactly the
// routes the mux serves, and the mux serves every route it lists.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	fx := newFixture(t, Options{})
	doc := loadDoc(t, fx.api)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+Prefix+path)
		}
	}
	slices.Sort(documented)
	registered := slices.Sorted(slices.Values(fx.api.patterns))
	if !slices.Equal(documented, registered) {
		t.Errorf("document and mux differ:\ndocumented %v\nregistered %v", documented, registered)
	}
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		path = strings.NewReplacer("{app}", "web", "{id}", "1", "{host}", "www.example.com").Replace(path)
		w := fx.do(method, path, "", "")
		if w.Code == http.StatusNotFound || w.Code == http.StatusMethodNotAllowed {
			t.Errorf("%s %s is documented but answers %d", method, path, w.Code)
		}
	}

	// The document is served, without a token.
	w := fx.do("GET", "/api/v1/openapi.json", "", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"openapi": "3.0.3"`) {
		t.Errorf("GET openapi.json: %d %.200s", w.Code, w.Body)
	}
}

// TestOpenAPIDescribesResponses: what the handlers answer, and every
// field of the types they encode set or left zero, fits the document's
// schemas, so a type that changes its JSON changes the document too.
func TestOpenAPIDescribesResponses(t *testing.T) {
	fx := newFixture(t, Options{})
	doc := loadDoc(t, fx.api)
	root := fx.token(t, "root", access.Admin)
	for _, rt := range fx.api.routes {
		op := doc.Paths.Find(rt.path).GetOperation(rt.method)
		mt := op.Responses.Status(200).Value.Content.Get("application/json")
		if mt == nil {
			continue // streams only
		}
		schema := mt.Schema.Value
		check := func(what string, b []byte) {
			t.Helper()
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Errorf("%s %s: %s is not JSON: %v", rt.method, rt.path, what, err)
				return
			}
			if err := schema.VisitJSON(v); err != nil {
				t.Errorf("%s %s: %s does not fit the document: %v\n%s", rt.method, rt.path, what, err, b)
			}
		}
		path, body := sample(rt, "web")
		w := fx.do(rt.method, path, root, body)
		if w.Code != 200 {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
			continue
		}
		check("the answer", w.Body.Bytes())
		if rt.resp == nil || rt.public {
			continue
		}
		typ := reflect.TypeOf(rt.resp)
		for name, v := range map[string]reflect.Value{"a full " + typ.String(): filled(typ, 0), "a zero " + typ.String(): reflect.Zero(typ)} {
			b, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			check(name, b)
		}
	}
}
