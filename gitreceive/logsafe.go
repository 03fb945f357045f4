package gitreceive

import (
	"regexp"
	"strings"
)

// What the log may show of a command line's words. The lengths are checked
// apart from the patterns: Go expands a counted repetition such as {0,127}
// into as many copies, some 50 KB held for the life of the process.
var (
	commandNameRE = regexp.MustCompile(`^[a-z][a-z0-9:._-]*$`)
	varNameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	flagRE        = regexp.MustCompile(`^--?[a-z][a-z0-9-]*$`)
)

// logsafeCommand is `^[a-z][a-z0-9:._-]{0,63}$`.
func logsafeCommand(s string) bool { return len(s) <= 64 && commandNameRE.MatchString(s) }

// logsafeVar is `^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`.
func logsafeVar(s string) bool { return len(s) <= 128 && varNameRE.MatchString(s) }

// logsafeFlag is `^--?[a-z][a-z0-9-]{0,31}$`.
func logsafeFlag(s string) bool {
	return len(strings.TrimLeft(s, "-")) <= 32 && flagRE.MatchString(s)
}

// commandAttrs says what the log may record of a command line: its name,
// the app (the first non-flag argument, when it is a valid app name), bare
// flags, the names of KEY=VALUE arguments, and how many other arguments
// there were. Values and free-form arguments are never logged: they hold
// config values, tokens and commands for `run`, and the log is kept.
func commandAttrs(words []string, cmd Command) []any {
	switch {
	case len(words) == 0:
		return nil
	case cmd.Kind == Receive || cmd.Kind == Upload:
		return []any{"command", "git-" + cmd.Kind.String(), "app", cmd.App}
	}
	name := words[0]
	if !logsafeCommand(name) {
		name = "?"
	}
	attrs := []any{"command", name}
	var (
		app         string
		flags, vars []string
		others      int
	)
	for i, a := range words[1:] {
		if logsafeFlag(a) {
			flags = append(flags, a)
			continue
		}
		if app == "" && i == len(flags) && ValidAppName(a) {
			app = a
			continue
		}
		if k, _, ok := strings.Cut(a, "="); ok && logsafeVar(k) {
			vars = append(vars, k)
			continue
		}
		others++
	}
	if app != "" {
		attrs = append(attrs, "app", app)
	}
	if len(flags) > 0 {
		attrs = append(attrs, "flags", strings.Join(flags, " "))
	}
	if len(vars) > 0 {
		attrs = append(attrs, "vars", strings.Join(vars, " "))
	}
	if others > 0 {
		attrs = append(attrs, "other_args", others)
	}
	return attrs
}
