package daemon

import (
	"reflect"
	"testing"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/proxy"
	"github.com/xcloud-dev/xcloud/store"
)

// A static release keeps its static.json in its spec, so a rollback or a
// restart serves it the same way without the repository.
func TestStaticSiteInReleaseSpec(t *testing.T) {
	c, err := buildpacks.ParseStaticJSON([]byte(`{"clean_urls": true, "routes": {"/**": {"path": "index.html", "except": ["/api/"]}},
		"redirects": {"/old": {"url": "/new", "status": 302}}, "headers": {"/": {"x-a": "b"}}, "error_page": "e.html"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := specJSON(releaseSpec{Static: "abc", Site: c})
	if err != nil {
		t.Fatal(err)
	}
	got := proxySite(releaseSite(store.Release{Spec: b}))
	want := &proxy.Site{
		CleanURLs: true,
		Routes:    []proxy.SiteRoute{{Path: "/**", Except: []string{"/api/"}, File: "/index.html"}},
		Redirects: []proxy.SiteRedirect{{Path: "/old", URL: "/new", Status: 302}},
		Headers:   []proxy.SiteHeaders{{Path: "/", Set: map[string]string{"X-A": "b"}}},
		ErrorPage: "/e.html",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if s := proxySite(releaseSite(store.Release{Spec: []byte(`{"static":"abc"}`)})); s != nil {
		t.Errorf("a release without static.json has settings %+v", s)
	}
}
