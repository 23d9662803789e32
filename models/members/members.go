// Package members holds a program's loyalty members, the records the REST
// and UI API read and create.
package members

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Limits of a loyalty member's fields and of a page of members.
const (
	MaxMemberIDLength   = 64
	MaxEmailLength      = 254
	MaxMemberNameLength = 100
	DefaultPageSize     = 25
	MaxPageSize         = 100
)

// Errors of member actions.
var (
	ErrMemberExists  = errors.New("a member with this member_id already exists in the program")
	ErrInvalidCursor = errors.New("invalid cursor")
)

// Member is one loyalty member of a program, as integrations create it
// through the API. MemberID is the integrator's own id, unique per program.
type Member struct {
	ID        int64
	ProgramID int64
	MemberID  string
	Email     string
	FirstName string
	LastName  string
	CreatedAt time.Time
}

// TableName pins the table.
func (Member) TableName() string { return "members" }

// MemberInput is what an integration sends to create a member.
type MemberInput struct {
	MemberID  string
	Email     string
	FirstName string
	LastName  string
}

// ValidMemberID reports whether s can be a member id: 1 to 64 characters of
// letters, digits and . _ - @ + : (so ids such as e-mail addresses work, and
// every id is safe in a URL path).
func ValidMemberID(s string) bool {
	if s == "" || len(s) > MaxMemberIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c == '.', c == '_', c == '-', c == '@', c == '+', c == ':':
		default:
			return false
		}
	}
	return true
}

// Validate trims the input and reports, per field, what is wrong with it.
func (in *MemberInput) Validate() error {
	errs := input.ValidationError{}
	in.MemberID = strings.TrimSpace(in.MemberID)
	switch {
	case in.MemberID == "":
		errs["member_id"] = "member_id is required."
	case !ValidMemberID(in.MemberID):
		errs["member_id"] = fmt.Sprintf("member_id must be 1 to %d letters, digits or . _ - @ + :", MaxMemberIDLength)
	}
	in.Email = strings.TrimSpace(in.Email)
	switch {
	case in.Email == "":
		errs["email"] = "email is required."
	case len(in.Email) > MaxEmailLength || !validMemberEmail(in.Email):
		errs["email"] = "email must be a valid e-mail address."
	}
	for field, value := range map[string]*string{"first_name": &in.FirstName, "last_name": &in.LastName} {
		clean, problem := input.Line(field, *value)
		switch {
		case problem != "":
			errs[field] = problem
		case utf8.RuneCountInString(clean) > MaxMemberNameLength:
			errs[field] = fmt.Sprintf("%s must be at most %d characters.", field, MaxMemberNameLength)
		}
		*value = clean
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// validMemberEmail accepts a bare address (no display name, no angle
// brackets) with a dotted domain.
func validMemberEmail(s string) bool {
	addr, err := mail.ParseAddress(s)
	return err == nil && addr.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".")
}

// Create adds a member to the program and records member.created in the
// program's audit trail in the same transaction, with actor as who did it
// (for the API: audit.APIKeyActorName of the calling key). A member_id the
// program already has is ErrMemberExists, and leaves no event.
func (s *Store) Create(ctx context.Context, programID int64, actor audit.Actor, in MemberInput) (*Member, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	m := &Member{
		ProgramID: programID,
		MemberID:  in.MemberID,
		Email:     in.Email,
		FirstName: in.FirstName,
		LastName:  in.LastName,
		CreatedAt: s.now(),
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(m).Error; err != nil {
			if database.IsUniqueViolation(err) {
				return ErrMemberExists
			}
			return fmt.Errorf("members: unable to create member: %w", err)
		}
		// The target is the integrator's member_id; the member's e-mail and
		// name stay out of the trail.
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionMemberCreated, TargetType: audit.TargetMember, TargetID: m.MemberID,
		})
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ByMemberID loads a member through its program: another program's
// member is database.ErrNotFound.
func (s *Store) ByMemberID(ctx context.Context, programID int64, memberID string) (*Member, error) {
	if !ValidMemberID(memberID) {
		return nil, database.ErrNotFound
	}
	var m Member
	err := s.db.WithContext(ctx).Where("program_id = ? AND member_id = ?", programID, memberID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, database.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("members: unable to load member: %w", err)
	}
	return &m, nil
}

// Page is one page of a program's members, oldest first. Next is
// the cursor of the following page, empty on the last page.
type Page struct {
	Members []Member
	Next    string
}

// List returns up to limit members created after the cursor (keyset
// pagination on the row id: pages stay stable while members are added).
// An empty cursor starts at the beginning.
func (s *Store) List(ctx context.Context, programID int64, cursor string, limit int) (*Page, error) {
	if limit < 1 || limit > MaxPageSize {
		return nil, fmt.Errorf("members: page size %d is outside 1..%d", limit, MaxPageSize)
	}
	var after int64
	if cursor != "" {
		var err error
		if after, err = decodeCursor(cursor); err != nil {
			return nil, err
		}
	}
	var members []Member
	err := s.db.WithContext(ctx).Where("program_id = ? AND id > ?", programID, after).Order("id").Limit(limit + 1).Find(&members).Error
	if err != nil {
		return nil, fmt.Errorf("members: unable to list members: %w", err)
	}
	page := &Page{Members: members}
	if len(members) > limit {
		page.Members = members[:limit]
		page.Next = encodeCursor(page.Members[limit-1].ID)
	}
	return page, nil
}

// Cursors are opaque to clients: base64url of "m:<row id>".
func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("m:" + strconv.FormatInt(id, 10)))
}

func decodeCursor(cursor string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !strings.HasPrefix(string(raw), "m:") {
		return 0, ErrInvalidCursor
	}
	id, err := strconv.ParseInt(string(raw[2:]), 10, 64)
	if err != nil || id < 1 {
		return 0, ErrInvalidCursor
	}
	return id, nil
}

// Store reads and creates loyalty members; creations are audited.
type Store struct {
	db    *gorm.DB
	audit *audit.Store
	now   database.Clock
}

// NewStore builds the members store.
func NewStore(db *gorm.DB, auditStore *audit.Store, now database.Clock) *Store {
	return &Store{db: db, audit: auditStore, now: now}
}
