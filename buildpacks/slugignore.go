package buildpacks

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// slugPattern is one .slugignore line.
type slugPattern struct {
	segs     []string // the pattern split at "/"; "**" matches any number of directories
	anchored bool     // relative to the root; otherwise matches a name at any depth
	dirOnly  bool     // written with a trailing "/"
}

// parseSlugignore reads .slugignore the way Heroku does: one pattern per
// line in .gitignore syntax, blank lines and # comments skipped. Negated
// (!) patterns are not supported, as on Heroku; they are skipped with a note.
func (d *detector) parseSlugignore(b []byte) ([]slugPattern, error) {
	var pats []slugPattern
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxRead)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "!"):
			d.note(".slugignore line %d: negated patterns are not supported; %q skipped", n, line)
			continue
		}
		p := slugPattern{dirOnly: strings.HasSuffix(line, "/"), anchored: strings.HasPrefix(line, "/")}
		line = strings.Trim(line, "/")
		if line == "" || line == "." || line == ".." {
			return nil, fmt.Errorf(".slugignore line %d: %q would remove the whole app", n, sc.Text())
		}
		p.anchored = p.anchored || strings.Contains(line, "/")
		p.segs = strings.Split(line, "/")
		for _, s := range p.segs {
			if _, err := path.Match(s, ""); err != nil || s == ".." {
				return nil, fmt.Errorf(".slugignore line %d: bad pattern %q", n, sc.Text())
			}
		}
		pats = append(pats, p)
	}
	return pats, nil
}

// match reports whether the pattern matches rel, a slash-separated path
// relative to the root.
func (p slugPattern) match(rel string, isDir bool) bool {
	if p.dirOnly && !isDir {
		return false
	}
	parts := strings.Split(rel, "/")
	if !p.anchored {
		ok, _ := path.Match(p.segs[0], parts[len(parts)-1])
		return ok
	}
	return matchSegments(p.segs, parts)
}

// matchSegments matches path segments against pattern segments, "**"
// standing for zero or more segments.
func matchSegments(pat, parts []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(parts); i++ {
				if matchSegments(pat[1:], parts[i:]) {
					return true
				}
			}
			return false
		}
		if len(parts) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], parts[0]); !ok {
			return false
		}
		pat, parts = pat[1:], parts[1:]
	}
	return len(parts) == 0
}

// slugIgnored returns the paths .slugignore removes, in tree order; a
// matched directory is listed once, not its contents. Nil without a
// .slugignore.
func (d *detector) slugIgnored() ([]string, error) {
	if !d.exists(".slugignore") {
		return nil, nil
	}
	b, err := d.read(".slugignore")
	if err != nil {
		return nil, err
	}
	pats, err := d.parseSlugignore(b)
	if err != nil || len(pats) == 0 {
		return nil, err
	}
	var out []string
	err = fs.WalkDir(d.fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		if strings.ContainsAny(p, "\n\r") {
			return nil // cannot be named on a Containerfile line; left in place
		}
		for _, pat := range pats {
			if pat.match(p, e.IsDir()) {
				out = append(out, p)
				if e.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf(".slugignore: %w", err)
	}
	return out, nil
}

// slugPrune writes the step that removes what .slugignore lists from the
// source tree, before the build as on Heroku, so the run image never holds it.
func (d *detector) slugPrune(w *cfWriter) error {
	paths, err := d.slugIgnored()
	if err != nil || len(paths) == 0 {
		return err
	}
	d.note(".slugignore removes %d %s before the build", len(paths), plural(len(paths), "path", "paths"))
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = shellQuote(p)
	}
	w.heading("Removing the paths .slugignore lists")
	w.line("RUN rm -rf -- %s", strings.Join(quoted, " "))
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
