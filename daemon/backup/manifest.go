// Package backup is the format of a whole node's backup: a tar stream
// compressed with zstd whose first entry identifies it (HeaderName), whose
// last entry lists every other entry's size and SHA-256 (ManifestName), and
// whose entries in between are the database snapshot, the apps'
// repositories, static files, volumes and, when asked for, the config-var
// key. It knows nothing of the daemon: the engine writes an archive with a
// Writer and `xcloud restore` reads one with Extract.
package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/zeebo/blake3"

	"github.com/xcloud-dev/xcloud/store"
)

// Format is the archive layout this package writes; it reads every one up
// to it. 2: volumes (and service dumps) streamed in parts, service dumps,
// certificates. 3: release images too. 4: checksums are BLAKE3 instead of
// SHA-256 (about twice as fast here, and SHA-256 was the largest share of
// a backup's CPU); older archives keep their SHA-256.
const Format = 4

// FormatBLAKE3 is the first format whose checksums are BLAKE3.
const FormatBLAKE3 = 4

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
	ServicesDir  = "services"           // services/<name>.dump: a service's dump (format 2)
	CaddyDir     = "caddy"              // caddy/...: certificates and the local CA (format 2)
	ImagesDir    = "images"             // images/<app>.tar: the app's current release image (format 3)
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

// Manifest is the archive's last entry: what it holds, with checksums
// (SHA-256 below FormatBLAKE3, BLAKE3 from it).
type Manifest struct {
	Header
	WithKey bool     `json:"with_key"`
	Apps    []string `json:"apps"`
	Volumes []Volume `json:"volumes"`
	// Services are the PostgreSQL and Redis services whose dumps the
	// archive holds (format 2).
	Services []Service `json:"services,omitempty"`
	// Images are the apps' current release images the archive holds
	// (format 3, backup --with-images).
	Images []Image `json:"images,omitempty"`
	Files  []File  `json:"files"`
}

// Image is an app's release image in the archive, as images/<App>.tar
// (ImageFile): a docker-archive that `podman load` reads, tagged Ref.
type Image struct {
	App string `json:"app"`
	Ref string `json:"ref"` // the release's image: its ID, or a name such as localhost/xcloud/APP:b12
}

// ImageFile is the entry holding an app's image.
func ImageFile(app string) string { return ImagesDir + "/" + app + ".tar" }

// Service is a database service's dump in the archive, as
// services/<Name>.dump (ServiceFile), taken as services:backup takes one.
type Service struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // postgres or redis
}

// ServiceFile is the entry holding a service's dump.
func ServiceFile(name string) string { return ServicesDir + "/" + name + ".dump" }

// Volume is a Podman named volume in the archive, as volumes/<Name>.tar.
type Volume struct {
	// Name is the volume's name without the instance prefix (what
	// storage:mount names it); Podman's name is derived from it again on
	// restore, for the installation restored to.
	Name   string            `json:"name"`
	Podman string            `json:"podman_name"` // its Podman name when archived
	Labels map[string]string `json:"labels,omitempty"`
}

// File is one regular file in the archive, with the checksum of its
// archive's format: SHA256 below FormatBLAKE3, BLAKE3 from it.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	BLAKE3 string `json:"blake3,omitempty"`
	Mode   uint32 `json:"mode"` // permission bits
}

// sum is f's checksum in an archive of format.
func (f File) sum(format int) string {
	if format >= FormatBLAKE3 {
		return f.BLAKE3
	}
	return f.SHA256
}

// newHash is the checksum of format's entries.
func newHash(format int) hash.Hash {
	if format >= FormatBLAKE3 {
		return blake3.New()
	}
	return sha256.New()
}

// VolumeFile is the entry holding a volume's files.
func VolumeFile(name string) string { return VolumesDir + "/" + name + ".tar" }

// PartName is the i-th part of a streamed entry (Writer.Stream).
func PartName(name string, i int) string { return fmt.Sprintf("%s.%06d", name, i) }

// Streamable reports whether name is an entry that may be written in parts:
// a volume's tar or a service's dump.
func Streamable(name string) bool {
	top, rest, _ := strings.Cut(name, "/")
	switch top {
	case VolumesDir:
		n, ok := strings.CutSuffix(rest, ".tar")
		return ok && validName(n)
	case ServicesDir:
		n, ok := strings.CutSuffix(rest, ".dump")
		return ok && validName(n)
	case ImagesDir:
		n, ok := strings.CutSuffix(rest, ".tar")
		return ok && validName(n)
	}
	return false
}

// splitPart returns the entry a part belongs to and its index.
func splitPart(p string) (string, int, bool) {
	i := strings.LastIndexByte(p, '.')
	if i < 0 || len(p)-i-1 != 6 {
		return "", 0, false
	}
	n := 0
	for _, c := range p[i+1:] {
		if c < '0' || c > '9' {
			return "", 0, false
		}
		n = n*10 + int(c-'0')
	}
	if !Streamable(p[:i]) {
		return "", 0, false
	}
	return p[:i], n, true
}

// has reports whether the listed files hold name, whole or in parts.
func has(seen map[string]bool, name string) bool {
	return seen[name] || seen[PartName(name, 0)]
}

// The checks below are written out rather than regexps: Go expands a
// counted repetition such as {0,200} into as many copies, and the four
// patterns they replace held 100 KB for the life of the process.

// validName is the rule of the names an archive holds (apps, volumes and
// services): the store's volume-name rule, which every app and service
// name also satisfies.
func validName(n string) bool { return store.ValidateVolumeName(n) == nil }

// hex256 reports whether s is 256 bits in lowercase hex: a SHA-256 or
// BLAKE3 sum, or an image ID.
func hex256(s string) bool { return len(s) == 64 && strings.Trim(s, lowerHex) == "" }

const (
	lowerHex   = "0123456789abcdef"
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	tagChars   = lowerAlnum + "ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
)

// imageRef reports whether ref is how a release names its image: its ID
// (what a build records) or a registry-style name and tag; nothing a
// restore could mistake for a flag or a path. It is
// `^((sha256:)?[0-9a-f]{64}|[a-z0-9][a-z0-9._/-]{0,200}:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$`.
func imageRef(ref string) bool {
	if hex256(strings.TrimPrefix(ref, "sha256:")) {
		return true
	}
	name, tag, _ := strings.Cut(ref, ":")
	return len(name) >= 1 && len(name) <= 201 && strings.IndexByte(lowerAlnum, name[0]) >= 0 &&
		strings.Trim(name, lowerAlnum+"._/-") == "" &&
		len(tag) >= 1 && len(tag) <= 128 && strings.IndexByte(tagChars, tag[0]) >= 0 &&
		strings.Trim(tag, tagChars+".-") == ""
}

// ParseManifest reads and checks a manifest: every path is one an archive
// may hold, every checksum well formed, nothing listed twice, and every
// volume has its file. It does not compare the files with the entries; see
// Extract.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if m.Format < 1 || m.Format > Format {
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
		if base, i, ok := splitPart(f.Path); ok && (seen[base] || (i > 0 && !seen[PartName(base, i-1)])) {
			return Manifest{}, fmt.Errorf("%w: %s out of order", ErrCorrupt, f.Path)
		}
		if seen[PartName(f.Path, 0)] {
			return Manifest{}, fmt.Errorf("%w: %s whole and in parts", ErrCorrupt, f.Path)
		}
		other := f.BLAKE3 // the checksum this format does not have
		if m.Format >= FormatBLAKE3 {
			other = f.SHA256
		}
		if f.Size < 0 || !hex256(f.sum(m.Format)) || other != "" || f.Mode > 0o777 {
			return Manifest{}, fmt.Errorf("%w: bad size, mode or checksum for %s", ErrCorrupt, f.Path)
		}
	}
	for _, a := range m.Apps {
		if !validName(a) {
			return Manifest{}, fmt.Errorf("%w: bad app name %q", ErrCorrupt, a)
		}
	}
	names := map[string]bool{}
	for _, v := range m.Volumes {
		if !validName(v.Name) || names[v.Name] {
			return Manifest{}, fmt.Errorf("%w: bad or repeated volume name %q", ErrCorrupt, v.Name)
		}
		names[v.Name] = true
		if !has(seen, VolumeFile(v.Name)) {
			return Manifest{}, fmt.Errorf("%w: volume %s has no %s", ErrCorrupt, v.Name, VolumeFile(v.Name))
		}
	}
	services := map[string]bool{}
	for _, sv := range m.Services {
		if !validName(sv.Name) || services[sv.Name] || (sv.Kind != "postgres" && sv.Kind != "redis") {
			return Manifest{}, fmt.Errorf("%w: bad or repeated service %q (%q)", ErrCorrupt, sv.Name, sv.Kind)
		}
		services[sv.Name] = true
		if !has(seen, ServiceFile(sv.Name)) {
			return Manifest{}, fmt.Errorf("%w: service %s has no %s", ErrCorrupt, sv.Name, ServiceFile(sv.Name))
		}
	}
	images := map[string]bool{}
	for _, im := range m.Images {
		if !validName(im.App) || images[im.App] || !imageRef(im.Ref) {
			return Manifest{}, fmt.Errorf("%w: bad or repeated image %q of %q", ErrCorrupt, im.Ref, im.App)
		}
		images[im.App] = true
		if m.Format < 3 || !has(seen, ImageFile(im.App)) {
			return Manifest{}, fmt.Errorf("%w: image of %s has no %s", ErrCorrupt, im.App, ImageFile(im.App))
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
		if validName(app) {
			return nil
		}
	case VolumesDir, ServicesDir, ImagesDir:
		if Streamable(p) {
			return nil
		}
		if _, _, ok := splitPart(p); ok {
			return nil
		}
	case CaddyDir:
		// Caddy's storage: certificates by issuer and host name, the
		// local CA, ACME accounts. Clean and relative was checked above.
		if rest != "" {
			return nil
		}
	}
	return fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, p)
}

func hexSum(b []byte) string { return hex.EncodeToString(b) }
