package admin

// CommandInfo is what a client of the SSH door needs to know of one admin
// command: the xcloud client fills in the app name for commands with App
// set, and completes command names from the list.
type CommandInfo struct {
	Name  string
	Usage string
	Help  string
	// App: the first positional argument is an app name.
	App bool
	// Raw: the arguments after the app are a command line, passed on
	// verbatim (run).
	Raw bool
}

// Catalog lists the admin commands in help's order. It is read from the
// same table RunCommand dispatches on, so the two cannot disagree.
func Catalog() []CommandInfo {
	cmds := commands()
	out := make([]CommandInfo, 0, len(cmds))
	for _, c := range cmds {
		out = append(out, CommandInfo{Name: c.name, Usage: c.usage, Help: c.help, App: c.app, Raw: c.raw})
	}
	return out
}
