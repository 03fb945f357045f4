package notify

import (
	"fmt"
	"strings"

	"github.com/xcloud-dev/xcloud/store"
)

// releaseOf returns "vN" for events that carry a release version.
func releaseOf(e store.Event) string {
	if !strings.HasPrefix(e.Type, "deploy:") {
		return ""
	}
	switch v := e.Data["version"].(type) {
	case int:
		return fmt.Sprintf("v%d", v)
	case int64:
		return fmt.Sprintf("v%d", v)
	case float64: // read back from the database's JSON
		return fmt.Sprintf("v%d", int64(v))
	}
	return ""
}

// appURL is where the event's app is served, or "" when it has none.
func appURL(urlOf func(string) string, e store.Event) string {
	if urlOf == nil || e.App == "" || e.Type == store.EventAppDestroyed {
		return ""
	}
	return urlOf(e.App)
}

// subject is the one-line summary: "deploy:failed myapp".
func subject(e store.Event) string {
	if e.App == "" {
		return e.Type
	}
	return e.Type + " " + e.App
}
