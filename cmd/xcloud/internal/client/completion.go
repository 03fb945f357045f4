package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// completion prints a completion script, or with "apps" the app names the
// daemon lists for this key (what the scripts complete --app with).
func (c *Client) completion(ctx context.Context, f flags, rest []string) error {
	if len(rest) != 1 {
		return fmt.Errorf("completion: want one of bash, zsh, fish (usage: xcloud completion bash|zsh|fish)")
	}
	switch rest[0] {
	case "bash":
		return c.bashCompletion(c.stdout)
	case "zsh":
		return c.zshCompletion(c.stdout)
	case "fish":
		return c.fishCompletion(c.stdout)
	case "apps":
		return c.appNames(ctx, f)
	}
	return fmt.Errorf("completion: unknown shell %q; want bash, zsh or fish", rest[0])
}

func (c *Client) appNames(ctx context.Context, f flags) error {
	t, _, err := c.resolve(ctx, f, false)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := c.ssh(ctx, t, []string{"apps:list", "--json"}, false, nil, &out); err != nil {
		return err
	}
	var apps []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(out.Bytes(), &apps); err != nil {
		return fmt.Errorf("completion apps: the daemon's apps:list: %w", err)
	}
	for _, a := range apps {
		fmt.Fprintln(c.stdout, a.Name)
	}
	return nil
}

// helps maps each command name to its one-line help.
func (c *Client) helps() map[string]string {
	m := map[string]string{}
	for _, list := range [][]Command{c.binary, localCommands, c.commands} {
		for _, cmd := range list {
			if _, ok := m[cmd.Name]; !ok {
				m[cmd.Name] = cmd.Help
			}
		}
	}
	return m
}

func (c *Client) bashCompletion(w io.Writer) error {
	_, err := fmt.Fprintf(w, `# bash completion for xcloud: source <(xcloud completion bash)
_xcloud() {
    local line="${COMP_LINE:0:COMP_POINT}"
    local cur="${line##*[[:space:]]}"
    local -a words
    read -r -a words <<< "$line"
    local n=${#words[@]}
    [[ -z "$cur" ]] && n=$((n + 1))
    local prev="" cmd="" i
    (( n >= 2 )) && prev="${words[n-2]}"
    for (( i = 1; i < n - 1; i++ )); do
        case "${words[i]}" in
            --app|-a|--remote|--host|--template) (( i++ )) ;;
            -*) ;;
            *) cmd="${words[i]}"; break ;;
        esac
    done
    local candidates=""
    case "$prev" in
        --app|-a) candidates="$(xcloud completion apps 2>/dev/null)" ;;
        --remote) candidates="$(git remote 2>/dev/null)" ;;
        --template) candidates=%q ;;
        --host) ;;
        *)
            case "$cmd" in
                "") candidates=%q ;;
                completion) candidates="bash zsh fish" ;;
                init) candidates="--template --remote --list" ;;
                *) COMPREPLY=(); return 0 ;;
            esac ;;
    esac
    COMPREPLY=()
    local c strip="${cur%%"${cur##*:}"}"
    for c in $(compgen -W "$candidates" -- "$cur"); do
        COMPREPLY+=("${c#"$strip"}")
    done
}
complete -o default -F _xcloud xcloud
`, strings.Join(c.templates, " "), strings.Join(append(c.names(), "--app", "--remote", "--host"), " "))
	return err
}

func (c *Client) zshCompletion(w io.Writer) error {
	var b strings.Builder
	help := c.helps()
	for _, n := range c.names() {
		fmt.Fprintf(&b, "    %s\n", shellSingle(strings.ReplaceAll(n, ":", `\:`)+":"+help[n]))
	}
	_, err := fmt.Fprintf(w, `#compdef xcloud
# zsh completion for xcloud: xcloud completion zsh > "${fpath[1]}/_xcloud"
_xcloud() {
  local -a cmds
  cmds=(
%s  )
  local prev="${words[CURRENT-1]}" cmd="" i
  for (( i = 2; i < CURRENT; i++ )); do
    case "${words[i]}" in
      --app|-a|--remote|--host|--template) (( i++ )) ;;
      -*) ;;
      *) cmd="${words[i]}"; break ;;
    esac
  done
  case "$prev" in
    --app|-a) compadd -- ${(f)"$(xcloud completion apps 2>/dev/null)"}; return ;;
    --remote) compadd -- ${(f)"$(git remote 2>/dev/null)"}; return ;;
    --template) compadd -- %s; return ;;
    --host) return ;;
  esac
  case "$cmd" in
    "") _describe -t commands 'xcloud command' cmds; compadd -- --app --remote --host ;;
    completion) compadd -- bash zsh fish ;;
    init) compadd -- --template --remote --list; _files ;;
    *) _files ;;
  esac
}
compdef _xcloud xcloud
`, b.String(), strings.Join(c.templates, " "))
	return err
}

func (c *Client) fishCompletion(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# fish completion for xcloud: xcloud completion fish > ~/.config/fish/completions/xcloud.fish\n")
	b.WriteString("complete -c xcloud -l app -s a -x -a '(xcloud completion apps 2>/dev/null)' -d 'the app (default: the git remote\\'s)'\n")
	b.WriteString("complete -c xcloud -l remote -x -a '(git remote 2>/dev/null)' -d 'the git remote of the daemon'\n")
	b.WriteString("complete -c xcloud -l host -x -d 'the daemon, HOST[:PORT]'\n")
	help := c.helps()
	for _, n := range c.names() {
		fmt.Fprintf(&b, "complete -c xcloud -f -n __fish_use_subcommand -a %s -d %s\n", shellSingle(n), shellSingle(help[n]))
	}
	b.WriteString("complete -c xcloud -f -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n")
	fmt.Fprintf(&b, "complete -c xcloud -n '__fish_seen_subcommand_from init' -l template -x -a %s\n", shellSingle(strings.Join(c.templates, " ")))
	b.WriteString("complete -c xcloud -n '__fish_seen_subcommand_from init' -l list -d 'list the templates'\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// shellSingle quotes s in single quotes for sh, zsh and fish alike: fish
// takes \' inside single quotes, the others end and restart the quote, so
// quotes are dropped instead (help texts need none).
func shellSingle(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, "'", ""), `\`, "") + "'"
}
