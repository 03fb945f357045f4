// Package backup is the format of a whole node's backup: a tar stream
// compressed with zstd whose first entry identifies it (HeaderName), whose
// last entry lists every other entry's size and SHA-256 (ManifestName), and
// whose entries in between are the database snapshot, the apps'
// repositories, static files, volumes and, when asked for, the config-var
// key. It knows nothing of the daemon: the engine writes an archive with a
// Writer and `xcloud restore` reads one with Extract.
package backup

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Format is the archive layout this package writes and reads.
const Format = 1

// Entry names with a fixed meaning.
const (
	HeaderName   = "xcloud-backup.json" // first entry: Header
	ManifestName = "manifest.json"      // last entry: Manifest
	DatabaseName = "db/xcloud.db"       // the SQLite snapshot
	KeyName      = "secret.key"         // the config-var key, with --with-key
	HostKeyName  = "ssh_host_key"       // the SSH host key, with --with-key
	ReposDir     = "repos"              // repos/<app>.git/...
	StaticDir    = "static"             // static/<app>/<release dir>/...
	VolumesDir   = "volumes"            // volumes/<name>.tar: the volume's files as a tar
)

// Header identifies an archive; it is the first entry, so a reader can
// refuse a file that is not one, or one from a newer xcloud, before reading
// the rest.
type Header struct {
	Format    int       `json:"format"`
	Version   string    `json:"xcloud_version"` // the daemon that wrote it
	Schema    int       `json:"schema_version"` // the database's schema version
	CreatedAt time.Time `json:"created_at"`
}

// Manifest is the archive's last entry: what it holds, with checksums.
type Manifest struct {
	Header
	WithKey bool     `json:"with_key"`
	Apps    []string `json:"apps"`
	Volumes []Volume `json:"volumes"`
	Files   []File   `json:"files"`
}

// Volume is a Podman named volume in the archive, as volumes/<Name>.tar.
type Volume struct {
	// Name is the volume's name without the instance prefix (what
	// storage:mount names it); Podman's name is derived from it again on
	// restore, for the installation restored to.
	Name   string            `json:"name"`
	Podman string            `json:"podman_name"` // its Podman name when archived
	Labels map[string]string `json:"labels,omitempty"`
}

// File is one regular file in the archive.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Mode   uint32 `json:"mode"` // permission bits
}

// VolumeFile is the entry holding a volume's files.
func VolumeFile(name string) string { return VolumesDir + "/" + name + ".tar" }

var (
	volumeName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	appName    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	hexSHA256  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ParseManifest reads and checks a manifest: every path is one an archive
// may hold, every checksum well formed, nothing listed twice, and every
// volume has its file. It does not compare the files with the entries; see
// Extract.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if m.Format != Format {
		return Manifest{}, fmt.Errorf("%w: manifest of format %d", ErrCorrupt, m.Format)
	}
	seen := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		if err := CheckPath(f.Path); err != nil {
			return Manifest{}, err
		}
		if f.Path == HeaderName || f.Path == ManifestName {
			return Manifest{}, fmt.Errorf("%w: manifest lists %s", ErrCorrupt, f.Path)
		}
		if seen[f.Path] {
			return Manifest{}, fmt.Errorf("%w: %s listed twice", ErrCorrupt, f.Path)
		}
		seen[f.Path] = true
		if f.Size < 0 || !hexSHA256.MatchString(f.SHA256) || f.Mode > 0o777 {
			return Manifest{}, fmt.Errorf("%w: bad size, mode or checksum for %s", ErrCorrupt, f.Path)
		}
	}
	for _, a := range m.Apps {
		if !appName.MatchString(a) {
			return Manifest{}, fmt.Errorf("%w: bad app name %q", ErrCorrupt, a)
		}
	}
	names := map[string]bool{}
	for _, v := range m.Volumes {
		if !volumeName.MatchString(v.Name) || names[v.Name] {
			return Manifest{}, fmt.Errorf("%w: bad or repeated volume name %q", ErrCorrupt, v.Name)
		}
		names[v.Name] = true
		if !seen[VolumeFile(v.Name)] {
			return Manifest{}, fmt.Errorf("%w: volume %s has no %s", ErrCorrupt, v.Name, VolumeFile(v.Name))
		}
	}
	if !seen[DatabaseName] {
		return Manifest{}, fmt.Errorf("%w: no %s", ErrCorrupt, DatabaseName)
	}
	if m.WithKey != seen[KeyName] {
		return Manifest{}, fmt.Errorf("%w: with_key does not match %s", ErrCorrupt, KeyName)
	}
	return m, nil
}

// CheckPath refuses an entry name an archive may not hold: absolute, with
// "." or ".." elements, or outside the known top-level names.
func CheckPath(p string) error {
	if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") ||
		slices.Contains(strings.Split(p, "/"), "..") || p == "." {
		return fmt.Errorf("%w: entry name %q", ErrCorrupt, p)
	}
	switch p {
	case HeaderName, ManifestName, DatabaseName, KeyName, HostKeyName:
		return nil
	}
	top, rest, _ := strings.Cut(p, "/")
	switch top {
	case ReposDir, StaticDir:
		app, _, _ := strings.Cut(rest, "/")
		if top == ReposDir {
			app = strings.TrimSuffix(app, ".git")
		}
		if appName.MatchString(app) {
			return nil
		}
	case VolumesDir:
		if name, ok := strings.CutSuffix(rest, ".tar"); ok && volumeName.MatchString(name) {
			return nil
		}
	}
	return fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, p)
}

func hexSum(b []byte) string { return hex.EncodeToString(b) }
