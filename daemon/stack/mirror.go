package stack

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// DefaultMirror is the Debian archive used when neither the configuration nor
// the host's apt sources name one.
const DefaultMirror = "http://deb.debian.org/debian"

// Source is one apt source: a one-line entry of a .list file or a deb822
// paragraph of a .sources file.
type Source struct {
	Types      []string // deb, deb-src
	URIs       []string
	Suites     []string
	Components []string
	Enabled    bool
}

// ParseSourcesList parses the one-line format of /etc/apt/sources.list and
// sources.list.d/*.list: "deb [options] URI suite [component...]". Comments,
// blank lines and malformed lines are skipped.
func ParseSourcesList(r io.Reader) ([]Source, error) {
	var out []Source
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		typ, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				continue
			}
			rest = strings.TrimSpace(rest[end+1:])
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		out = append(out, Source{Types: []string{typ}, URIs: f[:1], Suites: f[1:2], Components: f[2:], Enabled: true})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	return out, nil
}

// ParseDeb822 parses the deb822 format of sources.list.d/*.sources:
// paragraphs of "Key: value" fields separated by blank lines, with
// continuation lines starting with white space and "#" comment lines.
func ParseDeb822(r io.Reader) ([]Source, error) {
	var out []Source
	fields := map[string]string{}
	last := ""
	flush := func() {
		if len(fields) == 0 {
			return
		}
		s := Source{
			Types:      strings.Fields(fields["types"]),
			URIs:       strings.Fields(fields["uris"]),
			Suites:     strings.Fields(fields["suites"]),
			Components: strings.Fields(fields["components"]),
			Enabled:    true,
		}
		switch strings.ToLower(strings.TrimSpace(fields["enabled"])) {
		case "no", "false", "0":
			s.Enabled = false
		}
		out = append(out, s)
		fields = map[string]string{}
		last = ""
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			continue
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	flush()
	return out, nil
}

// PickMirror returns the first Debian archive among sources: an enabled
// "deb" source over http, https or file whose URI path ends in /debian, for a
// plain suite (not -security, -updates or -backports) with the main
// component. ok is false when there is none.
func PickMirror(sources []Source) (mirror string, ok bool) {
	for _, s := range sources {
		if !s.Enabled || !slices.Contains(s.Types, "deb") || !slices.Contains(s.Components, "main") {
			continue
		}
		plain := false
		for _, suite := range s.Suites {
			if suite != "" && !strings.ContainsAny(suite, "-/") {
				plain = true
			}
		}
		if !plain {
			continue
		}
		for _, uri := range s.URIs {
			u, err := url.Parse(uri)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
				continue
			}
			if path.Base(strings.TrimRight(u.Path, "/")) == "debian" {
				return strings.TrimRight(uri, "/"), true
			}
		}
	}
	return "", false
}

// HostMirror finds the Debian mirror the host's apt uses, reading
// APTDIR/sources.list, then APTDIR/sources.list.d/*.list and *.sources in
// name order. It returns DefaultMirror when none qualifies (see PickMirror);
// fromHost says whether the mirror came from the host's sources.
func HostMirror(aptDir string) (mirror string, fromHost bool, err error) {
	var all []Source
	files := []string{filepath.Join(aptDir, "sources.list")}
	entries, err := os.ReadDir(filepath.Join(aptDir, "sources.list.d"))
	if err != nil && !os.IsNotExist(err) {
		return "", false, fmt.Errorf("list apt sources: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources")) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, filepath.Join(aptDir, "sources.list.d", n))
	}
	for _, f := range files {
		srcs, err := parseSourcesFile(f)
		if err != nil {
			return "", false, err
		}
		all = append(all, srcs...)
	}
	if m, ok := PickMirror(all); ok {
		return m, true, nil
	}
	return DefaultMirror, false, nil
}

func parseSourcesFile(name string) ([]Source, error) {
	f, err := os.Open(name)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	defer f.Close()
	var srcs []Source
	if strings.HasSuffix(name, ".sources") {
		srcs, err = ParseDeb822(f)
	} else {
		srcs, err = ParseSourcesList(f)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return srcs, nil
}
