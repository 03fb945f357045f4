package admin

import (
	"strings"
	"testing"
)

// TestCatalogAppCommands: a command marked as taking an app names it first
// in its usage (APP, or OLD for apps:rename), and no other command does, as
// the xcloud client puts the app name in that place.
func TestCatalogAppCommands(t *testing.T) {
	cat := Catalog()
	if len(cat) != len(commands()) {
		t.Fatalf("Catalog has %d commands, the table %d", len(cat), len(commands()))
	}
	for _, c := range cat {
		f := strings.Fields(c.Usage)
		if len(f) == 0 || f[0] != c.Name {
			t.Errorf("%s: usage %q does not start with the name", c.Name, c.Usage)
			continue
		}
		first := ""
		if len(f) > 1 {
			first = f[1]
		}
		namesApp := first == "APP" || first == "OLD"
		if c.App != namesApp {
			t.Errorf("%s: takes an app = %v, but its usage %q starts with %q", c.Name, c.App, c.Usage, first)
		}
		if c.Raw && !c.App {
			t.Errorf("%s: raw without an app", c.Name)
		}
	}
}
