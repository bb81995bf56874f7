package session

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// logger adapts GoBGP's log.Logger to logr for one GoBGP server, and keeps
// the last message that explains a failed session, in plain words. A
// server is reused for another peer (see Sessions), so the peer is bound
// anew each time.
type logger struct {
	mu      sync.Mutex
	log     logr.Logger
	peer    PeerConfig
	lastErr string
	// notify is called (outside mu) when lastErr changes: an error often
	// comes without a state change (a refused connect while Active).
	notify func()
}

// bind makes l log for peer c, forgets the last error, and calls notify
// whenever a new one is noted.
func (l *logger) bind(log logr.Logger, c PeerConfig, notify func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log, l.peer, l.lastErr, l.notify = log.WithValues("peer", c.Name), c, "", notify
}

func (l *logger) logr() logr.Logger {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.log
}

var _ gobgplog.Logger = (*logger)(nil)

func (l *logger) Panic(msg string, f gobgplog.Fields) {
	l.log.Error(nil, msg, kv(f)...)
	panic(msg)
}

// Fatal does not exit: a GoBGP server of one peer must not end the speaker.
func (l *logger) Fatal(msg string, f gobgplog.Fields) {
	l.note(msg, f)
	l.log.Error(nil, msg, kv(f)...)
}
func (l *logger) Error(msg string, f gobgplog.Fields) {
	l.note(msg, f)
	l.log.Error(nil, msg, kv(f)...)
}
func (l *logger) Warn(msg string, f gobgplog.Fields)  { l.note(msg, f); l.log.Info(msg, kv(f)...) }
func (l *logger) Info(msg string, f gobgplog.Fields)  { l.note(msg, f); l.log.V(1).Info(msg, kv(f)...) }
func (l *logger) Debug(msg string, f gobgplog.Fields) { l.note(msg, f); l.log.V(2).Info(msg, kv(f)...) }

// SetLevel is ignored: the logr sink's verbosity decides.
func (l *logger) SetLevel(gobgplog.LogLevel) {}

// GetLevel is Debug so GoBGP hands over every message; note needs the
// Debug-level "failed to connect".
func (l *logger) GetLevel() gobgplog.LogLevel { return gobgplog.DebugLevel }

func (l *logger) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

func (l *logger) note(msg string, f gobgplog.Fields) {
	l.mu.Lock()
	s := explain(l.peer, msg, f)
	changed, notify := s != "" && s != l.lastErr, l.notify
	if s != "" {
		l.lastErr = s
	}
	l.mu.Unlock()
	if changed && notify != nil {
		notify()
	}
}

// explain turns the GoBGP messages that end or prevent a session into
// words for a status; it returns "" for every other message.
func explain(p PeerConfig, msg string, f gobgplog.Fields) string {
	switch msg {
	case "failed to connect":
		s := fmt.Sprintf("cannot connect to %s port %d: %v", p.Address, p.Port, f["Error"])
		if p.Password != "" && strings.Contains(fmt.Sprint(f["Error"]), "timeout") {
			// A peer drops SYNs whose MD5 signature it cannot verify.
			s += " (a TCP MD5 password the peer does not share looks like this)"
		}
		return s
	case "hold timer expired":
		return "the peer sent nothing for the hold time; the session was closed"
	case "sent notification":
		if e, ok := f["Data"].(*bgp.MessageError); ok {
			if e.TypeCode == bgp.BGP_ERROR_OPEN_MESSAGE_ERROR && e.SubTypeCode == bgp.BGP_ERROR_SUB_BAD_PEER_AS {
				return fmt.Sprintf("the peer's AS number does not match peerASN %d (%s); closed the session", p.PeerASN, e.Message)
			}
			return fmt.Sprintf("closed the session: %s (%s)", e.Message, bgp.NewNotificationErrorCode(e.TypeCode, e.SubTypeCode))
		}
	case "received notification":
		code, _ := f["Code"].(uint8)
		sub, _ := f["Subcode"].(uint8)
		what := bgp.NewNotificationErrorCode(code, sub).String()
		if code == bgp.BGP_ERROR_OPEN_MESSAGE_ERROR && sub == bgp.BGP_ERROR_SUB_BAD_PEER_AS {
			return fmt.Sprintf("the peer refused our AS number %d (myASN): check the AS it expects", p.MyASN)
		}
		if r, _ := f["Communicated-Reason"].(string); r != "" {
			what += ": " + r
		}
		return "the peer closed the session: " + what
	}
	return ""
}

// kv turns GoBGP's fields into sorted logr key/value pairs.
func kv(f gobgplog.Fields) []any {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		out = append(out, strings.ToLower(k), f[k])
	}
	return out
}
