package admin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	perm "github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/store"
)

// maxTokenTTL bounds --expires: a token for longer than that should be
// rotated, not forgotten.
const maxTokenTTL = 10 * 365 * 24 * time.Hour

// tokenSetup is what the tokens:* commands need besides the engine.
type tokenSetup struct {
	tokens *perm.Tokens // nil: the API is not set up
	apiURL string
}

// WithTokens gives the tokens:* commands the API's tokens and the API's
// base URL (for the usage line tokens:create prints). Without it they say
// the API is not set up.
func (a *Admin) WithTokens(t *perm.Tokens, apiURL string) *Admin {
	a.tokens, a.apiURL = t, strings.TrimSuffix(apiURL, "/")
	return a
}

// tokenCommands are the HTTP API's token commands, for admin keys only.
func tokenCommands() []command {
	return []command{
		{name: "tokens:create", usage: "tokens:create NAME --scope read|deploy|admin [--app APP...] [--expires 30d]", help: "make an HTTP API token (shown once); --app limits a read or deploy token to those apps", admin: true, opts: []string{"--scope", "--app", "--expires"}, access: accessAdmin, run: (*Admin).cmdTokensCreate},
		{name: "tokens", usage: "tokens [--json]", help: "list HTTP API tokens (never their secrets)", admin: true, access: accessAdmin, run: (*Admin).cmdTokens},
		{name: "tokens:revoke", usage: "tokens:revoke NAME", help: "revoke an HTTP API token at once", admin: true, access: accessAdmin, run: (*Admin).cmdTokensRevoke},
	}
}

var errNoTokens = badf("the HTTP API is not set up on this daemon")

// parseTTL reads --expires: a number of days (30d), hours (12h) or
// minutes (90m).
func parseTTL(s string) (time.Duration, error) {
	bad := badf("--expires %s: want a number of days, hours or minutes, like 30d, 12h or 90m", s)
	if len(s) < 2 {
		return 0, bad
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 1 {
		return 0, bad
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute}[s[len(s)-1]]
	if unit == 0 {
		return 0, bad
	}
	if time.Duration(n) > maxTokenTTL/unit {
		return 0, badf("--expires %s: at most 3650d", s)
	}
	return time.Duration(n) * unit, nil
}

func (a *Admin) cmdTokensCreate(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	if a.tokens == nil {
		return errNoTokens
	}
	name := c.args[0]
	if err := perm.ValidTokenName(name); err != nil {
		return inputError{err.Error()}
	}
	scopes := c.opts["--scope"]
	if len(scopes) != 1 {
		return usageError{"give --scope once: read, deploy or admin"}
	}
	scope, err := perm.ParseScope(scopes[0])
	if err != nil {
		return inputError{"--scope: " + err.Error()}
	}
	apps := c.opts["--app"]
	if scope == perm.Admin && len(apps) > 0 {
		return usageError{"--app limits a read or deploy token; an admin token reaches every app"}
	}
	for _, app := range apps {
		if err := store.ValidateAppName(app); err != nil {
			return err
		}
		if _, err := a.eng.App(ctx, app); errors.Is(err, store.ErrNotFound) {
			return badf("app %q does not exist", app)
		} else if err != nil {
			return err
		}
	}
	var ttl time.Duration
	if vs := c.opts["--expires"]; len(vs) > 0 {
		if ttl, err = parseTTL(vs[len(vs)-1]); err != nil {
			return err
		}
	}
	secret, tok, err := a.tokens.Create(ctx, perm.NewToken{Name: name, Scope: scope, Apps: apps, TTL: ttl})
	if errors.Is(err, store.ErrExists) {
		return badf("a token named %q already exists; revoke it or choose another name", name)
	}
	if err != nil {
		return err
	}
	a.log.Info("token created", "token", name, "scope", scope, "apps", apps, "by", c.id.Name)
	fmt.Fprintf(c.out, "Created token %s: %s.\n", name, tokenAccessText(tok))
	fmt.Fprintf(c.out, "Copy it now; it is not stored and cannot be shown again:\n\n  %s\n\n", secret)
	fmt.Fprintf(c.out, "Use it: curl -H \"Authorization: Bearer %s\" %s/api/v1/apps\n", secret, a.apiURL)
	return nil
}

// tokenAccessText says what a token may do, for people.
func tokenAccessText(t store.Token) string {
	s := t.Scope
	if len(t.Apps) > 0 {
		s += " on " + strings.Join(t.Apps, ", ")
	} else if t.Scope != string(perm.Admin) {
		s += " on every app"
	}
	if t.ExpiresAt.IsZero() {
		return s + ", never expires"
	}
	return s + ", expires " + t.ExpiresAt.UTC().Format(time.RFC3339)
}

func (a *Admin) cmdTokens(ctx context.Context, c *call) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	if a.tokens == nil {
		return errNoTokens
	}
	list, err := a.tokens.List(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, list)
	}
	stamp := func(t time.Time, none string) string {
		if t.IsZero() {
			return none
		}
		return t.UTC().Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCOPE\tAPPS\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
	now := time.Now()
	for _, t := range list {
		apps := strings.Join(t.Apps, ",")
		if apps == "" {
			apps = "*"
		}
		status := "active"
		switch {
		case !t.RevokedAt.IsZero():
			status = "revoked " + stamp(t.RevokedAt, "")
		case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
			status = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Scope, apps, stamp(t.CreatedAt, "-"), stamp(t.ExpiresAt, "never"), stamp(t.LastUsedAt, "never"), status)
	}
	return tw.Flush()
}

func (a *Admin) cmdTokensRevoke(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	if a.tokens == nil {
		return errNoTokens
	}
	name := c.args[0]
	if err := a.tokens.Revoke(ctx, name); errors.Is(err, store.ErrNotFound) {
		return badf("no active token named %q", name)
	} else if err != nil {
		return err
	}
	a.log.Info("token revoked", "token", name, "by", c.id.Name)
	fmt.Fprintf(c.out, "Revoked token %s; it is refused from now on.\n", name)
	return nil
}
