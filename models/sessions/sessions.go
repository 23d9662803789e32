// Package sessions owns the console's sessions: a gorilla/sessions store
// over the sessions table (so any instance serves any session and signing
// out really revokes), and the deletes and purges around it. The cookie
// carries only the signed, encrypted session id; the values live in the row.
//
// It replaces wader/gormstore, which swallowed database errors (an outage
// made every admin look signed out), ignored the request's context and read
// the wall clock; and, when the row of a cookie was gone, Save created a
// fresh one, resurrecting a session that had just been revoked.
package sessions

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"gorm.io/gorm"

	"keydesk/models/database"
)

// Errors of loading and saving sessions.
var (
	// ErrGone is returned by Save when the session's row was deleted since
	// it was loaded (signed out or purged): it is never recreated.
	ErrGone = errors.New("sessions: the session ended")
	// ErrRotated is returned for a session that Retire replaced moments
	// ago: the request left the browser before the new cookie arrived.
	ErrRotated = errors.New("sessions: the session changed")
)

// retiredMarker is the data of a retired session's row. It never decodes,
// so a retired id signs nobody in; it only tells a late request why.
const retiredMarker = "retired"

// RetiredGrace is how long a retired session id is recognised (and answered
// with ErrRotated rather than as an unknown session).
const RetiredGrace = time.Minute

// Store keeps sessions in the database.
type Store struct {
	db      *gorm.DB
	codecs  []securecookie.Codec
	options sessions.Options
	now     database.Clock
	// hashKey and blockKey also seal the short-lived cookies of SealCookie.
	hashKey, blockKey []byte
}

// row is one session in the sessions table.
type row struct {
	ID        string
	Data      string
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
	AdminID   int64
	ProgramID int64
	UserAgent string
	IPAddress string `gorm:"column:ip_address"`
}

// The session values the store copies into the row's columns on every
// save: admin_id and program_id, so an admin's sessions can be found (and
// ended) without decoding every row; user_agent and ip_address, the
// browser and address the session signed in from, for the account page.
const (
	ValueAdminID   = "admin_id"
	ValueProgramID = "program_id"
	ValueUserAgent = "sign_in_user_agent"
	ValueIPAddress = "sign_in_ip"
)

func int64Value(values map[any]any, key string) int64 {
	v, _ := values[key].(int64)
	return v
}

func stringValue(values map[any]any, key string) string {
	v, _ := values[key].(string)
	return v
}

func (row) TableName() string { return "sessions" }

// idBytes is the session id's length in random bytes (base32 in the table).
const idBytes = 32

// NewStore builds a store whose cookies are authenticated with hashKey and
// encrypted with blockKey; options set the cookie (MaxAge is the session's
// lifetime in the table too).
func NewStore(db *gorm.DB, now database.Clock, options sessions.Options, hashKey, blockKey []byte) *Store {
	codecs := securecookie.CodecsFromPairs(hashKey, blockKey)
	for _, c := range codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(options.MaxAge)
		}
	}
	return &Store{db: db, codecs: codecs, options: options, now: now, hashKey: hashKey, blockKey: blockKey}
}

// Get returns the named session of the request, loaded once per request.
// name is the base name: the cookie is CookieName(name).
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, s.CookieName(name))
}

// Fresh returns a new, unsaved session named name (its cookie is
// CookieName(name)); it gets an id when saved.
func (s *Store) Fresh(name string) *sessions.Session {
	return s.fresh(s.CookieName(name))
}

// CookieName is the name of the cookie called base. With secure cookies
// it carries the __Host- prefix: browsers accept such a cookie only when
// it is Secure, has Path=/ and no Domain, so neither a plain-http page
// nor a sibling subdomain can plant or overwrite it. The session's cookie
// is named so, and so are the cookies set beside it.
func (s *Store) CookieName(base string) string {
	if s.options.Secure {
		return "__Host-" + base
	}
	return base
}

// fresh returns a new, unsaved session whose cookie is cookieName.
func (s *Store) fresh(cookieName string) *sessions.Session {
	session := sessions.NewSession(s, cookieName)
	opts := s.options
	session.Options = &opts
	session.IsNew = true
	return session
}

// New loads the session of the request's cookie called name (gorilla's
// registry passes the cookie's full name: Get has prefixed it). A missing,
// forged or expired cookie, or one whose row is gone, gives a new session
// and no error; a database failure is returned.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	session := s.fresh(name)
	cookie, err := r.Cookie(name)
	if err != nil {
		return session, nil
	}
	var id string
	if err := securecookie.DecodeMulti(name, cookie.Value, &id, s.codecs...); err != nil {
		return session, nil
	}
	var rows []row
	err = s.db.WithContext(r.Context()).Where("id = ? AND expires_at > ?", id, s.now()).Limit(1).Find(&rows).Error
	if err != nil {
		return session, fmt.Errorf("sessions: unable to load the session: %w", err)
	}
	if len(rows) == 0 {
		return session, nil
	}
	if rows[0].Data == retiredMarker {
		return session, ErrRotated
	}
	if err := securecookie.DecodeMulti(name, rows[0].Data, &session.Values, s.codecs...); err != nil {
		return session, nil
	}
	session.ID = id
	session.IsNew = false
	return session, nil
}

// Save writes the session and its cookie. A session with a negative MaxAge
// is deleted, row and cookie.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, session *sessions.Session) error {
	ctx := r.Context()
	if session.Options.MaxAge < 0 {
		if session.ID != "" {
			if err := s.Delete(ctx, session.ID); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(session.Name(), "", session.Options))
		return nil
	}
	data, err := securecookie.EncodeMulti(session.Name(), session.Values, s.codecs...)
	if err != nil {
		return fmt.Errorf("sessions: unable to encode the session: %w", err)
	}
	now := s.now()
	expires := now.Add(time.Duration(session.Options.MaxAge) * time.Second)
	db := s.db.WithContext(ctx)
	if session.ID == "" {
		id := strings.TrimRight(base32.StdEncoding.EncodeToString(securecookie.GenerateRandomKey(idBytes)), "=")
		r := row{ID: id, Data: data, CreatedAt: now, UpdatedAt: now, ExpiresAt: expires,
			AdminID: int64Value(session.Values, ValueAdminID), ProgramID: int64Value(session.Values, ValueProgramID),
			UserAgent: stringValue(session.Values, ValueUserAgent), IPAddress: stringValue(session.Values, ValueIPAddress)}
		if err := db.Create(&r).Error; err != nil {
			return fmt.Errorf("sessions: unable to create the session: %w", err)
		}
		session.ID = id
	} else {
		res := db.Model(&row{}).Where("id = ? AND data <> ?", session.ID, retiredMarker).
			Updates(map[string]any{"data": data, "updated_at": now, "expires_at": expires,
				"admin_id": int64Value(session.Values, ValueAdminID), "program_id": int64Value(session.Values, ValueProgramID),
				"user_agent": stringValue(session.Values, ValueUserAgent), "ip_address": stringValue(session.Values, ValueIPAddress)})
		if res.Error != nil {
			return fmt.Errorf("sessions: unable to save the session: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			var retired int64
			if err := db.Model(&row{}).Where("id = ? AND data = ?", session.ID, retiredMarker).Count(&retired).Error; err != nil {
				return fmt.Errorf("sessions: unable to save the session: %w", err)
			}
			if retired > 0 {
				return ErrRotated
			}
			return ErrGone
		}
	}
	cookie, err := securecookie.EncodeMulti(session.Name(), session.ID, s.codecs...)
	if err != nil {
		return fmt.Errorf("sessions: unable to encode the session cookie: %w", err)
	}
	http.SetCookie(w, sessions.NewCookie(session.Name(), cookie, session.Options))
	return nil
}

// Delete removes one session, so its cookie no longer signs anyone in.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.db.WithContext(ctx).Where("id = ?", id).Delete(&row{}).Error; err != nil {
		return fmt.Errorf("sessions: unable to delete the session: %w", err)
	}
	return nil
}

// Retire ends a session that is being replaced by a new id (rotation at
// re-authentication): its row stops signing anyone in at once, but for
// RetiredGrace a request still carrying the old cookie is told the session
// changed (ErrRotated) instead of looking signed out.
func (s *Store) Retire(ctx context.Context, id string) error {
	now := s.now()
	err := s.db.WithContext(ctx).Model(&row{}).Where("id = ?", id).
		Updates(map[string]any{"data": retiredMarker, "updated_at": now, "expires_at": now.Add(RetiredGrace)}).Error
	if err != nil {
		return fmt.Errorf("sessions: unable to retire the session: %w", err)
	}
	return nil
}

// Purge deletes the sessions past their expiry and returns how many went.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Where("expires_at < ?", s.now()).Delete(&row{})
	if res.Error != nil {
		return 0, fmt.Errorf("sessions: unable to purge expired sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// sealer authenticates and encrypts a short-lived cookie's value as JSON
// and refuses it once maxAge has passed.
func (s *Store) sealer(maxAge time.Duration) *securecookie.SecureCookie {
	return securecookie.New(s.hashKey, s.blockKey).MaxAge(int(maxAge.Seconds())).SetSerializer(securecookie.JSONEncoder{})
}

// SealCookie keeps value in the browser for maxAge, authenticated and
// encrypted with the session keys, for state that must cost no row (an
// anonymous visitor's passkey sign-in). The cookie's name is part of what
// is authenticated, so it never passes for a session cookie or another
// sealed cookie; path limits where the browser sends it.
func (s *Store) SealCookie(w http.ResponseWriter, name, path string, value any, maxAge time.Duration) error {
	name = s.pathCookieName(name)
	sealed, err := s.sealer(maxAge).Encode(name, value)
	if err != nil {
		return fmt.Errorf("sessions: unable to seal the %s cookie: %w", name, err)
	}
	http.SetCookie(w, s.shortLivedCookie(name, path, sealed, int(maxAge.Seconds())))
	return nil
}

// pathCookieName is the name of a cookie scoped to a path below "/": with
// secure cookies it carries the __Secure- prefix (__Host- requires Path=/),
// so a plain-HTTP page of the same site cannot plant or overwrite it.
func (s *Store) pathCookieName(base string) string {
	if s.options.Secure {
		return "__Secure-" + base
	}
	return base
}

// OpenCookie reads a cookie SealCookie set into value and clears it in the
// response, so the browser holds it for one use. It reports false for a
// missing, forged or expired cookie.
func (s *Store) OpenCookie(r *http.Request, w http.ResponseWriter, name, path string, value any, maxAge time.Duration) bool {
	name = s.pathCookieName(name)
	cookie, err := r.Cookie(name)
	if err != nil {
		return false
	}
	http.SetCookie(w, s.shortLivedCookie(name, path, "", -1))
	return s.sealer(maxAge).Decode(name, cookie.Value, value) == nil
}

func (s *Store) shortLivedCookie(name, path, value string, maxAge int) *http.Cookie {
	return sessions.NewCookie(name, value, &sessions.Options{Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: s.options.Secure, SameSite: http.SameSiteLaxMode})
}

// SecureCookies reports whether the session cookie is sent over HTTPS only,
// so cookies set beside it can match.
func (s *Store) SecureCookies() bool { return s.options.Secure }

// Info describes one of an admin's sessions for the account page; the id
// never leaves the server.
type Info struct {
	ID        string
	ProgramID int64
	CreatedAt time.Time
	UpdatedAt time.Time
	// UserAgent and IPAddress are the browser and address the session
	// signed in from; empty for sessions from before they were kept.
	UserAgent string
	IPAddress string
}

// ForAdmin lists an admin's live sessions, most recently used first.
func (s *Store) ForAdmin(ctx context.Context, adminID int64) ([]Info, error) {
	var rows []row
	err := s.db.WithContext(ctx).Where("admin_id = ? AND expires_at > ? AND data <> ?", adminID, s.now(), retiredMarker).
		Order("updated_at DESC").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("sessions: unable to list the admin's sessions: %w", err)
	}
	out := make([]Info, len(rows))
	for i, r := range rows {
		out[i] = Info{ID: r.ID, ProgramID: r.ProgramID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, UserAgent: r.UserAgent, IPAddress: r.IPAddress}
	}
	return out, nil
}

// DeleteOthers ends every session of the admin except keepID and returns
// how many ended.
func (s *Store) DeleteOthers(ctx context.Context, adminID int64, keepID string) (int64, error) {
	res := s.db.WithContext(ctx).Where("admin_id = ? AND id <> ?", adminID, keepID).Delete(&row{})
	if res.Error != nil {
		return 0, fmt.Errorf("sessions: unable to end the admin's other sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}
