package keys_test

import (
	"errors"
	"testing"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// A program's name follows the one character rule (input.CharacterRule),
// as `keydesk programs create --name` passes it.
func TestCreateProgramRefusesRefusedCharacters(t *testing.T) {
	store := modeltest.NewStores(t, modeltest.SQLite(t))
	for _, name := range []string{"Acme\u200bRewards", "Acme\tRewards", "Acme\u00adRewards", "Acme\u2028Rewards", "Acme\ufffe", "\ue000Acme"} {
		if _, err := store.Keys.CreateProgram(t.Context(), audit.Actor{}, name); !errors.Is(err, accounts.ErrInvalidProgramName) {
			t.Errorf("CreateProgram(%q) = %v, want ErrInvalidProgramName", name, err)
		}
	}
	p, err := store.Keys.CreateProgram(t.Context(), audit.Actor{}, "  Café Ñandú 🎁 会员  ")
	if err != nil || p.Name != "Café Ñandú 🎁 会员" {
		t.Fatalf("ordinary name: %+v, %v", p, err)
	}
}
