package podman

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/version"
)

// StreamLogs calls fn for every line the container prints from since on,
// until it exits or ctx ends.
//
// The daemon keeps one such stream open per running container, so each is
// as small as it can be: a request written on a connection of its own and
// the answer read in the calling goroutine through a 1 KB buffer. Through
// the bindings' http.Client a stream also costs the transport's read and
// write goroutines and their 4 KB buffers.
func (c *Client) StreamLogs(ctx context.Context, id string, since time.Time, fn func(line string)) error {
	conn, err := bindings.GetClient(c.conn)
	if err != nil {
		return fmt.Errorf("stream logs of %s: %w", id, err)
	}
	params := url.Values{"stdout": {"true"}, "stderr": {"true"}, "follow": {"true"}}
	if !since.IsZero() {
		params.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	v := version.APIVersion[version.Libpod][version.CurrentAPI]
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://d/v%d.%d.%d/libpod/containers/%s/logs?%s",
		v.Major, v.Minor, v.Patch, url.PathEscape(id), params.Encode()), nil)
	if err != nil {
		return fmt.Errorf("stream logs of %s: %w", id, err)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", conn.URI.Path)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("stream logs of %s: %w", id, err)
	}
	defer nc.Close()
	// Closing the connection is what ends a blocked read.
	defer context.AfterFunc(ctx, func() { nc.Close() })()
	resp, err := streamRequest(nc, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("stream logs of %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("stream logs of %s: %w", id, (&bindings.APIResponse{Response: resp, Request: req}).Process(nil))
	}
	err = demuxLines(resp.Body, fn)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("stream logs of %s: %w", id, err)
	}
	return nil
}

// streamRequest sends req on nc and reads the answer's head; its body is
// read from nc as it comes.
func streamRequest(nc net.Conn, req *http.Request) (*http.Response, error) {
	if err := req.Write(nc); err != nil {
		return nil, err
	}
	return http.ReadResponse(bufio.NewReaderSize(nc, 1024), req)
}
