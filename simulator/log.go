package simulator

import (
	"context"
	"log/slog"

	"github.com/lorafuota/lorafuota/clock"
)

// LogHandler wraps h so that records carry the simulation's time, not the
// machine's: a log of a virtual-time run reads in virtual time, and a
// sped-up real-time run in its own.
func LogHandler(h slog.Handler, c clock.Clock) slog.Handler { return &clockHandler{h, c} }

type clockHandler struct {
	slog.Handler
	clk clock.Clock
}

func (h *clockHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Time = h.clk.Now()
	return h.Handler.Handle(ctx, r)
}

func (h *clockHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &clockHandler{h.Handler.WithAttrs(attrs), h.clk}
}

func (h *clockHandler) WithGroup(name string) slog.Handler {
	return &clockHandler{h.Handler.WithGroup(name), h.clk}
}
