package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// registryServe serves an in-memory registry over plain HTTP until
// interrupted (bench/imagepeer.sh's registry on the cluster bridge).
func registryServe(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry-serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":5000", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// registryPush pushes the image of a docker save archive to a plain-HTTP
// registry (the cluster's daemons cannot push yet).
func registryPush(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry-push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tar := fs.String("tar", "", "docker save archive")
	ref := fs.String("ref", "", "where to push, e.g. 10.249.97.1:5000/app:v1")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := name.ParseReference(*ref, name.Insecure)
	if err != nil {
		return err
	}
	img, err := tarball.ImageFromPath(*tar, nil)
	if err != nil {
		return err
	}
	return remote.Write(r, img)
}
