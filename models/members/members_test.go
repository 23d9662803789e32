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
)

func TestMembersCreateGetAndIsolation(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		demo := newProgram(t, store, "Demo")
		other := newProgram(t, store, "Other")

		m, err := store.Members.Create(t.Context(), demo.ID, members.MemberInput{MemberID: " ana@example.com ", Email: "ana@example.com", FirstName: " Ana ", LastName: "Silva"})
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
		if _, err := store.Members.Create(t.Context(), demo.ID, members.MemberInput{MemberID: "ana@example.com", Email: "other@example.com"}); !errors.Is(err, members.ErrMemberExists) {
			t.Fatalf("duplicate member_id: %v", err)
		}
		// Another program neither sees the member nor collides with its id.
		if _, err := store.Members.ByMemberID(t.Context(), other.ID, "ana@example.com"); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("other program sees the member: %v", err)
		}
		if _, err := store.Members.Create(t.Context(), other.ID, members.MemberInput{MemberID: "ana@example.com", Email: "ana@example.com"}); err != nil {
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
			if _, err := store.Members.Create(t.Context(), demo.ID, members.MemberInput{MemberID: fmt.Sprintf("m%d", i), Email: fmt.Sprintf("m%d@example.com", i)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := store.Members.Create(t.Context(), other.ID, members.MemberInput{MemberID: "foreign", Email: "f@example.com"}); err != nil {
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
