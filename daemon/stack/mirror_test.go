package stack

import (
	"reflect"
	"strings"
	"testing"
)

func TestHostMirror(t *testing.T) {
	for _, tc := range []struct {
		dir      string
		want     string
		fromHost bool
	}{
		// A Debian 12 host: deb822 debian.sources next to a nodesource one
		// and a disabled source that sorts first.
		{"testdata/apt-deb822", "http://deb.debian.org/debian", true},
		// One-line format: security, deb-src and -updates entries are
		// skipped; options and a trailing comment are ignored.
		{"testdata/apt-list", "http://mirror.example.net:3142/ftp.debian.org/debian", true},
		// Nothing Debian: the default.
		{"testdata/apt-none", DefaultMirror, false},
		{"testdata/does-not-exist", DefaultMirror, false},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			got, fromHost, err := HostMirror(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || fromHost != tc.fromHost {
				t.Errorf("HostMirror = %q, %v; want %q, %v", got, fromHost, tc.want, tc.fromHost)
			}
		})
	}
}

func TestParseDeb822(t *testing.T) {
	src := `# comment
Types: deb deb-src
URIs: http://a.example/debian
  http://b.example/debian
Suites: trixie
Components: main
X-Repolib-Name: test

types: deb
uris: http://c.example/debian
suites: trixie-backports
components: main
enabled: no
`
	got, err := ParseDeb822(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Source{
		{Types: []string{"deb", "deb-src"}, URIs: []string{"http://a.example/debian", "http://b.example/debian"},
			Suites: []string{"trixie"}, Components: []string{"main"}, Enabled: true},
		{Types: []string{"deb"}, URIs: []string{"http://c.example/debian"},
			Suites: []string{"trixie-backports"}, Components: []string{"main"}, Enabled: false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseDeb822 =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseSourcesList(t *testing.T) {
	src := "deb [ arch=amd64 ] file:///srv/mirror/debian trixie main\n" +
		"deb http://x.example/debian\n" + // malformed: no suite
		"deb [unterminated http://y.example/debian trixie main\n" +
		"   # only a comment\n"
	got, err := ParseSourcesList(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Source{{Types: []string{"deb"}, URIs: []string{"file:///srv/mirror/debian"},
		Suites: []string{"trixie"}, Components: []string{"main"}, Enabled: true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseSourcesList = %+v, want %+v", got, want)
	}
	if m, ok := PickMirror(got); !ok || m != "file:///srv/mirror/debian" {
		t.Errorf("PickMirror = %q, %v", m, ok)
	}
}

func TestPickMirrorSkips(t *testing.T) {
	for name, s := range map[string]Source{
		"source only":   {Types: []string{"deb-src"}, URIs: []string{"http://a/debian"}, Suites: []string{"trixie"}, Components: []string{"main"}, Enabled: true},
		"no main":       {Types: []string{"deb"}, URIs: []string{"http://a/debian"}, Suites: []string{"trixie"}, Components: []string{"contrib"}, Enabled: true},
		"security":      {Types: []string{"deb"}, URIs: []string{"http://a/debian-security"}, Suites: []string{"trixie-security"}, Components: []string{"main"}, Enabled: true},
		"old security":  {Types: []string{"deb"}, URIs: []string{"http://a/debian"}, Suites: []string{"buster/updates"}, Components: []string{"main"}, Enabled: true},
		"mirror method": {Types: []string{"deb"}, URIs: []string{"mirror+file:/etc/apt/mirrors/debian.list"}, Suites: []string{"trixie"}, Components: []string{"main"}, Enabled: true},
		"cdrom":         {Types: []string{"deb"}, URIs: []string{"cdrom:[Debian]/"}, Suites: []string{"trixie"}, Components: []string{"main"}, Enabled: true},
		"disabled":      {Types: []string{"deb"}, URIs: []string{"http://a/debian"}, Suites: []string{"trixie"}, Components: []string{"main"}},
	} {
		if m, ok := PickMirror([]Source{s}); ok {
			t.Errorf("%s: picked %q", name, m)
		}
	}
}
