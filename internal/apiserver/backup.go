package apiserver

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/backup"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// Backups takes and restores backups of the swarm's state: Shoal's own
// endpoints, behind `shoal swarm backup` and `shoal swarm restore`.
type Backups interface {
	// Backup returns a backup of the swarm as this manager holds it.
	Backup(ctx context.Context) ([]byte, error)
	// Restore makes this node, in no swarm, the only manager of the
	// swarm of a backup, and returns its node ID.
	Restore(ctx context.Context, req backup.RestoreRequest, r io.Reader) (string, error)
}

func (s *Server) backups() (Backups, error) {
	if s.cfg.Backups == nil {
		return nil, errdefs.Unavailable("swarm backups are not available on this daemon")
	}
	return s.cfg.Backups, nil
}

// swarmBackup answers GET /shoal/swarm/backup with the backup file.
func (s *Server) swarmBackup(w http.ResponseWriter, r *http.Request) error {
	b, err := s.backups()
	if err != nil {
		return err
	}
	data, err := b.Backup(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(data)
	return err
}

// swarmRestore answers POST /shoal/swarm/restore, whose body is a backup
// file and whose query holds swarm init's listenAddr, advertiseAddr,
// dataPathAddr and availability.
func (s *Server) swarmRestore(w http.ResponseWriter, r *http.Request) error {
	b, err := s.backups()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	req := backup.RestoreRequest{
		ListenAddr:    q.Get("listenAddr"),
		AdvertiseAddr: q.Get("advertiseAddr"),
		DataPathAddr:  q.Get("dataPathAddr"),
		Availability:  swarm.NodeAvailability(q.Get("availability")),
		UnlockKey:     r.Header.Get(backup.UnlockKeyHeader),
	}
	switch req.Availability {
	case "", swarm.NodeAvailabilityActive, swarm.NodeAvailabilityPause, swarm.NodeAvailabilityDrain:
	default:
		return errdefs.Invalid("invalid availability %q: want active, pause or drain", req.Availability)
	}
	id, err := b.Restore(r.Context(), req, r.Body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, id)
}
