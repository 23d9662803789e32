package models_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"keydesk/models"
	"keydesk/models/modeltest"
)

func TestMembersCreateGetAndIsolation(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStore(t, db)
		demo := newAPIKeyFixture(t, store, "Demo").program
		other := newAPIKeyFixture(t, store, "Other").program

		m, err := store.CreateMember(demo.ID, models.MemberInput{MemberID: " ana@example.com ", Email: "ana@example.com", FirstName: " Ana ", LastName: "Silva"})
		if err != nil {
			t.Fatal(err)
		}
		if m.MemberID != "ana@example.com" || m.FirstName != "Ana" || m.ProgramID != demo.ID {
			t.Fatalf("created %+v", m)
		}
		got, err := store.MemberByMemberID(demo.ID, "ana@example.com")
		if err != nil || got.Email != "ana@example.com" || got.LastName != "Silva" {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := store.CreateMember(demo.ID, models.MemberInput{MemberID: "ana@example.com", Email: "other@example.com"}); !errors.Is(err, models.ErrMemberExists) {
			t.Fatalf("duplicate member_id: %v", err)
		}
		// Another program neither sees the member nor collides with its id.
		if _, err := store.MemberByMemberID(other.ID, "ana@example.com"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("other program sees the member: %v", err)
		}
		if _, err := store.CreateMember(other.ID, models.MemberInput{MemberID: "ana@example.com", Email: "ana@example.com"}); err != nil {
			t.Fatalf("same member_id in another program: %v", err)
		}
	})
}

func TestMemberValidation(t *testing.T) {
	cases := []struct {
		in    models.MemberInput
		field string
	}{
		{models.MemberInput{Email: "a@b.co"}, "member_id"},
		{models.MemberInput{MemberID: "has space", Email: "a@b.co"}, "member_id"},
		{models.MemberInput{MemberID: "a/b", Email: "a@b.co"}, "member_id"},
		{models.MemberInput{MemberID: strings.Repeat("x", 65), Email: "a@b.co"}, "member_id"},
		{models.MemberInput{MemberID: "m1"}, "email"},
		{models.MemberInput{MemberID: "m1", Email: "nope"}, "email"},
		{models.MemberInput{MemberID: "m1", Email: "Ana <a@b.co>"}, "email"},
		{models.MemberInput{MemberID: "m1", Email: "a@localhost"}, "email"},
		{models.MemberInput{MemberID: "m1", Email: "a@b.co", FirstName: strings.Repeat("é", 101)}, "first_name"},
		{models.MemberInput{MemberID: "m1", Email: "a@b.co", LastName: "x\u202ey"}, "last_name"},
		{models.MemberInput{MemberID: "m1", Email: "a@b.co", LastName: "two\nlines"}, "last_name"},
	}
	for _, c := range cases {
		err := c.in.Validate()
		var verr models.ValidationError
		if !errors.As(err, &verr) || verr[c.field] == "" || len(verr) != 1 {
			t.Errorf("%+v: err = %v, want only %s", c.in, err, c.field)
		}
	}
	ok := models.MemberInput{MemberID: "user+1@shop.example:42", Email: "user+1@shop.example", FirstName: strings.Repeat("é", 100)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid input refused: %v", err)
	}
}

func TestListMembersPaginates(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStore(t, db)
		demo := newAPIKeyFixture(t, store, "Demo").program
		other := newAPIKeyFixture(t, store, "Other").program
		for i := range 7 {
			if _, err := store.CreateMember(demo.ID, models.MemberInput{MemberID: fmt.Sprintf("m%d", i), Email: fmt.Sprintf("m%d@example.com", i)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := store.CreateMember(other.ID, models.MemberInput{MemberID: "foreign", Email: "f@example.com"}); err != nil {
			t.Fatal(err)
		}
		var seen []string
		cursor := ""
		pages := 0
		for {
			page, err := store.ListMembers(demo.ID, cursor, 3)
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
		page, err := store.ListMembers(demo.ID, "", 7)
		if err != nil || len(page.Members) != 7 || page.Next != "" {
			t.Fatalf("full page: %d members, next %q, %v", len(page.Members), page.Next, err)
		}
		for _, bad := range []string{"!!", "bTow", "eDox", "bTotMQ"} {
			if _, err := store.ListMembers(demo.ID, bad, 3); !errors.Is(err, models.ErrInvalidCursor) {
				t.Errorf("cursor %q: %v", bad, err)
			}
		}
		if _, err := store.ListMembers(demo.ID, "", models.MaxMembersPage+1); err == nil {
			t.Fatal("page size above the maximum accepted")
		}
	})
}
