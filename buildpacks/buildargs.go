package buildpacks

import (
	"bufio"
	"bytes"
	"slices"
	"strings"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

// argName is what a build argument's name may be.
var argName = lazyre.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// DeclaredArgs returns the names a Containerfile declares with ARG, in any
// stage or before the first FROM, sorted and without repeats. It follows the
// Containerfile syntax far enough not to be fooled: instructions are case
// insensitive, lines continue with the escape character (a leading
// "# escape=`" directive changes it), comments are skipped, one ARG may
// declare several names ("ARG A B=1"), and heredoc bodies are not read as
// instructions.
func DeclaredArgs(containerfile []byte) []string {
	var names []string
	for _, in := range instructions(containerfile) {
		if !strings.EqualFold(in.keyword, "ARG") {
			continue
		}
		for _, word := range splitWords(in.args) {
			name, _, _ := strings.Cut(word, "=")
			if argName().MatchString(name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// DeclareArgs declares names with ARG in the build stage (the first) of a
// generated Containerfile, right after the source tree is copied in: the
// dependency installation before it stays cached when a value changes, and
// the app's own build steps after it see them as environment variables.
// The run stage never declares them, so they reach neither the run image's
// config nor its layers. Names already declared there are left out. It
// reports false, and returns the file unchanged, when it finds no such
// place.
func DeclareArgs(generated []byte, names []string) ([]byte, bool) {
	lines := strings.SplitAfter(string(generated), "\n")
	stage, at := 0, -1
	var declared []string
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			stage++
		case "COPY":
			if stage == 1 && len(f) >= 3 && f[1] == "." {
				at = i
			}
		case "ARG":
			if stage == 1 {
				for _, word := range f[1:] {
					name, _, _ := strings.Cut(word, "=")
					declared = append(declared, name)
				}
			}
		}
		if stage > 1 {
			break
		}
	}
	if at < 0 {
		return generated, false
	}
	var add []string
	for _, n := range names {
		if argName().MatchString(n) && !slices.Contains(declared, n) && !slices.Contains(add, n) {
			add = append(add, n)
		}
	}
	if len(add) == 0 {
		return generated, true
	}
	slices.Sort(add)
	var b strings.Builder
	for i, line := range lines {
		b.WriteString(line)
		if i == at {
			if !strings.HasSuffix(line, "\n") {
				b.WriteByte('\n')
			}
			b.WriteString("# The app's config vars, for its build steps (not in the run image).\n")
			for _, n := range add {
				b.WriteString("ARG " + n + "\n")
			}
		}
	}
	return []byte(b.String()), true
}

// instruction is one Containerfile instruction, continuation lines joined;
// heading is the text of a heading comment right before it (see Steps).
type instruction struct{ keyword, args, heading string }

// instructions splits a Containerfile into its instructions.
func instructions(containerfile []byte) []instruction {
	escape := byte('\\')
	sc := bufio.NewScanner(bytes.NewReader(containerfile))
	sc.Buffer(make([]byte, 0, 64<<10), maxRead)
	var out []instruction
	var cur strings.Builder
	directives := true // parser directives come first, before anything else
	var heredocs []string
	var heading string // of the next instruction
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if len(heredocs) > 0 {
			if strings.TrimLeft(line, "\t") == heredocs[0] {
				heredocs = heredocs[1:]
			}
			continue
		}
		trimmed := strings.TrimSpace(line)
		if directives {
			if k, v, ok := parseDirective(trimmed); ok {
				if k == "escape" && (v == "`" || v == `\`) {
					escape = v[0]
				}
				continue
			}
			directives = false
		}
		if h, ok := strings.CutPrefix(trimmed, headingMarker); ok && cur.Len() == 0 {
			heading = strings.TrimSpace(h)
		}
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue // comments, also inside a continued instruction
		}
		if strings.HasSuffix(trimmed, string(escape)) {
			cur.WriteString(strings.TrimSuffix(trimmed, string(escape)))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(trimmed)
		full := strings.TrimSpace(cur.String())
		cur.Reset()
		if full == "" {
			continue
		}
		kw, args, _ := strings.Cut(full, " ")
		out = append(out, instruction{keyword: kw, args: strings.TrimSpace(args), heading: heading})
		heading = ""
		heredocs = heredocMarkers(args)
	}
	if full := strings.TrimSpace(cur.String()); full != "" {
		kw, args, _ := strings.Cut(full, " ")
		out = append(out, instruction{keyword: kw, args: strings.TrimSpace(args), heading: heading})
	}
	return out
}

// directiveRe matches a parser directive such as "# escape=`".
var directiveRe = lazyre.MustCompile(`^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$`)

func parseDirective(line string) (key, value string, ok bool) {
	m := directiveRe().FindStringSubmatch(line)
	if m == nil {
		return "", "", false
	}
	return strings.ToLower(m[1]), m[2], true
}

// heredocRe matches the start of a heredoc: <<EOF, <<-EOF, <<"EOF", <<'EOF'.
var heredocRe = lazyre.MustCompile(`<<-?(["']?)([A-Za-z_][A-Za-z0-9_]*)(["']?)`)

// heredocMarkers returns the end markers of an instruction's heredocs, in
// order.
func heredocMarkers(args string) []string {
	var out []string
	for _, m := range heredocRe().FindAllStringSubmatch(args, -1) {
		if m[1] == m[3] {
			out = append(out, m[2])
		}
	}
	return out
}

// splitWords splits ARG's arguments at unquoted white space.
func splitWords(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
			cur.WriteRune(r)
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			inWord = true
			cur.WriteRune(r)
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
