package buildpacks

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseStaticJSON(t *testing.T) {
	c, err := ParseStaticJSON([]byte(`{
  "root": "dist/",
  "clean_urls": true,
  "routes": {
    "/spa/**": {"path": "index.html", "except": "/spa/assets/"},
    "/**": "index.html"
  },
  "redirects": {
    "/old": {"url": "/new"},
    "/gone/*": {"url": "https://example.com/", "status": 308}
  },
  "headers": {
    "/assets/**": {"cache-control": "public, max-age=60"},
    "/": {"X-Frame-Options": "DENY"}
  },
  "error_page": "errors/oops.html",
  "https_only": true,
  "proxies": {"/api/": {"origin": "https://api.example.com"}},
  "colour": "blue"
}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &StaticConfig{
		Root:      "dist",
		CleanURLs: true,
		Routes: []StaticRoute{
			{Path: "/spa/**", File: "/index.html", Except: []string{"/spa/assets/"}},
			{Path: "/**", File: "/index.html"},
		},
		Redirects: []StaticRedirect{
			{Path: "/old", URL: "/new", Status: 301},
			{Path: "/gone/*", URL: "https://example.com/", Status: 308},
		},
		Headers: []StaticHeaders{
			{Path: "/assets/**", Set: map[string]string{"Cache-Control": "public, max-age=60"}},
			{Path: "/", Set: map[string]string{"X-Frame-Options": "DENY"}},
		},
		ErrorPage: "/errors/oops.html",
		Notes: []string{
			"static.json https_only is not supported; ignored (HTTP is redirected to HTTPS whenever the daemon's TLS is on)",
			"static.json proxies is not supported; ignored",
			"static.json colour is not a key xcloud knows; ignored",
		},
	}
	c.p, c.rootLine = nil, member{}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestParseStaticJSONErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"{\n  \"routes\": {\n    \"/**\": \"index.html\",\n  }\n}", "static.json line 4, column 3: invalid character '}' looking for beginning of object key string"},
		{`[]`, "static.json line 1: want an object"},
		{"{\n\"root\": \"../x\"}", `static.json root: "../x" is not a folder inside the repository (line 2)`},
		{"{\n\"root\": 3}", "static.json root: want a string, got 3 (line 2)"},
		{"{\"a\": 1,\n \"clean_urls\": \"yes\"}", `static.json clean_urls: want true or false, got "yes" (line 2)`},
		{"{\"routes\": {\n\n \"**\": \"index.html\"}}", `static.json routes.**: "**" must start with / (line 3)`},
		{"{\"routes\": {\n \"/**\": \"../secret\"}}", `static.json routes./**: "../secret" is not a file of the site (line 2)`},
		{"{\"routes\": {\n \"/**\": {\"file\": \"x\"}}}", `static.json routes./**.file: unknown key; want path or except (line 2)`},
		{"{\"routes\": {\n \"/**\": {}}}", `static.json routes./**: has no path (line 2)`},
		{"{\"routes\": {\n \"/**\": {\"path\": \"index.html\",\n \"except\": 1}}}", `static.json routes./**.except: want a path or a list of paths, got 1 (line 3)`},
		{"{\"routes\": [\"/**\"]}", `static.json routes: want an object, got ["/**"] (line 1)`},
		{"{\"redirects\": {\n \"/old\": {\"url\": \"/new\",\n   \"status\": 200}}}", `static.json redirects./old.status: want 301, 302, 303, 307 or 308, got 200 (line 3)`},
		{"{\"redirects\": {\n \"/old\": {\"status\": 302}}}", `static.json redirects./old: has no url (line 2)`},
		{"{\"redirects\": {\n \"/old\": \"/new\"}}", `static.json redirects./old: want an object, got "/new" (line 2)`},
		{"{\"headers\": {\"/\": {\n \"Bad Name\": \"x\"}}}", `static.json headers./: "Bad Name" is not a header name (line 2)`},
		{"{\"headers\": {\"/\": {\n \"X-A\": [\"x\"]}}}", `static.json headers./.X-A: want a string, got ["x"] (line 2)`},
		{"{\"error_page\": \"errors/\"}", `static.json error_page: "errors/" is not a file of the site (line 1)`},
	} {
		_, err := ParseStaticJSON([]byte(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got  %v\n want %s", tt.in, err, tt.want)
		}
	}
}

func TestDetectStaticJSON(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tt := range []struct {
		name  string
		fsys  fstest.MapFS
		kind  string
		root  string
		err   string
		note  string
		noCfg bool
	}{
		{name: "root index", kind: KindStatic, root: ".", fsys: fstest.MapFS{
			"index.html": file(""), "static.json": file(`{"routes": {"/**": "index.html"}}`)}},
		{name: "heroku layout", kind: KindStatic, root: "public_html", fsys: fstest.MapFS{
			"public_html/index.html": file(""), "static.json": file(`{}`)}},
		{name: "root key", kind: KindStatic, root: "site", fsys: fstest.MapFS{
			"site/index.html": file(""), "index.html": file(""), "static.json": file(`{"root": "site/"}`)}},
		{name: "missing root", err: "static.json root: build is not a folder of the repository (line 2)", fsys: fstest.MapFS{
			"index.html": file(""), "static.json": file("{\n\"root\": \"build\"}")}},
		{name: "bad file refuses", err: "static.json line 1", fsys: fstest.MapFS{
			"index.html": file(""), "static.json": file(`{"routes": }`)}},
		{name: "vite export", kind: KindNode, root: "dist", note: "static.json root out ignored: the build writes the site to dist", fsys: fstest.MapFS{
			"package.json": file(`{"scripts": {"build": "vite build"}, "devDependencies": {"vite": "5"}}`),
			"index.html":   file(""), "static.json": file(`{"root": "out", "routes": {"/**": "index.html"}}`)}},
		{name: "not static", kind: KindPython, noCfg: true, note: "static.json ignored: Python", fsys: fstest.MapFS{
			"requirements.txt": file("flask\n"), "Procfile": file("web: python app.py\n"), "app.py": file(""), "static.json": file(`{"routes": 1}`)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Detect(tt.fsys, DefaultStack())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Kind != tt.kind || (tt.root != "" && plan.StaticRoot != tt.root) {
				t.Errorf("kind %q root %q, want %q %q", plan.Kind, plan.StaticRoot, tt.kind, tt.root)
			}
			if (plan.Static == nil) != tt.noCfg {
				t.Errorf("Static = %+v", plan.Static)
			}
			if tt.note != "" && !containsSub(plan.Notes, tt.note) {
				t.Errorf("notes %q lack %q", plan.Notes, tt.note)
			}
		})
	}
}
