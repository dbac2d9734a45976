package pas

import (
	"io"
	"log/slog"
	"time"

	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/cmd/hemopa/internal/router"
)

// Service answers PAS $submit and $inquire. It is safe for concurrent use.
type Service struct {
	p        *pipeline.Pipeline
	router   *router.Router
	store    Store
	ownStore io.Closer // the store NewService opened, closed by Close
	now      func() time.Time
	log      *slog.Logger

	locks keyLocks      // one adjudication per submission key at a time
	work  chan struct{} // admits adjudications, first come first served
}

// Close closes the store if NewService opened it.
func (s *Service) Close() error {
	if s.ownStore != nil {
		return s.ownStore.Close()
	}
	return nil
}
