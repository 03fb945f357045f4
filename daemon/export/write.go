package export

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// WriteYAML writes objs as a multi-document YAML stream, headed by
// comments: what it is and the notes on what does not carry over.
func WriteYAML(w io.Writer, title string, notes []string, objs []Object) error {
	var b strings.Builder
	writeComments(&b, title, notes)
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", o.Kind, o.Metadata.Name, err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes objs as one v1 List, which kubectl apply takes as it
// takes the YAML stream. JSON has no comments: the notes are the
// caller's to show.
func WriteJSON(w io.Writer, objs []Object) error {
	if objs == nil {
		objs = []Object{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Items      []Object `json:"items"`
	}{"v1", "List", objs})
}

// WriteCompose writes f as YAML headed by comments.
func WriteCompose(w io.Writer, title string, notes []string, f ComposeFile) error {
	y, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode compose file: %w", err)
	}
	var b strings.Builder
	writeComments(&b, title, notes)
	b.Write(y)
	_, err = io.WriteString(w, b.String())
	return err
}

func writeComments(b *strings.Builder, title string, notes []string) {
	fmt.Fprintf(b, "# %s\n", title)
	for _, n := range notes {
		// A command in a note may span lines; a comment may not.
		fmt.Fprintf(b, "# - %s\n", strings.ReplaceAll(n, "\n", " "))
	}
}
