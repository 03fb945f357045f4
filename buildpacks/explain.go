package buildpacks

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

// The patterns that explain a failed build are compiled on the first one.
var (
	// npmIntegrity is npm's integrity failure: "npm error code EINTEGRITY"
	// (npm 7 and later; "npm ERR!" before 10).
	npmIntegrity = lazyre.MustCompile(`(?m)^npm (?:error|ERR!) code EINTEGRITY`)
	// npmWantedGot finds the hashes in "… wanted sha512-A but got sha512-B."
	// and in npm 6's "Wanted: sha512-A … Found: sha512-B".
	npmWantedGot = lazyre.MustCompile(`(?s)[Ww]anted:?\s+(sha\d+-[A-Za-z0-9+/=]+).*?(?:but got|Found:)\s+(sha\d+-[A-Za-z0-9+/=]+)`)
	// npmExtracting names the package in npm 6's message.
	npmExtracting = lazyre.MustCompile(`while extracting (\S+?):?\s`)
	// yarnIntegrity is Yarn 1's integrity failure.
	yarnIntegrity = lazyre.MustCompile(`Integrity check failed for "([^"]+)" \(computed integrity doesn't match our records, got "([^"]+)"\)`)
	// pnpmIntegrity is pnpm's integrity failure.
	pnpmIntegrity = lazyre.MustCompile(`ERR_PNPM_TARBALL_INTEGRITY\s+Got unexpected checksum for "([^"]+)"\. Wanted "([^"]+)"\. Got "([^"]+)"`)
)

// lockfileAdvice is what to do about a lockfile whose integrity hashes the
// registry's tarballs do not match.
const lockfileAdvice = "the lockfile was made against another registry or the package was republished; regenerate %s (delete it, run %s), commit it and push again"

// ExplainBuildFailure reads the output of a failed build and returns one line saying what went wrong and what to do,
// for the failures that the build's own output buries; "" for others. It
// knows a package manager's integrity check failing against the lockfile
// (npm's EINTEGRITY), and reads the lockfile in fsys to name the package.
func ExplainBuildFailure(output []byte, fsys fs.FS) string {
	log := string(output)
	if npmIntegrity().MatchString(log) {
		lock := "package-lock.json"
		if _, err := fs.Stat(fsys, "npm-shrinkwrap.json"); err == nil {
			lock = "npm-shrinkwrap.json"
		}
		what, hashes := "a package's tarball", ""
		if m := npmWantedGot().FindStringSubmatch(log); m != nil {
			hashes = fmt.Sprintf(" (wanted %s, got %s)", m[1], m[2])
			if pkg := lockedPackage(fsys, lock, m[1]); pkg != "" {
				what = "the tarball of " + pkg
			}
		}
		if what == "a package's tarball" {
			if m := npmExtracting().FindStringSubmatch(log); m != nil {
				what = "the tarball of " + m[1]
			}
		}
		return fmt.Sprintf("npm: %s does not match the integrity %s records for it%s: "+lockfileAdvice, what, lock, hashes, lock, "npm install")
	}
	if m := yarnIntegrity().FindStringSubmatch(log); m != nil {
		return fmt.Sprintf("yarn: the tarball of %s does not match the integrity yarn.lock records for it (got %s): "+lockfileAdvice, m[1], m[2], "yarn.lock", "yarn install")
	}
	if m := pnpmIntegrity().FindStringSubmatch(log); m != nil {
		return fmt.Sprintf("pnpm: the tarball %s does not match the integrity pnpm-lock.yaml records for it (wanted %s, got %s): "+lockfileAdvice, m[1], m[2], m[3], "pnpm-lock.yaml", "pnpm install")
	}
	return ""
}

// lockedPackage returns "name@version" of the package whose integrity is
// want in an npm lockfile (v1's nested dependencies or v2 and v3's
// packages), or "".
func lockedPackage(fsys fs.FS, lockfile, want string) string {
	b, err := fs.ReadFile(fsys, lockfile)
	if err != nil || len(b) > maxRead {
		return ""
	}
	type pkg struct {
		Version   string `json:"version"`
		Integrity string `json:"integrity"`
	}
	// v1's dependencies nest; v2 and v3 packages' dependencies are ranges.
	type entry struct {
		pkg
		Dependencies map[string]entry `json:"dependencies"`
	}
	var lock struct {
		Packages     map[string]pkg   `json:"packages"`
		Dependencies map[string]entry `json:"dependencies"`
	}
	if json.Unmarshal(b, &lock) != nil {
		return ""
	}
	for _, key := range sortedKeys(lock.Packages) {
		if e := lock.Packages[key]; e.Integrity == want {
			name := key[strings.LastIndex(key, "node_modules/")+len("node_modules/"):]
			return name + "@" + e.Version
		}
	}
	var walk func(deps map[string]entry) string
	walk = func(deps map[string]entry) string {
		for _, name := range sortedKeys(deps) {
			if e := deps[name]; e.Integrity == want {
				return name + "@" + e.Version
			} else if found := walk(e.Dependencies); found != "" {
				return found
			}
		}
		return ""
	}
	return walk(lock.Dependencies)
}
