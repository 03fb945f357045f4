package admin

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/xcloud-dev/xcloud/daemon"
)

func (a *Admin) cmdDomainsAdd(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	app := c.args[0]
	added, err := a.eng.AddDomain(ctx, daemon.AddDomainRequest{App: app, Host: c.args[1], Admin: c.id.Admin})
	if err != nil {
		return err
	}
	host := added.Host
	fmt.Fprintf(c.out, "Added %s to %s: %s\n", host, app, added.URL)
	if added.Unicode != "" {
		fmt.Fprintf(c.out, "(%s is the ASCII form of %s)\n", host, added.Unicode)
	}
	if !added.Released {
		fmt.Fprintf(c.out, "%s has no release yet; the domain is served once it is deployed.\n", app)
	}
	switch added.TLSMode {
	case "acme":
		fmt.Fprintf(c.out, "Point DNS for %s (A/AAAA or CNAME) at this host and keep ports 80 and 443 reachable from the internet: the certificate is obtained from the ACME CA automatically.\n", host)
	case "internal":
		fmt.Fprintf(c.out, "Its certificate is signed by xcloud's local CA; clients trust it with: %s tls:ca > xcloud-ca.pem\n", a.eng.SSHCommand())
	}
	return nil
}

func (a *Admin) cmdDomainsRemove(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	app := c.args[0]
	host, err := a.eng.RemoveDomain(ctx, app, c.args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Removed %s from %s\n", host, app)
	return nil
}

func (a *Admin) cmdDomains(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	info, err := a.eng.Domains(ctx, c.args[0])
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, info)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tURL")
	fmt.Fprintf(tw, "%s (default)\t%s\n", info.DefaultHost, info.URL)
	for _, h := range info.Domains {
		fmt.Fprintf(tw, "%s\t%s\n", h, a.eng.HostURL(h))
	}
	return tw.Flush()
}

// cmdTLSCA prints the root certificate of the local CA that signs the
// certificates of tls.mode = "internal".
func (a *Admin) cmdTLSCA(_ context.Context, c *call) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	pem, err := a.eng.LocalCA()
	if err != nil {
		return err
	}
	_, err = c.out.Write(pem)
	return err
}
