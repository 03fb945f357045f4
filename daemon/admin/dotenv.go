package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/xcloud-dev/xcloud/daemon"
)

// The config:import and config:export commands move config vars between
// a .env file and the daemon.
var (
	configImportCommand = command{name: "config:import", group: "Config", usage: "config:import APP [--no-restart] < .env",
		help:    "set config vars from a .env file on stdin (quotes, comments, export prefixes; no ${} expansion), in one release",
		example: "config:import hello < .env", app: true, access: accessWrite, flags: []string{"--no-restart"}, run: (*Admin).cmdConfigImport}
	configExportCommand = command{name: "config:export", group: "Config", usage: "config:export APP",
		help:    "print the app's config vars as a .env file, which config:import reads back",
		example: "config:export hello > .env", app: true, access: accessRead, run: (*Admin).cmdConfigExport}
)

// maxDotenv bounds what config:import reads from stdin.
const maxDotenv = 1 << 20

func (a *Admin) cmdConfigImport(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(c.in, maxDotenv+1))
	if err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	if len(b) > maxDotenv {
		return badf("the input is larger than %d bytes", maxDotenv)
	}
	vars, err := parseDotenv(b)
	if err != nil {
		var pe *dotenvError
		if errors.As(err, &pe) {
			return badf("%v", pe)
		}
		return err
	}
	if len(vars) == 0 {
		return badf("no KEY=VALUE lines on stdin (usage: config:import APP < .env)")
	}
	set := map[string]string{}
	for _, v := range vars {
		if err := daemon.CheckVarName(v.key); err != nil {
			var de *daemon.Error
			if errors.As(err, &de) {
				return badf("line %d: %s", v.line, de.Msg)
			}
			return err
		}
		set[v.key] = v.value
	}
	return a.eng.SetConfig(ctx, daemon.SetConfigRequest{App: c.args[0], Set: set, NoRestart: c.flags["--no-restart"]}, c.out)
}

func (a *Admin) cmdConfigExport(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	vars, err := a.eng.Config(ctx, c.args[0])
	if err != nil {
		return err
	}
	_, err = io.WriteString(c.out, formatDotenv(vars))
	return err
}

// dotenvVar is one assignment of a .env file.
type dotenvVar struct {
	key, value string
	line       int // where it starts, from 1
}

// dotenvError is a .env file's mistake, naming its line.
type dotenvError struct {
	line int
	msg  string
}

func (e *dotenvError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// parseDotenv reads a .env file as docker compose and the dotenv libraries
// write them: KEY=VALUE lines, blank lines and # comments, an optional
// "export " prefix; a value is unquoted (ending at a " #" comment, trimmed),
// 'single-quoted' (literal), or "double-quoted" (\n, \r, \t, \", \\ and \$
// escapes); quoted values may span lines. Nothing is expanded: ${VAR} stays
// as written, since the daemon's vars are not the shell's. A later
// assignment of a key wins.
func parseDotenv(b []byte) ([]dotenvVar, error) {
	s := strings.ReplaceAll(string(bytes.TrimPrefix(b, []byte("\ufeff"))), "\r\n", "\n")
	var out []dotenvVar
	line := 1
	for len(s) > 0 {
		start := line
		// One logical line: up to a newline outside quotes.
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		if s[0] == '\n' {
			s, line = s[1:], line+1
			continue
		}
		if s[0] == '#' {
			s, line = skipLine(s, line)
			continue
		}
		if rest, ok := strings.CutPrefix(s, "export"); ok && len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			s = strings.TrimLeft(rest, " \t")
		}
		end := 0
		for end < len(s) && isNameByte(s[end], end == 0) {
			end++
		}
		key := s[:end]
		afterKey := strings.TrimLeft(s[end:], " \t")
		if end == 0 || afterKey == "" || afterKey[0] != '=' {
			if end > 0 && (end == len(s) || strings.IndexByte(" \t\n", s[end]) >= 0) {
				return nil, &dotenvError{start, fmt.Sprintf("%s has no = after it (want KEY=VALUE)", key)}
			}
			word := s
			if i := strings.IndexAny(word, " \t\n"); i >= 0 {
				word = word[:i]
			}
			if i := strings.IndexByte(word, '='); i > 0 {
				word = word[:i]
			}
			return nil, &dotenvError{start, fmt.Sprintf("%q is not a config var name: letters, digits and _, not starting with a digit", word)}
		}
		afterEq := afterKey[1:]
		s = strings.TrimLeft(afterEq, " \t")
		if s == "" || s[0] != '\'' && s[0] != '"' {
			// Unquoted: to the end of the line or a " #" comment, trimmed.
			raw, rest, _ := strings.Cut(afterEq, "\n")
			if i := commentStart(raw); i >= 0 {
				raw = raw[:i]
			}
			out = append(out, dotenvVar{key: key, value: strings.Trim(raw, " \t"), line: start})
			s, line = rest, line+1
			continue
		}
		var value, rest string
		if s[0] == '\'' {
			i := strings.IndexByte(s[1:], '\'')
			if i < 0 {
				return nil, &dotenvError{start, fmt.Sprintf("the ' opening %s's value is not closed", key)}
			}
			value, rest = s[1:1+i], s[2+i:]
		} else {
			var err error
			if value, rest, err = doubleQuoted(s[1:]); err != nil {
				return nil, &dotenvError{start, fmt.Sprintf("the \" opening %s's value is not closed", key)}
			}
		}
		line += strings.Count(s[:len(s)-len(rest)], "\n")
		s = rest
		// After a quoted value: only blanks and a comment.
		if tail, _, _ := strings.Cut(s, "\n"); strings.TrimSpace(tail) != "" && !strings.HasPrefix(strings.TrimSpace(tail), "#") {
			return nil, &dotenvError{line, fmt.Sprintf("text after the closing quote of %s's value: %q", key, strings.TrimSpace(tail))}
		}
		out = append(out, dotenvVar{key: key, value: value, line: start})
		s, line = skipLine(s, line)
	}
	// A later assignment wins, at its own place.
	seen := map[string]bool{}
	var dedup []dotenvVar
	for i := len(out) - 1; i >= 0; i-- {
		if !seen[out[i].key] {
			seen[out[i].key] = true
			dedup = append(dedup, out[i])
		}
	}
	slices.Reverse(dedup)
	return dedup, nil
}

// skipLine drops the rest of the line and its newline.
func skipLine(s string, line int) (string, int) {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[i+1:], line + 1
	}
	return "", line
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (!first && c >= '0' && c <= '9')
}

// commentStart is where a " #" comment starts in an unquoted value (the
// text after "="), or -1: a # right after "=" or inside a word is data.
func commentStart(v string) int {
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
			return i
		}
	}
	return -1
}

// doubleQuoted reads a double-quoted value after its opening quote; it
// returns the value and what follows the closing quote.
func doubleQuoted(s string) (string, string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", "", errors.New("unterminated")
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '"', '\\', '$', '`', '\'':
				b.WriteByte(s[i])
			default:
				b.WriteByte('\\')
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated")
}

// formatDotenv writes vars as a .env file, sorted by name: plain values
// bare, others double-quoted with escapes, so parseDotenv reads back the
// same values.
func formatDotenv(vars map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		v := vars[k]
		b.WriteString(k)
		b.WriteByte('=')
		if v != "" && strings.IndexFunc(v, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./:@%+,=-", r))
		}) < 0 {
			b.WriteString(v)
		} else {
			b.WriteByte('"')
			for i := 0; i < len(v); i++ {
				switch c := v[i]; c {
				case '\n':
					b.WriteString(`\n`)
				case '\r':
					b.WriteString(`\r`)
				case '\t':
					b.WriteString(`\t`)
				case '"', '\\', '$', '`':
					b.WriteByte('\\')
					b.WriteByte(c)
				default:
					b.WriteByte(c)
				}
			}
			b.WriteByte('"')
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// ParseDotenv reads a .env file as config:import does (see parseDotenv),
// for the xcloud client's dev mode; errors name the line.
func ParseDotenv(b []byte) (map[string]string, error) {
	vars, err := parseDotenv(b)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(vars))
	for _, v := range vars {
		out[v.key] = v.value
	}
	return out, nil
}
