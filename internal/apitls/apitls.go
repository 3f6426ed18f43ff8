// Package apitls secures the daemon's TCP listeners as dockerd secures
// its API: --tls serves TLS, --tlsverify also requires a client
// certificate signed by --tlscacert, TLS 1.2 at least. Whoever reaches
// the Docker API owns the host, so a TCP listener without TLS is refused
// unless --insecure-tcp says so, and then logged loudly. The Docker API
// opens its TCP hosts through Listeners; other HTTP listeners of the
// daemon (metrics, the web UI) are meant to open theirs through the same
// Listeners, so that one set of flags covers every port. It also makes
// the certificates (certs.go) as Docker's documentation makes them with
// openssl.
package apitls

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/docker/go-connections/tlsconfig"
	"github.com/spf13/pflag"
)

// Options are the daemon's TLS flags, dockerd's names and meanings plus
// Shoal's --insecure-tcp.
type Options struct {
	TLS         bool   // serve TLS on TCP listeners (implied by Verify)
	Verify      bool   // require a client certificate signed by CAFile
	CAFile      string // the CA that signs client certificates
	CertFile    string // the server's certificate
	KeyFile     string // the server's key
	InsecureTCP bool   // allow TCP listeners without TLS
}

// AddFlags registers the options as dockerd's flags. Certificate paths
// default, as dockerd's, to ca.pem, cert.pem and key.pem in
// $DOCKER_CERT_PATH, or ~/.docker.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	dir := os.Getenv("DOCKER_CERT_PATH")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".docker")
		}
	}
	fs.BoolVar(&o.TLS, "tls", false, "serve TLS on TCP hosts; implied by --tlsverify")
	fs.BoolVar(&o.Verify, "tlsverify", false, "serve TLS on TCP hosts and require client certificates signed by --tlscacert")
	fs.StringVar(&o.CAFile, "tlscacert", filepath.Join(dir, "ca.pem"), "trust client certificates signed only by this CA")
	fs.StringVar(&o.CertFile, "tlscert", filepath.Join(dir, "cert.pem"), "the server's TLS certificate")
	fs.StringVar(&o.KeyFile, "tlskey", filepath.Join(dir, "key.pem"), "the server's TLS key")
	fs.BoolVar(&o.InsecureTCP, "insecure-tcp", false, "allow TCP hosts without TLS: anyone who reaches them has root on this host")
}

// Listeners opens TCP listeners under one set of Options, with the
// certificates read once. The zero value refuses every TCP listener.
type Listeners struct {
	config   *tls.Config // nil when TLS is off
	insecure bool        // TLS is off and plain TCP was allowed
	log      *slog.Logger
}

// NewListeners checks the options and reads the certificates. Without
// TLS and without --insecure-tcp it succeeds, and Listen refuses: a
// daemon on unix sockets alone needs neither.
func NewListeners(o Options, log *slog.Logger) (*Listeners, error) {
	cfg, err := ServerConfig(o)
	if err != nil {
		return nil, err
	}
	if cfg != nil && o.InsecureTCP {
		return nil, errors.New("--insecure-tcp serves TCP hosts in the clear and --tls or --tlsverify with TLS: give one or the other")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Listeners{config: cfg, insecure: o.InsecureTCP, log: log}, nil
}

// ServerConfig returns the TLS configuration the options ask for, or nil
// when they ask for none. As dockerd's: TLS 1.2 or newer, and with Verify
// a client certificate signed by CAFile (and by no other root) required.
func ServerConfig(o Options) (*tls.Config, error) {
	if !o.TLS && !o.Verify {
		return nil, nil
	}
	opts := tlsconfig.Options{
		CertFile:           o.CertFile,
		KeyFile:            o.KeyFile,
		ClientAuth:         tls.NoClientCert,
		ExclusiveRootPools: true,
		MinVersion:         tls.VersionTLS12,
	}
	if o.Verify {
		if o.CAFile == "" {
			return nil, errors.New("--tlsverify needs --tlscacert, the CA that signs client certificates")
		}
		opts.CAFile = o.CAFile
		opts.ClientAuth = tls.RequireAndVerifyClientCert
	}
	cfg, err := tlsconfig.Server(opts)
	if err != nil {
		return nil, fmt.Errorf("--tlscert/--tlskey/--tlscacert: %w (`shoal tls init DIR` makes a CA, a server and a client certificate)", err)
	}
	return cfg, nil
}

// Allowed says whether Listen would serve what on the TCP address addr,
// so that a daemon can refuse its flags before it starts anything.
func (l *Listeners) Allowed(addr, what string) error {
	if l.config == nil && !l.insecure {
		return fmt.Errorf("refusing to serve %s on tcp://%s without TLS: whoever reaches it has root on this host. "+
			"Serve it with --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY (`shoal tls init DIR` makes them), "+
			"or give --insecure-tcp to serve it in the clear anyway", what, addr)
	}
	return nil
}

// Listen listens on the TCP address addr for what (e.g. "the Docker
// API"): TLS when the options ask for it; plain TCP, with a warning, only
// under --insecure-tcp; otherwise an error that says how to turn TLS on.
func (l *Listeners) Listen(addr, what string) (net.Listener, error) {
	if err := l.Allowed(addr, what); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	switch {
	case l.config == nil:
		l.log.Warn("SERVING "+what+" ON tcp://"+addr+" WITHOUT TLS (--insecure-tcp): anyone who can reach this address has root on this host", "addr", addr)
	case l.config.ClientAuth != tls.RequireAndVerifyClientCert:
		l.log.Warn("serving "+what+" with TLS but without --tlsverify: anyone who can reach tcp://"+addr+" may use it; add --tlsverify to require client certificates", "addr", addr)
		ln = tls.NewListener(ln, l.config)
	default:
		ln = tls.NewListener(ln, l.config)
	}
	return ln, nil
}
