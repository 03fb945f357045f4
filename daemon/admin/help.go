package admin

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/xcloud-dev/xcloud/gitreceive"
)

// helpWidth is the width help's lines stay under: 80-column terminals
// wrap longer ones, 100 is the hard limit.
const helpWidth = 99

// helpColumn is where descriptions start; a longer usage puts its
// description on the next line.
const helpColumn = 38

// groupOrder is the order of help's headings; a group not listed here
// (a new one) comes after these, in the table's order.
var groupOrder = []string{"Apps", "Deploys", "Processes", "Config", "Domains and TLS", "Storage", "Keys", "Tokens", "Cron", "Logs and events", "Help"}

// groupOf is the heading c is listed under.
func (c *command) groupOf() string {
	if c.group != "" {
		return c.group
	}
	prefix, _, _ := strings.Cut(c.name, ":")
	r := []rune(prefix)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// help runs `help [COMMAND]`.
func (a *Admin) help(stdio gitreceive.Stdio, id gitreceive.Identity, args []string) int {
	cmds := commands()
	for _, arg := range args {
		if arg == "--json" {
			fmt.Fprintf(stdio.Err, "error: help has no --json output (usage: help [COMMAND])\n")
			return 1
		}
	}
	switch len(args) {
	case 0:
		a.printHelp(stdio.Out, id, cmds)
		return 0
	case 1:
		for i := range cmds {
			if cmds[i].name == args[0] {
				a.printCommandHelp(stdio.Out, &cmds[i])
				return 0
			}
		}
		if near := suggest(args[0], cmds); near != "" {
			fmt.Fprintf(stdio.Err, "error: help: unknown command %q; did you mean %s?\n", args[0], near)
		} else {
			fmt.Fprintf(stdio.Err, "error: help: unknown command %q; run help for the list\n", args[0])
		}
		return 1
	}
	fmt.Fprintf(stdio.Err, "error: help: want at most one COMMAND (usage: help [COMMAND])\n")
	return 1
}

// printHelp lists the commands id may run, by group.
func (a *Admin) printHelp(w io.Writer, id gitreceive.Identity, cmds []command) {
	ssh := a.eng.SSHCommand()
	fmt.Fprintf(w, "Usage: %s COMMAND [ARGS]\n", ssh)
	fmt.Fprintf(w, "help COMMAND (or COMMAND --help) shows one command with an example.\n")
	groups := slices.Clone(groupOrder)
	byGroup := map[string][]*command{}
	for i := range cmds {
		c := &cmds[i]
		if c.accessFor(nil) == accessAdmin && !principal(id).Allows(accessAdmin, "") {
			continue
		}
		g := c.groupOf()
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], c)
	}
	for _, g := range groups {
		if len(byGroup[g]) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", g)
		for _, c := range byGroup[g] {
			writeEntry(w, c.usage, c.help)
		}
	}
	fmt.Fprintf(w, "\n--json prints one JSON document (logs and events -f --json: one JSON object a line).\n")
	fmt.Fprintf(w, "Quote for the daemon too: %s \"config:set APP 'MSG=a b c'\"\n", ssh)
	fmt.Fprintf(w, "Deploy: git push %s main\n", a.eng.GitRemote("APP"))
}

// writeEntry writes "  usage  description", the description wrapped at
// helpWidth and its lines aligned at helpColumn.
func writeEntry(w io.Writer, usage, help string) {
	line := "  " + usage
	if len(line)+2 > helpColumn {
		fmt.Fprintln(w, line)
		line = ""
	}
	pad := func() string { return line + strings.Repeat(" ", helpColumn-len(line)) }
	for _, l := range wrap(help, helpWidth-helpColumn) {
		fmt.Fprintln(w, pad()+l)
		line = ""
	}
}

// wrap breaks s into lines of at most width bytes at spaces (a longer word
// gets a line of its own).
func wrap(s string, width int) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		switch {
		case cur == "":
			cur = word
		case len(cur)+1+len(word) <= width:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	return append(lines, cur)
}

// printCommandHelp shows one command: usage, what it does, an example.
func (a *Admin) printCommandHelp(w io.Writer, c *command) {
	ssh := a.eng.SSHCommand()
	fmt.Fprintf(w, "Usage: %s %s\n", ssh, c.usage)
	for _, l := range wrap(c.help, helpWidth-2) {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if c.takesJSON() {
		fmt.Fprintf(w, "  --json prints one JSON document instead of the table.\n")
	}
	ex := c.example
	if ex == "" {
		ex = c.usage
	}
	fmt.Fprintf(w, "Example: %s %s\n", ssh, ex)
}

// suggest returns the command name closest to a mistyped one, or "" when
// none is close: a typo or two away (more for longer names), or a name
// that starts with it ("apps" for apps:list).
func suggest(name string, cmds []command) string {
	best, bestDist := "", 0
	for _, c := range cmds {
		d := editDistance(name, c.name)
		switch {
		case c.name == name+":list":
			d = 0 // "apps" lists, as on Heroku
		case strings.HasPrefix(c.name, name+":"):
			d = 1
		}
		if best == "" || d < bestDist {
			best, bestDist = c.name, d
		}
	}
	if bestDist > max(2, len(name)/4) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
