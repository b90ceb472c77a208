package transport

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLoggers routes pion's logs into an slog.Logger. Everything pion says is
// logged at debug (with pion's own level as an attribute): pion reports
// routine events such as a failed candidate pair as warnings and errors, and
// this package surfaces what matters through its own errors. Trace is
// dropped.
type pionLoggers struct{ log *slog.Logger }

func (f pionLoggers) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ l *slog.Logger }

func (l pionLogger) emit(level, msg string) {
	l.l.Log(context.Background(), slog.LevelDebug, msg, "pion_level", level)
}

func (l pionLogger) emitf(level, format string, args ...any) {
	if l.l.Enabled(context.Background(), slog.LevelDebug) {
		l.emit(level, fmt.Sprintf(format, args...))
	}
}

func (pionLogger) Trace(string)                        {}
func (pionLogger) Tracef(string, ...any)               {}
func (l pionLogger) Debug(msg string)                  { l.emit("debug", msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.emitf("debug", format, args...) }
func (l pionLogger) Info(msg string)                   { l.emit("info", msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.emitf("info", format, args...) }
func (l pionLogger) Warn(msg string)                   { l.emit("warn", msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.emitf("warn", format, args...) }
func (l pionLogger) Error(msg string)                  { l.emit("error", msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.emitf("error", format, args...) }
