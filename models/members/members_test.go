package members_test

import (
	"errors"
	"fmt"
	"keydesk/models/accounts"
	"keydesk/models/audit"
	"strings"
	"testing"

	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/members"
	"keydesk/models/modeltest"

	"gorm.io/gorm"
)

func TestMembersCreateGetAndIsolation(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		demo := newProgram(t, store, "Demo")
		other := newProgram(t, store, "Other")

		m, err := store.Members.Create(t.Context(), demo.ID, audit.Actor{}, members.MemberInput{MemberID: " ana@example.com ", Email: "ana@example.com", FirstName: " Ana ", LastName: "Silva"})
		if err != nil {
			t.Fatal(err)
		}
		if m.MemberID != "ana@example.com" || m.FirstName != "Ana" || m.ProgramID != demo.ID {
			t.Fatalf("created %+v", m)
		}
		got, err := store.Members.ByMemberID(t.Context(), demo.ID, "ana@example.com")
		if err != nil || got.Email != "ana@example.com" || got.LastName != "Silva" {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := store.Members.Create(t.Context(), demo.ID, audit.Actor{}, members.MemberInput{MemberID: "ana@example.com", Email: "other@example.com"}); !errors.Is(err, members.ErrMemberExists) {
			t.Fatalf("duplicate member_id: %v", err)
		}
		// Another program neither sees the member nor collides with its id.
		if _, err := store.Members.ByMemberID(t.Context(), other.ID, "ana@example.com"); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("other program sees the member: %v", err)
		}
		if _, err := store.Members.Create(t.Context(), other.ID, audit.Actor{}, members.MemberInput{MemberID: "ana@example.com", Email: "ana@example.com"}); err != nil {
			t.Fatalf("same member_id in another program: %v", err)
		}
	})
}

func TestMemberValidation(t *testing.T) {
	cases := []struct {
		in    members.MemberInput
		field string
	}{
		{members.MemberInput{Email: "a@b.co"}, "member_id"},
		{members.MemberInput{MemberID: "has space", Email: "a@b.co"}, "member_id"},
		{members.MemberInput{MemberID: "a/b", Email: "a@b.co"}, "member_id"},
		{members.MemberInput{MemberID: strings.Repeat("x", 65), Email: "a@b.co"}, "member_id"},
		{members.MemberInput{MemberID: "m1"}, "email"},
		{members.MemberInput{MemberID: "m1", Email: "nope"}, "email"},
		{members.MemberInput{MemberID: "m1", Email: "Ana <a@b.co>"}, "email"},
		{members.MemberInput{MemberID: "m1", Email: "a@localhost"}, "email"},
		{members.MemberInput{MemberID: "m1", Email: "a@b.co", FirstName: strings.Repeat("é", 101)}, "first_name"},
		{members.MemberInput{MemberID: "m1", Email: "a@b.co", LastName: "x\u202ey"}, "last_name"},
		{members.MemberInput{MemberID: "m1", Email: "a@b.co", LastName: "two\nlines"}, "last_name"},
	}
	for _, c := range cases {
		err := c.in.Validate()
		var verr input.ValidationError
		if !errors.As(err, &verr) || verr[c.field] == "" || len(verr) != 1 {
			t.Errorf("%+v: err = %v, want only %s", c.in, err, c.field)
		}
	}
	ok := members.MemberInput{MemberID: "user+1@shop.example:42", Email: "user+1@shop.example", FirstName: strings.Repeat("é", 100)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid input refused: %v", err)
	}
}

func TestListMembersPaginates(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		demo := newProgram(t, store, "Demo")
		other := newProgram(t, store, "Other")
		for i := range 7 {
			if _, err := store.Members.Create(t.Context(), demo.ID, audit.Actor{}, members.MemberInput{MemberID: fmt.Sprintf("m%d", i), Email: fmt.Sprintf("m%d@example.com", i)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := store.Members.Create(t.Context(), other.ID, audit.Actor{}, members.MemberInput{MemberID: "foreign", Email: "f@example.com"}); err != nil {
			t.Fatal(err)
		}
		var seen []string
		cursor := ""
		pages := 0
		for {
			page, err := store.Members.List(t.Context(), demo.ID, cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, m := range page.Members {
				seen = append(seen, m.MemberID)
			}
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		if got := strings.Join(seen, ","); got != "m0,m1,m2,m3,m4,m5,m6" || pages != 3 {
			t.Fatalf("pages = %d, members = %s", pages, got)
		}
		// An exact multiple of the page size ends without an empty page.
		page, err := store.Members.List(t.Context(), demo.ID, "", 7)
		if err != nil || len(page.Members) != 7 || page.Next != "" {
			t.Fatalf("full page: %d members, next %q, %v", len(page.Members), page.Next, err)
		}
		for _, bad := range []string{"!!", "bTow", "eDox", "bTotMQ"} {
			if _, err := store.Members.List(t.Context(), demo.ID, bad, 3); !errors.Is(err, members.ErrInvalidCursor) {
				t.Errorf("cursor %q: %v", bad, err)
			}
		}
		if _, err := store.Members.List(t.Context(), demo.ID, "", members.MaxPageSize+1); err == nil {
			t.Fatal("page size above the maximum accepted")
		}
	})
}

func newProgram(t *testing.T, store *modeltest.Stores, name string) *accounts.Program {
	t.Helper()
	p, err := store.Keys.CreateProgram(t.Context(), audit.Actor{}, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A member and its member.created event commit together: the event names
// the actor and the member_id only; a failed append leaves no member, a
// refused member leaves no event.
func TestMemberCreationIsAuditedAtomically(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		demo := newProgram(t, store, "Demo")
		actor := audit.Actor{Email: audit.APIKeyActorName("kdi_AAAAAAAAAAAAAAAA"), IP: "192.0.2.7", RequestID: "req-1"}

		if _, err := store.Members.Create(t.Context(), demo.ID, actor, members.MemberInput{MemberID: "ana-1", Email: "ana@example.com", FirstName: "Ana"}); err != nil {
			t.Fatal(err)
		}
		var e audit.Event
		if err := store.DB.Where("program_id = ?", demo.ID).Order("seq DESC").Take(&e).Error; err != nil {
			t.Fatal(err)
		}
		if e.Action != audit.ActionMemberCreated || e.TargetType != audit.TargetMember || e.TargetID != "ana-1" || e.ActorEmail != "api_key:kdi_AAAAAAAAAAAAAAAA" || e.IP != "192.0.2.7" || e.RequestID != "req-1" {
			t.Fatalf("event %+v", e)
		}
		if id, ok := e.ActorAPIKey(); !ok || id != "kdi_AAAAAAAAAAAAAAAA" {
			t.Fatalf("ActorAPIKey() = %q, %v", id, ok)
		}
		if strings.Contains(e.TargetName+e.Details, "ana@example.com") || strings.Contains(e.TargetName+e.Details, "Ana") {
			t.Fatalf("the member's personal data is in the trail: %+v", e)
		}
		countEvents := func() int64 {
			var n int64
			if err := store.DB.Model(&audit.Event{}).Where("program_id = ?", demo.ID).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		events := countEvents()
		if _, err := store.Members.Create(t.Context(), demo.ID, actor, members.MemberInput{MemberID: "ana-1", Email: "ana@example.com"}); !errors.Is(err, members.ErrMemberExists) {
			t.Fatalf("duplicate: %v", err)
		}
		if n := countEvents(); n != events {
			t.Fatalf("a refused member left %d events", n-events)
		}

		// Make the audit append fail: the member must not be created.
		failAppend := errors.New("audit store unavailable")
		if err := store.DB.Callback().Create().Before("gorm:create").Register("test:fail_audit", func(tx *gorm.DB) {
			if tx.Statement.Table == "audit_events" {
				_ = tx.AddError(failAppend)
			}
		}); err != nil {
			t.Fatal(err)
		}
		_, err := store.Members.Create(t.Context(), demo.ID, actor, members.MemberInput{MemberID: "bo-2", Email: "bo@example.com"})
		if !errors.Is(err, failAppend) {
			t.Fatalf("create with a failing audit append: %v", err)
		}
		if err := store.DB.Callback().Create().Remove("test:fail_audit"); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Members.ByMemberID(t.Context(), demo.ID, "bo-2"); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("member created without its audit event: %v", err)
		}
	})
}
