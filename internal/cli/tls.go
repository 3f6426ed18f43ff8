package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/go-connections/tlsconfig"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoal-project/shoal/internal/apitls"
)

// tlsFlags are the docker CLI's global TLS flags.
type tlsFlags struct {
	tls, verify       bool
	ca, cert, keyFile string
}

// add registers the flags with the docker CLI's names and defaults: TLS
// verification on when DOCKER_TLS_VERIFY is set, the files in
// DOCKER_CERT_PATH, else in the docker CLI's configuration directory.
func (f *tlsFlags) add(fs *pflag.FlagSet, getenv func(string) string) {
	dir := getenv(client.EnvOverrideCertPath)
	if dir == "" {
		dir = getenv("DOCKER_CONFIG")
	}
	if dir == "" {
		dir = filepath.Join(getenv("HOME"), ".docker")
	}
	fs.BoolVar(&f.tls, "tls", false, "Use TLS; implied by --tlsverify")
	fs.BoolVar(&f.verify, "tlsverify", getenv(client.EnvTLSVerify) != "", "Use TLS and verify the remote")
	fs.StringVar(&f.ca, "tlscacert", filepath.Join(dir, apitls.CAFile), "Trust certs signed only by this CA")
	fs.StringVar(&f.cert, "tlscert", filepath.Join(dir, apitls.ClientCertFile), "Path to TLS certificate file")
	fs.StringVar(&f.keyFile, "tlskey", filepath.Join(dir, apitls.ClientKeyFile), "Path to TLS key file")
}

// options resolves the flags as the docker CLI does: --tlsverify, given
// at all or through DOCKER_TLS_VERIFY, turns TLS on; without it the
// server is not verified; a client certificate or key left at its default
// is used only if its file exists. nil means no TLS.
func (f tlsFlags) options(changed func(string) bool, exists func(string) bool) *tlsconfig.Options {
	if !f.tls && !f.verify && !changed("tlsverify") {
		return nil
	}
	o := &tlsconfig.Options{InsecureSkipVerify: !f.verify, ExclusiveRootPools: true, MinVersion: tls.VersionTLS12}
	if f.verify {
		o.CAFile = f.ca
	}
	if changed("tlscert") || exists(f.cert) {
		o.CertFile = f.cert
	}
	if changed("tlskey") || exists(f.keyFile) {
		o.KeyFile = f.keyFile
	}
	return o
}

// httpClient is the API client's HTTP client for these flags, nil when
// they ask for no TLS.
func (f tlsFlags) httpClient(flags *pflag.FlagSet) (*http.Client, error) {
	o := f.options(flags.Changed, func(p string) bool { _, err := os.Stat(p); return err == nil })
	if o == nil {
		return nil, nil
	}
	cfg, err := tlsconfig.Client(*o)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, CheckRedirect: client.CheckRedirect}, nil
}

func newTLSCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Make certificates to serve the API over TCP with TLS",
		Long: `Make the certificates that protect the Docker API on TCP, as Docker's
documentation makes them with openssl: a CA, a server certificate for the
daemon and client certificates for the people and tools that use it.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newTLSInitCommand(e), newTLSClientCertCommand(e))
	return cmd
}

func newTLSInitCommand(e *env) *cobra.Command {
	var (
		hosts  []string
		name   string
		days   int
		listen string
	)
	cmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Make a CA, a server certificate and a client certificate in DIR",
		Long: `Make a CA (ca.pem, ca-key.pem), a server certificate for the daemon
(server-cert.pem, server-key.pem) and a client certificate (cert.pem,
key.pem) in DIR, and print how to use them. DIR is then a DOCKER_CERT_PATH
for the client. Existing files are never overwritten.`,
		Args: cobra.ExactArgs(1),
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&hosts, "hostname", nil, "DNS name or IP address clients reach the daemon by (repeatable; default: this host's name, localhost, 127.0.0.1 and ::1)")
	fs.StringVar(&name, "name", "client", "Name (CN) of the client certificate")
	fs.IntVar(&days, "days", 365, "Days the server and client certificates are valid (the CA: 10 years)")
	fs.StringVar(&listen, "listen", "0.0.0.0:2376", "Address the daemon will listen on, for the printed command")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		dir, err := filepath.Abs(args[0])
		if err != nil {
			return err
		}
		if len(hosts) == 0 {
			hosts = []string{"localhost", "127.0.0.1", "::1"}
			if h, err := os.Hostname(); err == nil && h != "localhost" {
				hosts = append([]string{h}, hosts...)
			}
		}
		if days <= 0 {
			return fmt.Errorf("--days %d: must be at least 1", days)
		}
		if err := apitls.Init(dir, hosts, name, time.Duration(days)*24*time.Hour, time.Now()); err != nil {
			return err
		}
		p := func(f string) string { return filepath.Join(dir, f) }
		e.printf("Made a CA, a server certificate for %s and a client certificate %q in %s, valid %d days.\n\n",
			strings.Join(hosts, ", "), name, dir, days)
		e.printf("Serve the Docker API over TCP, client certificates required:\n")
		e.printf("  shoal daemon --tlsverify --tlscacert %s --tlscert %s --tlskey %s -H unix:///run/shoal/shoal.sock -H tcp://%s\n\n",
			p(apitls.CAFile), p(apitls.ServerCertFile), p(apitls.ServerKeyFile), listen)
		e.printf("Use it with docker or shoal (or copy ca.pem, cert.pem and key.pem to ~/.docker/ and leave DOCKER_CERT_PATH out):\n")
		e.printf("  export DOCKER_HOST=tcp://%s:%s DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=%s\n", hosts[0], portOf(listen), dir)
		e.printf("  docker version\n\n")
		e.printf("Keep %s secret: it signs client certificates (shoal tls client-cert --ca %s OUTDIR).\n", p(apitls.CAKeyFile), dir)
		return nil
	}
	return cmd
}

func newTLSClientCertCommand(e *env) *cobra.Command {
	var (
		caDir, name string
		days        int
	)
	cmd := &cobra.Command{
		Use:   "client-cert --ca DIR OUTDIR",
		Short: "Sign a client certificate with a CA made by `shoal tls init`",
		Long: `Sign a client certificate with the CA in DIR and write it to OUTDIR as
ca.pem, cert.pem and key.pem: a DOCKER_CERT_PATH to hand to a user.`,
		Args: cobra.ExactArgs(1),
	}
	fs := cmd.Flags()
	fs.StringVar(&caDir, "ca", "", "Directory of the CA (ca.pem and ca-key.pem)")
	fs.StringVar(&name, "name", "client", "Name (CN) of the client certificate")
	fs.IntVar(&days, "days", 365, "Days the certificate is valid")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if caDir == "" {
			return errors.New("--ca is required: the directory `shoal tls init` made")
		}
		if days <= 0 {
			return fmt.Errorf("--days %d: must be at least 1", days)
		}
		out, err := filepath.Abs(args[0])
		if err != nil {
			return err
		}
		if err := apitls.IssueClient(caDir, out, name, time.Duration(days)*24*time.Hour, time.Now()); err != nil {
			return err
		}
		e.printf("Made a client certificate %q in %s, valid %d days. Use it with:\n", name, out, days)
		e.printf("  export DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=%s\n", out)
		return nil
	}
	return cmd
}

func portOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return "2376"
}

// isTLSError says whether err is a refused TLS handshake: the daemon
// runs, but one side does not accept the other's certificate. A refusal
// by the daemon reaches the client as a TLS alert, which crypto/tls
// reports as a "remote error".
func isTLSError(err error) bool {
	var (
		remote   *net.OpError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
	)
	return errors.As(err, &remote) && remote.Op == "remote error" ||
		errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname)
}
