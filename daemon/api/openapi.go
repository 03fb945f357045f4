package api

import (
	"encoding"
	"encoding/json"
	"maps"
	"net/http"
	"path"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// The OpenAPI document is generated from the route table and, by
// reflection, from the very types the handlers encode and decode, so the
// API and its description cannot drift: a field added to an engine type
// appears in the document with the name encoding/json gives it.

type obj = map[string]any

var pathParamRe = regexp.MustCompile(`\{([a-z]+)\}`)

// Document returns the OpenAPI 3 description of the API.
func (a *API) Document() map[string]any {
	g := &schemaGen{defs: obj{}, names: map[reflect.Type]string{}}
	paths := obj{}
	for _, rt := range a.routes {
		op := obj{
			"operationId": operationID(rt.op),
			"summary":     rt.summary,
			"responses":   responses(g, rt),
		}
		var params []any
		for _, m := range pathParamRe.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": obj{"type": "string"}, "description": pathParamDesc[m[1]]})
		}
		for _, q := range rt.query {
			params = append(params, obj{"name": q.name, "in": "query", "schema": obj{"type": q.kind}, "description": q.desc})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.body != nil {
			op["requestBody"] = obj{
				"required": !rt.optionalBody,
				"content":  obj{"application/json": obj{"schema": g.of(reflect.TypeOf(rt.body))}},
			}
		}
		if rt.public {
			op["security"] = []any{}
		}
		item, _ := paths[rt.path].(obj)
		if item == nil {
			item = obj{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	g.of(reflect.TypeFor[ErrorBody]())
	return obj{
		"openapi": "3.0.3",
		"info": obj{
			"title":       "xcloud API",
			"version":     "v1",
			"description": "The HTTP door of xcloud: the operations of the SSH admin commands, with tokens from `tokens:create`. Send `Authorization: Bearer TOKEN`. Errors are {\"error\": {\"code\", \"message\"}}.",
		},
		"servers":  []any{obj{"url": Prefix}},
		"security": []any{obj{"token": []any{}}},
		"paths":    paths,
		"components": obj{
			"securitySchemes": obj{"token": obj{"type": "http", "scheme": "bearer", "description": "an xct_ token from tokens:create"}},
			"schemas":         g.defs,
		},
	}
}

var pathParamDesc = map[string]string{
	"app":  "the app's name",
	"id":   "a build's number, or \"latest\"",
	"host": "a custom domain of the app",
}

func responses(g *schemaGen, rt route) obj {
	errResp := obj{"description": "the caller's mistake (4XX) or the daemon's failure (5XX)",
		"content": obj{"application/json": obj{"schema": g.of(reflect.TypeFor[ErrorBody]())}}}
	ok := obj{"description": rt.summary}
	content := obj{}
	if rt.path == "/openapi.json" {
		content["application/json"] = obj{"schema": obj{"type": "object"}}
	} else if rt.resp != nil && rt.op != "follow deploy" {
		content["application/json"] = obj{"schema": g.of(reflect.TypeOf(rt.resp))}
	}
	if rt.stream {
		desc := "Server-Sent Events"
		if rt.resp != nil {
			desc += "; each event's data is JSON like " + typeName(reflect.TypeOf(rt.resp)) + " or a line of text"
		}
		content["text/event-stream"] = obj{"schema": obj{"type": "string", "description": desc}}
	}
	ok["content"] = content
	out := obj{"200": ok, "4XX": errResp, "5XX": errResp}
	return out
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// operationID turns "list app events" into "listAppEvents".
func operationID(op string) string {
	words := strings.Fields(op)
	for i := 1; i < len(words); i++ {
		words[i] = strings.ToUpper(words[i][:1]) + words[i][1:]
	}
	return strings.Join(words, "")
}

// schemaGen makes JSON Schemas (OpenAPI 3.0 dialect) of Go types as
// encoding/json encodes them; named structs become components.
type schemaGen struct {
	defs  obj
	names map[reflect.Type]string
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func (g *schemaGen) of(t reflect.Type) obj {
	switch {
	case t == timeType:
		return obj{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Struct && t.Name() != "" && t.Implements(jsonMarshalerType):
		return g.named(t, g.marshalerSchema)
	case t.Implements(jsonMarshalerType):
		return obj{} // its own encoding: any JSON
	case t.Implements(textMarshalerType):
		return obj{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := g.of(t.Elem())
		if _, ok := s["$ref"]; ok {
			return obj{"allOf": []any{s}, "nullable": true}
		}
		s["nullable"] = true
		return s
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return obj{"type": "integer", "format": "int32"}
	case reflect.Int64, reflect.Uint, reflect.Uint64:
		return obj{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return obj{"type": "string", "format": "byte"}
		}
		return obj{"type": "array", "items": g.of(t.Elem()), "nullable": t.Kind() == reflect.Slice}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": g.of(t.Elem()), "nullable": true}
	case reflect.Interface:
		return obj{"nullable": true} // any JSON, null too
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t)
		}
		return g.named(t, g.structSchema)
	}
	return obj{}
}

// named returns a reference to t's component, made by gen the first time.
func (g *schemaGen) named(t reflect.Type, gen func(reflect.Type) obj) obj {
	name, ok := g.names[t]
	if !ok {
		name = g.componentName(t)
		g.names[t] = name
		g.defs[name] = obj{} // placeholder: recursive types end here
		g.defs[name] = gen(t)
	}
	return obj{"$ref": "#/components/schemas/" + name}
}

// marshalerSchema describes a struct with its own MarshalJSON by what it
// encodes: a value with every field set and the zero value are encoded,
// and each key of either becomes a property, typed by the Go field of
// that name when the encoding agrees with it, else by the encoded value,
// and nullable when either encoding has null there.
func (g *schemaGen) marshalerSchema(t reflect.Type) obj {
	fromFields := g.structSchema(t)["properties"].(obj)
	enc := func(v reflect.Value) map[string]any {
		b, err := json.Marshal(v.Interface())
		var m map[string]any
		if err != nil || json.Unmarshal(b, &m) != nil {
			return nil
		}
		return m
	}
	full, zero := enc(filled(t, 0)), enc(reflect.Zero(t))
	props := obj{}
	for _, m := range []map[string]any{full, zero} {
		for k := range m {
			if _, done := props[k]; done {
				continue
			}
			v := full[k]
			if v == nil {
				v = zero[k]
			}
			s, ok := fromFields[k].(obj)
			if !ok || !kindAgrees(s, v) {
				s = valueSchema(v)
			}
			if full[k] == nil || zero[k] == nil {
				s = nullable(s)
			}
			props[k] = s
		}
	}
	return obj{"type": "object", "properties": props}
}

func nullable(s obj) obj {
	if _, ok := s["$ref"]; ok {
		return obj{"allOf": []any{s}, "nullable": true}
	}
	out := maps.Clone(s)
	out["nullable"] = true
	return out
}

// kindAgrees reports whether the encoded value v fits schema s's type.
func kindAgrees(s obj, v any) bool {
	typ, _ := s["type"].(string)
	switch v.(type) {
	case nil:
		return true
	case string:
		return typ == "string"
	case float64:
		return typ == "number" || typ == "integer"
	case bool:
		return typ == "boolean"
	case []any:
		return typ == "array"
	case map[string]any:
		return typ == "object" || s["$ref"] != nil || s["allOf"] != nil
	}
	return false
}

// valueSchema is the schema of an encoded JSON value.
func valueSchema(v any) obj {
	switch v.(type) {
	case string:
		return obj{"type": "string"}
	case float64:
		return obj{"type": "number"}
	case bool:
		return obj{"type": "boolean"}
	case []any:
		return obj{"type": "array", "items": obj{}}
	case map[string]any:
		return obj{"type": "object"}
	}
	return obj{}
}

// filled returns a value of t with every field set, so its encoding shows
// every key a set field gives.
func filled(t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if depth > 4 {
		return v
	}
	switch {
	case t == timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
		return v
	}
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(2)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(2)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.String:
		v.SetString("x")
	case reflect.Pointer:
		v.Set(filled(t.Elem(), depth+1).Addr())
	case reflect.Slice:
		v.Set(reflect.Append(reflect.MakeSlice(t, 0, 1), filled(t.Elem(), depth+1)))
	case reflect.Map:
		if t.Key().Kind() == reflect.String {
			m := reflect.MakeMap(t)
			m.SetMapIndex(filled(t.Key(), depth+1), filled(t.Elem(), depth+1))
			v.Set(m)
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				v.Field(i).Set(filled(t.Field(i).Type, depth+1))
			}
		}
	}
	return v
}

// componentName is the type's name, qualified by its package when two
// packages have a type of that name.
func (g *schemaGen) componentName(t reflect.Type) string {
	name := t.Name()
	for other, n := range g.names {
		if n == name && other != t {
			return path.Base(t.PkgPath()) + "." + name
		}
	}
	return name
}

func (g *schemaGen) structSchema(t reflect.Type) obj {
	props := obj{}
	g.fields(t, props)
	return obj{"type": "object", "properties": props}
}

// fields adds t's encoded fields to props, inlining embedded structs as
// encoding/json does.
func (g *schemaGen) fields(t reflect.Type, props obj) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.of(f.Type)
	}
}

func (a *API) getOpenAPI(w http.ResponseWriter, _ *http.Request, _ *request) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, a.doc())
	return nil
}
